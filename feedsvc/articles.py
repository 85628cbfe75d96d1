"""Article files: which files are articles, and how one is split into a Source."""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from feedsvc.errors import ArticleError, display_path
from feedsvc.fields import check_fields, too_long
from feedsvc.frontmatter import load_front_matter
from feedsvc.model import NO_KEY, FileKey, Source, file_key

ARTICLE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})
MAX_ARTICLE_BYTES = 16 * 2**20  # a larger file is a stray log or dump, not an article
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
CONTROL_BYTES = bytes([*range(0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])
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
    return _is_article_name(path.name)


def is_article_path(path: Path, root: Path) -> bool:
    """True for an article file below ``root`` that no hidden directory holds."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    return is_article_file(path) and not any(part.startswith(".") for part in parts[:-1])


def find_article_files(root: Path) -> list[Path]:
    """Every article file under ``root``, recursively, in a stable order; hidden dirs skipped."""
    return [Path(name) for name in sorted(_walk(os.fspath(root)))]


def _walk(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if _is_article_name(name):
                yield os.path.join(dirpath, name)


def _is_article_name(name: str) -> bool:
    return (
        os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES
        and not name.startswith((".", "#", "~"))
        and not name.endswith(("~", "#"))
    )


class RootKey(NamedTuple):
    """Which directory the articles root names: its real path, device and inode."""

    real: str
    device: int
    inode: int


def root_key(root: Path) -> RootKey | None:
    """The directory ``root`` names now (through any symlinks), or None when it names none."""
    real = os.path.realpath(root)
    try:
        status = os.stat(real)
    except OSError:
        return None
    if not stat.S_ISDIR(status.st_mode):
        return None
    return RootKey(real, status.st_dev, status.st_ino)


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


def read_source(path: Path, root: Path) -> Source:
    """Read and split one article file; raises ArticleError naming the file and the problem.

    Every way a file reaches a build (the walk, the watcher's paths, a rescan) comes here, so
    this is where the symlink policy is held: a link that resolves outside ``root`` is refused.
    """
    full = os.fspath(path)
    if not full.isascii():
        try:
            full.encode("utf-8")
        except UnicodeEncodeError:
            raise ArticleError(path, "the file name is not valid UTF-8") from None
    checked = _plainly_below(full, os.fspath(root))
    if not checked:
        _refuse_links_outside(path, root)
    try:
        try:
            data, key = read_article_bytes(path, follow_link=not checked)
        except OSError as exc:
            if exc.errno != errno.ELOOP or not checked:
                raise
            _refuse_links_outside(path, root)  # the file itself is a link
            data, key = read_article_bytes(path)
    except OSError as exc:
        raise ArticleError(path, f"cannot read the file ({exc.strerror})") from None
    text, warnings = decode(data, path)
    return parse_source(text, path, root, warnings, key=key, digest=hashlib.sha256(data).digest())


def _plainly_below(full: str, root: str) -> bool:
    """True when ``full`` names a path below ``root`` through no linked directory: one lstat
    per directory between them (none for a file directly in ``root``)."""
    base = root.rstrip(os.sep) + os.sep
    if not full.startswith(base) or f"{os.sep}." in full[len(base) - 1 :]:
        return False
    separator = full.find(os.sep, len(base))
    while separator >= 0:
        if os.path.islink(full[:separator]):
            return False
        separator = full.find(os.sep, separator + 1)
    return True


def _refuse_links_outside(path: Path, root: Path) -> None:
    """Raise unless ``path`` resolves inside ``root``; before the file is opened, so that a
    link to a device or a secret elsewhere is never even read."""
    real_root = os.path.realpath(root)
    if os.path.commonpath([os.path.realpath(path), real_root]) != real_root:
        raise ArticleError(path, "links outside the articles directory")


def read_article_bytes(path: Path, *, follow_link: bool = True) -> tuple[bytes, FileKey]:
    """The whole file and the key of the version read, in one open, fstat and read: a large
    archive's cold build spends much of its time here, and this is ~40% cheaper than
    ``open().read()``. The key comes from the open file, so it names the bytes returned.
    Without ``follow_link``, a file that is a symlink raises OSError (ELOOP)."""
    # Non-blocking, so that a FIFO named like an article cannot hang the build.
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow_link else os.O_NOFOLLOW)
    descriptor = os.open(path, flags)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise ArticleError(path, "not a regular file")
        size = status.st_size
        key = file_key(status)
        if size > MAX_ARTICLE_BYTES:
            raise ArticleError(path, f"too large for an article ({size / 2**20:.0f} MiB)")
        data = os.read(descriptor, size + 1)
        if len(data) <= size:
            return data, key
        chunks, read = [data], len(data)  # the file grew while being read (or lied about its size)
        while read <= MAX_ARTICLE_BYTES and (chunk := os.read(descriptor, 65536)):
            chunks.append(chunk)
            read += len(chunk)
        if read > MAX_ARTICLE_BYTES:
            raise ArticleError(path, "too large for an article (it grew while being read)")
        return b"".join(chunks), NO_KEY  # grown: read it again next time
    finally:
        os.close(descriptor)


def decode(data: bytes, path: Path) -> tuple[str, tuple[str, ...]]:
    """Bytes to text: UTF-8 (BOM or not) or UTF-16 with a BOM, else Windows-1252 with a warning."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ArticleError(path, "not a text file (broken UTF-16)") from None
        if not text.strip():
            raise ArticleError(path, "empty file")
        return text, ()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if not data.strip():
        raise ArticleError(path, "empty file")
    head = data[:4096]
    if b"\x00" in head:
        raise ArticleError(path, "not a text file (binary data)")
    try:
        return data.decode("utf-8"), ()
    except UnicodeDecodeError:
        if len(head) - len(head.translate(None, CONTROL_BYTES)) > len(head) // 10:
            raise ArticleError(path, "not a text file (binary data)") from None
        warning = f"{display_path(path)}: not valid UTF-8, read as Windows-1252"
        try:
            return data.decode("cp1252"), (warning,)
        except UnicodeDecodeError:
            return data.decode("latin-1"), (warning,)


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
