"""Reading one article file safely: bounded, never blocking, never through a link that
leaves the articles directory, and decoded to text whatever its encoding."""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import stat
from pathlib import Path

from feedsvc.articles.parse import parse_source
from feedsvc.errors import ArticleError, display_path
from feedsvc.model import NO_KEY, Article, FileKey, Source, file_key

MAX_ARTICLE_BYTES = 16 * 2**20  # a larger file is a stray log or dump, not an article
CONTROL_BYTES = bytes([*range(0x09), *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def read_body(article: Article, root: Path) -> str:
    """The Markdown body of ``article``, read again from its file; raises ArticleError when
    the file no longer holds that version (it changed or went since the scan: the next build
    takes the new one)."""
    source = read_source(article.path, root)
    if source.digest != article.digest:
        message = "changed while the feeds were being built: the next build takes it"
        raise ArticleError(article.path, message)
    return source.body


def read_source(path: Path, root: Path) -> Source:
    """Read and split one article file; raises ArticleError naming the file and the problem.

    Every way a file reaches a build (the walk, the watcher's paths, a rescan) comes here, so
    this is where the symlink policy is held: a link that resolves outside ``root`` is refused.
    """
    full = os.fspath(path)
    if not full.isascii():
        try:
            full.encode("utf-8")
        except UnicodeEncodeError as exc:
            message = "the file name is not valid UTF-8"
            raise ArticleError(path, message, show_cause=False) from exc
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
        message = f"cannot read the file ({exc.strerror})"
        raise ArticleError(path, message, show_cause=False) from exc
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
        except UnicodeDecodeError as exc:
            message = "not a text file (broken UTF-16)"
            raise ArticleError(path, message, show_cause=False) from exc
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
    except UnicodeDecodeError as exc:
        if len(head) - len(head.translate(None, CONTROL_BYTES)) > len(head) // 10:
            message = "not a text file (binary data)"
            raise ArticleError(path, message, show_cause=False) from exc
        warning = f"{display_path(path)}: not valid UTF-8, read as Windows-1252"
        try:
            return data.decode("cp1252"), (warning,)
        except UnicodeDecodeError:
            return data.decode("latin-1"), (warning,)
