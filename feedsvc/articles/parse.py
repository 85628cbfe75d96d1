"""Splitting an article's text into a Source: the seed layout (a ``# Title`` line, the body,
metadata lines at the foot) and YAML front matter; the slug from the file's path."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from feedsvc.articles.fields import check_fields, too_long
from feedsvc.articles.frontmatter import load_front_matter
from feedsvc.errors import ArticleError
from feedsvc.model import NO_KEY, FileKey, Source

# A body is held to this, so that rendering and publishing it stay bounded (a feed reader
# takes no multi-megabyte entry, and libxml2 no text node over 10 MB).
MAX_BODY_CHARS = 500_000
SETEXT_UNDERLINE = re.compile(r"=+\s*")
OPEN_FENCE = re.compile(r"---[ \t]*(?:\n|$)")
CLOSE_FENCE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
FIRST_LINE = re.compile(r"^[ \t]*(\S[^\n]*)$", re.MULTILINE)
NEXT_LINE = re.compile(r"([^\n]*)")
SLUG_SAFE = re.compile(r"[a-z0-9_]+(?:-[a-z0-9_]+)*")
KEY_SEPARATORS = re.compile(r"[\s-]+")
RULE = re.compile(r"(?:-{3,}|\*{3,}|_{3,})\s*")
META_LINE = re.compile(
    r"\s*(?:\*\*|__|\*|_)?([A-Za-z][\w -]{0,40}?)(?:\*\*|__|\*|_)?\s*:\s*(?:\*\*|__|\*|_)?(.*)"
)
# Names a metadata line or front matter key may go by, mapped to the field they fill.
FIELD_NAMES = {
    "title": "title",
    "meta_description": "summary",
    "description": "summary",
    "summary": "summary",
    "published": "published",
    "date": "published",
    "pubdate": "published",
    "publish_date": "published",
    "published_on": "published",
    "updated": "updated",
    "modified": "updated",
    "lastmod": "updated",
    "last_updated": "updated",
    "tags": "tags",
    "keywords": "tags",
    "categories": "tags",
    "author": "author",
    "authors": "author",
    "by": "author",
    "id": "entry_id",
    "link": "link",
    "url": "link",
    "canonical": "link",
    "draft": "draft",
    "minor_edit": "minor_edit",
    "slug": "slug",
}
# Metadata lines at the foot of an article only count under these names: a body's last line
# that merely has a colon ("Note: ...", "Minor edit: a typo fixed") must stay in the body.
FOOT_FIELDS = frozenset(FIELD_NAMES) - {
    "title",
    "url",
    "link",
    "slug",
    "id",
    "by",
    "summary",
    "minor_edit",
}


def slug_for(path: Path, root: Path) -> str:
    """A URL-safe slug from the file's path below ``root``, without its extension."""
    full, base = os.fspath(path), os.fspath(root).rstrip(os.sep) + os.sep
    relative = full[len(base) :] if full.startswith(base) else os.path.relpath(full, base)
    stem = os.path.splitext(relative)[0]
    if SLUG_SAFE.fullmatch(stem):
        return stem
    return "/".join(_slugify(part) for part in stem.split(os.sep))


def _slugify(text: str) -> str:
    if SLUG_SAFE.fullmatch(text):
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-")
    return slug or quote(text.lower(), safe="")


def parse_source(
    text: str,
    path: Path,
    root: Path,
    warnings: tuple[str, ...] = (),
    *,
    key: FileKey = NO_KEY,
    digest: bytes = b"",
) -> Source:
    """Split an article's text into front matter, title, body and foot metadata.

    Works on offsets into the text, touching only its first and last lines: the body is
    sliced out once, never split into lines.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    fields: dict[str, Any] = {}
    field_lines: dict[str, int] = {}
    start = _front_matter(text, path, fields, field_lines)
    end = _foot_metadata(text, start, fields, field_lines)
    title, title_line, body_start = _heading(text, start, end)
    if fields.get("title") is None or (title is not None and title == fields.get("title")):
        fields["title"], field_lines["title"] = title, title_line
        start = body_start
    body = text[start:end].strip("\n")
    if len(body) > MAX_BODY_CHARS:
        raise ArticleError(path, too_long("the body", len(body), MAX_BODY_CHARS))
    checked = check_fields(path, fields, field_lines)
    return Source(
        path=path,
        slug=checked.get("slug") or slug_for(path, root),
        title=checked.get("title"),
        title_line=field_lines.get("title", 1),
        body=body,
        published=checked.get("published"),
        published_line=field_lines.get("published"),
        updated=checked.get("updated"),
        updated_line=field_lines.get("updated"),
        summary=checked.get("summary"),
        tags=checked.get("tags", ()),
        author=checked.get("author"),
        entry_id=checked.get("entry_id"),
        link=checked.get("link"),
        draft=checked.get("draft", False),
        minor_edit=checked.get("minor_edit", False),
        warnings=warnings,
        key=key,
        digest=digest,
    )


def _line_number(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _front_matter(
    text: str, path: Path, fields: dict[str, Any], field_lines: dict[str, int]
) -> int:
    """Read YAML front matter into ``fields``; return the offset where the body starts."""
    first = OPEN_FENCE.match(text)
    if first is None:
        return 0
    closing = CLOSE_FENCE.search(text, first.end())
    if closing is None:
        raise ArticleError(path, "front matter has no closing '---' line", line=1)
    yaml_text = text[first.end() : closing.start()]
    data, key_lines = load_front_matter(yaml_text, path)
    for key, value in data.items():
        name = FIELD_NAMES.get(_field_key(str(key)))
        if name and value is not None and name not in fields:
            fields[name] = value
            field_lines[name] = key_lines.get(str(key), 2)
    return min(closing.end() + 1, len(text))


def _foot_metadata(
    text: str, start: int, fields: dict[str, Any], field_lines: dict[str, int]
) -> int:
    """Read the metadata lines at the foot (after a '---' rule); return where the body ends."""
    found: dict[str, tuple[str, int]] = {}
    end = position = len(text)
    stop = None
    while position > start:
        line_start = max(text.rfind("\n", start, position) + 1, start)
        line = text[line_start:position]
        position = line_start - 1
        if not line.strip():
            continue
        match = META_LINE.fullmatch(line) if ":" in line[:64] else None
        key = match and _field_key(match.group(1))
        if not match or key not in FOOT_FIELDS:
            stop = (line_start, line)
            break
        value = match.group(2).strip()
        if value.endswith(("**", "__")) and line.lstrip().startswith(("**", "__")):
            value = value[:-2].rstrip()
        found.setdefault(FIELD_NAMES[key], (value, line_start))
        end = line_start
    if not found:
        return len(text)
    if stop is not None and RULE.fullmatch(stop[1]):
        end = stop[0]
    last_line = text.count("\n", 0, end) + 1  # counted once; the foot itself is short
    for name, (value, offset) in found.items():
        if name not in fields and value:
            fields[name] = value
            field_lines[name] = last_line + text.count("\n", end, offset)
    return end


def _field_key(name: str) -> str:
    """A metadata name as FIELD_NAMES spells it: "Meta Description" -> "meta_description"."""
    return KEY_SEPARATORS.sub("_", name.strip().lower())


def _heading(text: str, start: int, end: int) -> tuple[str | None, int, int]:
    """The first line's level-1 heading: (title, its line number, offset after its line)."""
    first = FIRST_LINE.search(text, start, end)
    if first is None:
        return None, _line_number(text, start), start
    line = first.group(1).strip()
    line_number = _line_number(text, first.start(1))
    after = min(first.end() + 1, end)
    title = _atx_title(line)
    if title is not None:
        return title, line_number, after
    underline = NEXT_LINE.match(text, after, end)
    if underline and SETEXT_UNDERLINE.fullmatch(underline.group(1)):
        return line, line_number, min(underline.end() + 1, end)
    return None, line_number, start


def _atx_title(line: str) -> str | None:
    """The text of a level-1 ATX heading line (``# Title``, optionally closed by ``#``s),
    else None. ``line`` has no whitespace at either end. String methods, not a regex, so a
    line of any length costs time linear in it."""
    if len(line) < 2 or line[0] != "#" or not line[1].isspace():
        return None
    text = line[1:].lstrip()
    if text.endswith("#"):
        head = text.rstrip("#")
        if head[-1:].isspace() and head.strip():
            return head.rstrip()
    return text
