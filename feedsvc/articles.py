"""Article files: which files are articles, and how one is split into a Source."""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from feedsvc.errors import ArticleError
from feedsvc.model import RawDate, Source

ARTICLE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})


class FrontMatterLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe YAML loader that leaves dates as text, for feedsvc's own date parsing."""


FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in FrontMatterLoader.yaml_implicit_resolvers.items()
}
HEADING = re.compile(r"#\s+(.+?)(?:\s+#+)?\s*")
SETEXT_UNDERLINE = re.compile(r"=+\s*")
RULE = re.compile(r"(?:-{3,}|\*{3,}|_{3,})\s*")
META_LINE = re.compile(
    r"\s*(?:\*\*|__|\*|_)?([A-Za-z][\w -]{0,40}?)(?:\*\*|__|\*|_)?\s*:\s*(?:\*\*|__|\*|_)?\s*(.*?)\s*"
)
CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
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
    "slug": "slug",
}
# Metadata lines at the foot of an article only count under these names: a body's last line
# that merely has a colon ("Note: ...") must stay in the body.
FOOT_FIELDS = frozenset(FIELD_NAMES) - {"title", "url", "link", "slug", "id", "by", "summary"}


def is_article_file(path: Path) -> bool:
    """True for a visible Markdown or text file that is not an editor's leftover."""
    name = path.name
    return (
        path.suffix.lower() in ARTICLE_SUFFIXES
        and not name.startswith((".", "#", "~"))
        and not name.endswith(("~", "#"))
    )


def find_article_files(root: Path) -> list[Path]:
    """Every article file under ``root``, recursively, in a stable order; hidden dirs skipped."""
    return sorted(_walk(root))


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for name in filenames:
            path = base / name
            if is_article_file(path):
                yield path


def slug_for(path: Path, root: Path) -> str:
    """A URL-safe slug from the file's path below ``root``, without its extension."""
    parts = path.relative_to(root).with_suffix("").parts
    return "/".join(_slugify(part) for part in parts)


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-")
    return slug or quote(text.lower(), safe="")


def read_source(path: Path, root: Path) -> Source:
    """Read and split one article file; raises ArticleError naming the file and the problem."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(path, f"cannot read the file ({exc.strerror})") from None
    text, warnings = decode(data, path)
    return parse_source(text, path, root, warnings)


def decode(data: bytes, path: Path) -> tuple[str, tuple[str, ...]]:
    """Bytes to text: UTF-8 (BOM or not) or UTF-16 with a BOM, else Windows-1252 with a warning."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), ()
        except UnicodeDecodeError:
            raise ArticleError(path, "not a text file (broken UTF-16)") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data.strip():
        raise ArticleError(path, "empty file")
    head = data[:4096]
    if b"\x00" in head or len(CONTROL_BYTES.findall(head)) > len(head) // 10:
        raise ArticleError(path, "not a text file (binary data)")
    try:
        return data.decode("utf-8"), ()
    except UnicodeDecodeError:
        warning = f"{path}: not valid UTF-8, read as Windows-1252"
        try:
            return data.decode("cp1252"), (warning,)
        except UnicodeDecodeError:
            return data.decode("latin-1"), (warning,)


def parse_source(text: str, path: Path, root: Path, warnings: tuple[str, ...] = ()) -> Source:
    """Split an article's text into front matter, title, body and foot metadata."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fields: dict[str, Any] = {}
    field_lines: dict[str, int] = {}
    start = _front_matter(lines, path, fields, field_lines)
    end = _foot_metadata(lines, start, fields, field_lines)
    title, title_line, body_start = _heading(lines, start, end)
    if fields.get("title") is None or (title is not None and title == fields.get("title")):
        fields["title"], field_lines["title"] = title, title_line
        start = body_start
    body = "\n".join(lines[start:end]).strip("\n")
    return Source(
        path=path,
        slug=_str(fields.get("slug"), path) or slug_for(path, root),
        title=_str(fields.get("title"), path),
        title_line=field_lines.get("title", 1),
        body=body,
        published=_raw_date(fields.get("published")),
        published_line=field_lines.get("published"),
        updated=_raw_date(fields.get("updated")),
        updated_line=field_lines.get("updated"),
        summary=_str(fields.get("summary"), path),
        tags=_tags(fields.get("tags")),
        author=_author(fields.get("author")),
        entry_id=_str(fields.get("entry_id"), path),
        link=_str(fields.get("link"), path),
        draft=_flag(fields.get("draft")),
        warnings=warnings,
    )


def _front_matter(
    lines: list[str], path: Path, fields: dict[str, Any], field_lines: dict[str, int]
) -> int:
    """Read YAML front matter into ``fields``; return the index of the first body line."""
    if not lines or lines[0].strip() != "---":
        return 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        raise ArticleError(path, "front matter has no closing '---' line", line=1)
    try:
        data = yaml.load("\n".join(lines[1:end]), Loader=FrontMatterLoader)  # noqa: S506 (safe)
    except (yaml.YAMLError, ValueError) as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 2 if mark is not None else 1
        raise ArticleError(path, f"invalid YAML front matter: {problem}", line=line) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ArticleError(path, "front matter is not a set of 'key: value' lines", line=2)
    for key, value in data.items():
        name = FIELD_NAMES.get(str(key).strip().lower().replace("-", "_"))
        if name and value is not None and name not in fields:
            fields[name] = value
            field_lines[name] = _key_line(lines, 1, end, str(key))
    return end + 1


def _key_line(lines: list[str], start: int, end: int, key: str) -> int:
    prefix = re.compile(rf"\s*['\"]?{re.escape(key)}['\"]?\s*:")
    for index in range(start, end):
        if prefix.match(lines[index]):
            return index + 1
    return start + 1


def _foot_metadata(
    lines: list[str], start: int, fields: dict[str, Any], field_lines: dict[str, int]
) -> int:
    """Read the metadata lines at the foot (after a '---' rule); return where the body ends."""
    found: dict[str, tuple[str, int]] = {}
    end = len(lines)
    index = len(lines) - 1
    while index >= start:
        line = lines[index]
        if line.strip():
            match = META_LINE.fullmatch(line)
            key = match and re.sub(r"[\s-]+", "_", match.group(1).strip().lower())
            if not match or key not in FOOT_FIELDS:
                break
            value = match.group(2)
            if value.endswith(("**", "__")) and line.lstrip().startswith(("**", "__")):
                value = value[:-2].rstrip()
            found.setdefault(FIELD_NAMES[key], (value, index + 1))
            end = index
        index -= 1
    if not found:
        return len(lines)
    if index >= start and RULE.fullmatch(lines[index]):
        end = index
    for name, (value, line_no) in found.items():
        if name not in fields and value:
            fields[name] = value
            field_lines[name] = line_no
    return end


def _heading(lines: list[str], start: int, end: int) -> tuple[str | None, int, int]:
    """The first line's level-1 heading: (title, its line number, index of the line after)."""
    for index in range(start, end):
        line = lines[index]
        if not line.strip():
            continue
        match = HEADING.fullmatch(line.strip())
        if match:
            return match.group(1), index + 1, index + 1
        if index + 1 < end and SETEXT_UNDERLINE.fullmatch(lines[index + 1]):
            return line.strip(), index + 1, index + 2
        return None, index + 1, start
    return None, start + 1, start


def _str(value: Any, path: Path) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ArticleError(path, f"expected text, not {type(value).__name__}: {value!r}")
    return str(value)


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    seen: dict[str, None] = {}
    for item in items:
        tag = " ".join(str(item).split())
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def _author(value: Any) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value if item)
    if isinstance(value, dict):
        value = value.get("name")
    return str(value).strip() or None if value is not None else None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1")
    return bool(value)


def _raw_date(value: Any) -> RawDate | None:
    """A date as YAML gave it (a date or a datetime) or as text."""
    if value is None or isinstance(value, date):
        return value
    return str(value)
