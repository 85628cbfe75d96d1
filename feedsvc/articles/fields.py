"""An article's metadata values checked as the file is read, each refused by name.

Identity fields (id, link, slug) must be usable in a URI as they are: a character XML
forbids, a control, or whitespace other than a plain space is refused, never passed on.
Free text (title, summary, tags, author) is repaired later (``text.repair``); here it is
held to a length. Front matter can give any YAML value: only text-like scalars count.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from feedsvc.errors import ArticleError, quote_value
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
    "minor_edit": "minor-edit flag",
    "slug": "slug",
}
TEXT_LIMITS = {"title": MAX_TITLE_CHARS, "summary": MAX_SUMMARY_CHARS}
# Formatting characters RFC 3987 forbids in an IRI (bidirectional controls), and the BOM.
BIDI_AND_BOM = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)
SCALARS = (str, int, float, date)  # bool is an int
YES = frozenset({"true", "yes", "on", "1"})
NO = frozenset({"false", "no", "off", "0"})


def check_fields(path: Path, values: dict[str, Any], lines: dict[str, int]) -> dict[str, Any]:
    """The fields present in ``values``, each checked and in the form a Source holds it;
    raises ArticleError naming the field and its line. Only the fields given are looked at:
    this runs once per article of a 10k archive."""
    checked = {}
    for name, value in values.items():
        if value is not None:
            try:
                checked[name] = CHECKS[name](name, value)
            except _Refused as refused:
                # _Refused only carries this message here: chained, it would be noise.
                raise ArticleError(path, str(refused), line=lines.get(name)) from None
    return checked


class _Refused(Exception):
    """A field's value refused; the message says why (the caller adds file and line)."""


def _text(name: str, value: Any) -> str:
    text = _scalar(name, value)
    if len(text) > TEXT_LIMITS[name]:
        raise _Refused(too_long(f"the {LABELS[name]}", len(text), TEXT_LIMITS[name]))
    return text


def _identity(name: str, value: Any) -> str:
    """An id, link or slug, refused if it holds what a URI (or XML) cannot carry.

    Surrounding whitespace is allowed where it is stripped later (id and link)."""
    text = _scalar(name, value)
    if len(text) > MAX_URI_CHARS:
        raise _Refused(too_long(f"the {LABELS[name]}", len(text), MAX_URI_CHARS))
    checked = text if name == "slug" else text.strip()
    if not (checked.isascii() and checked.isprintable()):
        for char in checked:
            problem = _not_in_uri(char)
            if problem:
                raise _Refused(f"the {LABELS[name]} contains {problem} (U+{ord(char):04X})")
    return text


def _date(name: str, value: Any) -> RawDate:
    """A date as YAML gave it (a date or a datetime) or as text."""
    return value if isinstance(value, date) else _scalar(name, value, "a date")


def _tags(name: str, value: Any) -> tuple[str, ...]:
    """The tags, a list or a comma-separated line, whitespace collapsed, each once."""
    if isinstance(value, (list, tuple)):
        items = [_scalar(name, item) for item in value if item is not None]
    else:
        items = _scalar(name, value).split(",")
    seen: dict[str, None] = {}
    for item in items:
        tag = " ".join(item.split())
        if len(tag) > MAX_TAG_CHARS:
            raise _Refused(too_long("a tag", len(tag), MAX_TAG_CHARS))
        if tag:
            seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise _Refused(f"too many tags ({len(seen):,}; at most {MAX_TAGS})")
    return tuple(seen)


def _author(name: str, value: Any) -> str | None:
    """The author: a name, a list of names, or a mapping with a ``name``."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(_scalar(name, item) for item in value if item)
    elif isinstance(value, dict):
        value = value.get("name", "")
    author = _scalar(name, "" if value is None else value).strip()
    if len(author) > MAX_AUTHOR_CHARS:
        raise _Refused(too_long("the author", len(author), MAX_AUTHOR_CHARS))
    return author or None


def _flag(name: str, value: Any) -> bool:
    """A yes/no field: true, yes, on or 1 (any case) is yes."""
    if isinstance(value, str):
        return value.strip().lower() in YES
    if not isinstance(value, SCALARS):
        raise _Refused(f"the {LABELS[name]} must be true or false, not {_kind(value)}")
    return bool(value)


def _boolean(name: str, value: Any) -> bool:
    """A strict yes/no field: true or false (yes/no, on/off, 1/0, in any case). Anything
    else is refused, not guessed: the answer decides whether readers see the edit."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)):
        word = str(value).strip().lower()
        if word in YES or word in NO:
            return word in YES
        raise _Refused(f"the {LABELS[name]} must be true or false, not {quote_value(str(value))}")
    raise _Refused(f"the {LABELS[name]} must be true or false, not {_kind(value)}")


def _scalar(name: str, value: Any, expected: str = "text") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, SCALARS):
        return str(value)
    raise _Refused(f"the {LABELS[name]} must be {expected}, not {_kind(value)}")


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "title": _text,
    "summary": _text,
    "published": _date,
    "updated": _date,
    "tags": _tags,
    "author": _author,
    "entry_id": _identity,
    "link": _identity,
    "slug": _identity,
    "draft": _flag,
    "minor_edit": _boolean,
}


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
