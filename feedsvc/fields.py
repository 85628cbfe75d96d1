"""An article's metadata values checked as the file is read, each refused by name.

Identity fields (id, link, slug) must be usable in a URI as they are: a character XML
forbids, a control, or whitespace other than a plain space is refused, never passed on.
Free text (title, summary, tags, author) is repaired later (``text.repair``); here it is
held to a length. Front matter can give any YAML value: only text-like scalars count.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from feedsvc.errors import ArticleError
from feedsvc.model import RawDate

MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 10_000
MAX_AUTHOR_CHARS = 500
MAX_TAGS = 100
MAX_TAG_CHARS = 100
MAX_URI_CHARS = 2_000
# What each field is called in a message.
LABELS = {
    "title": "title",
    "summary": "summary",
    "published": "publish date",
    "updated": "update date",
    "tags": "tags",
    "author": "author",
    "entry_id": "id",
    "link": "link",
    "draft": "draft flag",
    "slug": "slug",
}
TEXT_LIMITS = {"title": MAX_TITLE_CHARS, "summary": MAX_SUMMARY_CHARS}
# Formatting characters RFC 3987 forbids in an IRI (bidirectional controls), and the BOM.
BIDI_AND_BOM = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
SCALARS = (str, int, float, date)  # bool is an int


class Fields:
    """The fields an article's front matter, heading and foot gave, read out checked."""

    def __init__(self, path: Path, values: dict[str, Any], lines: dict[str, int]) -> None:
        self.path = path
        self.values = values
        self.lines = lines

    def text(self, name: str) -> str | None:
        """A free-text field as text, held to its length limit."""
        value = self._scalar(name, self.values.get(name))
        if value is not None and len(value) > TEXT_LIMITS[name]:
            self._refuse(name, too_long(f"the {LABELS[name]}", len(value), TEXT_LIMITS[name]))
        return value

    def identity(self, name: str) -> str | None:
        """An id, link or slug, refused if it holds what a URI (or XML) cannot carry.

        Surrounding whitespace is allowed where it is stripped later (id and link)."""
        value = self._scalar(name, self.values.get(name))
        if value is None:
            return None
        if len(value) > MAX_URI_CHARS:
            self._refuse(name, too_long(f"the {LABELS[name]}", len(value), MAX_URI_CHARS))
        checked = value if name == "slug" else value.strip()
        if not (checked.isascii() and checked.isprintable()):
            for char in checked:
                problem = _not_in_uri(char)
                if problem:
                    self._refuse(name, f"the {LABELS[name]} contains {problem} (U+{ord(char):04X})")
        return value

    def date(self, name: str) -> RawDate | None:
        """A date as YAML gave it (a date or a datetime) or as text."""
        value = self.values.get(name)
        if value is None or isinstance(value, date):
            return value
        return self._scalar(name, value, "a date")

    def tags(self) -> tuple[str, ...]:
        """The tags, a list or a comma-separated line, whitespace collapsed, each once."""
        value = self.values.get("tags")
        if value is None:
            return ()
        if isinstance(value, (list, tuple)):
            items = [self._scalar("tags", item, "text") for item in value]
        else:
            items = (self._scalar("tags", value) or "").split(",")
        seen: dict[str, None] = {}
        for item in items:
            tag = " ".join(item.split()) if item is not None else ""
            if len(tag) > MAX_TAG_CHARS:
                self._refuse("tags", too_long("a tag", len(tag), MAX_TAG_CHARS))
            if tag:
                seen.setdefault(tag, None)
        if len(seen) > MAX_TAGS:
            self._refuse("tags", f"too many tags ({len(seen):,}; at most {MAX_TAGS})")
        return tuple(seen)

    def author(self) -> str | None:
        """The author: a name, a list of names, or a mapping with a ``name``."""
        value = self.values.get("author")
        if isinstance(value, (list, tuple)):
            names = (self._scalar("author", item) for item in value if item)
            value = ", ".join(name for name in names if name)
        elif isinstance(value, dict):
            value = value.get("name")
        name = (self._scalar("author", value) or "").strip()
        if len(name) > MAX_AUTHOR_CHARS:
            self._refuse("author", too_long("the author", len(name), MAX_AUTHOR_CHARS))
        return name or None

    def flag(self, name: str) -> bool:
        """A yes/no field: true, yes, on or 1 (any case) is yes."""
        value = self.values.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "on", "1")
        if value is not None and not isinstance(value, SCALARS):
            self._refuse(name, f"the {LABELS[name]} must be true or false, not {_kind(value)}")
        return bool(value)

    def _scalar(self, name: str, value: Any, expected: str = "text") -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, SCALARS):
            return str(value)
        self._refuse(name, f"the {LABELS[name]} must be {expected}, not {_kind(value)}")

    def _refuse(self, name: str, message: str) -> NoReturn:
        raise ArticleError(self.path, message, line=self.lines.get(name))


def too_long(what: str, length: int, limit: int) -> str:
    """The message for a value over its limit."""
    return f"{what} is too long ({length:,} characters; at most {limit:,})"


def _not_in_uri(char: str) -> str | None:
    """What ``char`` is, if an id, link or slug may not hold it; None if it may."""
    if char.isprintable():
        return None
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "a surrogate"
    if category in ("Zs", "Zl", "Zp") and char != " ":
        return "whitespace"
    if (ord(char) & 0xFFFE) == 0xFFFE or 0xFDD0 <= ord(char) <= 0xFDEF:
        return "a noncharacter"
    if char in BIDI_AND_BOM:
        return "a formatting character"
    return None


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (set, frozenset)):
        return "a set"
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    return f"a {type(value).__name__}"
