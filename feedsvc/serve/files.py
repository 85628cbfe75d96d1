"""The served files' cache: each file's bytes, compressed variants and validators, in memory.

A file is read once per version and then answered from memory. One ``os.stat`` per request
notices a file that another process replaced (the build renames a finished file over the old
one), so the next request sees the new version whole, never a mix of the two.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import brotli

from feedsvc.model import FileKey, file_key

Header = tuple[bytes, bytes]
IDENTITY = "identity"
# Feeds change rarely but are compressed in the request path when they do: brotli's top
# quality costs ~30 ms per 24 KB here, quality 5 ~1.5 ms for 80% of its gain.
BROTLI_QUALITY = 5
SHORT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM}


@dataclass(frozen=True)
class Representation:
    """One content-coding of one version, with the response headers for 200 and 304."""

    body: bytes
    etag: bytes
    headers: tuple[Header, ...]
    not_modified_headers: tuple[Header, ...]


@dataclass(frozen=True)
class Version:
    """One version of a resource's bytes, in every content-coding served."""

    digest: str
    last_modified: int
    representations: dict[str, Representation]


def make_version(
    content: bytes,
    last_modified: int,
    headers: Sequence[Header],
    codings: Sequence[str] = ("br", "gzip"),
) -> Version:
    """Encode ``content`` and give each coding its own strong ETag (RFC 9110 8.8.3).

    ``headers`` are the ones every response for this resource carries (type, cache, links).
    A coding that does not make the body smaller is not offered.
    """
    digest = content_digest(content)
    bodies = {IDENTITY: content}
    for coding in codings:
        encoded = _encode(coding, content)
        if len(encoded) < len(content):
            bodies[coding] = encoded
    validators = (b"last-modified", formatdate(last_modified, usegmt=True).encode("ascii"))
    representations = {}
    for coding, body in bodies.items():
        etag = f'"{digest}"' if coding == IDENTITY else f'"{digest}-{coding}"'
        common = (*headers, (b"etag", etag.encode("ascii")))
        encoding = () if coding == IDENTITY else ((b"content-encoding", coding.encode("ascii")),)
        representations[coding] = Representation(
            body=body,
            etag=etag.encode("ascii"),
            headers=(
                *common,
                validators,
                *encoding,
                (b"content-length", str(len(body)).encode("ascii")),
            ),
            not_modified_headers=tuple(
                (name, value) for name, value in common if name != b"content-type"
            ),
        )
    return Version(digest, last_modified, representations)


def content_digest(content: bytes) -> str:
    """The hash an ETag is made from: 128 bits of SHA-256."""
    return hashlib.sha256(content).hexdigest()[:32]


def _encode(coding: str, content: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(content, compresslevel=9, mtime=0)
    if coding == "br":
        return brotli.compress(content, quality=BROTLI_QUALITY)
    raise ValueError(f"unknown content-coding {coding!r}")


class ServedFile:
    """A file below the output directory ``root``, reloaded whenever a stat shows a new version.

    A file that is missing, not a regular file, or a symlink resolving out of its own directory
    below the real ``root`` has no version: it is not served.
    """

    def __init__(self, path: Path, root: Path, headers: Sequence[Header]) -> None:
        self.path = str(path)
        # The real directory the file must resolve into: its own, below root's real path.
        self.home = os.path.normpath(
            os.path.join(os.path.realpath(root), os.path.relpath(os.path.dirname(path), root))
        )
        self.headers = tuple(headers)
        self._key: FileKey | None = None
        self._version: Version | None = None

    def current(self) -> Version | None:
        """The version on disk now; OSError when it cannot be read for want of descriptors or
        memory and none was read before."""
        try:
            st = os.stat(self.path)
        except OSError:
            self._key = self._version = None
            return None
        if file_key(st) != self._key:
            self._load()
        return self._version

    def _load(self) -> None:
        previous = self._version
        self._key = self._version = None
        if os.path.dirname(os.path.realpath(self.path)) != self.home:
            return
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return
                content = handle.read()
        except OSError as exc:
            if exc.errno not in SHORT_OF_RESOURCES:
                return
            # Out of descriptors or memory for a moment: not a reason to say 404. Serve what
            # was served (the next request tries again), or let the caller say 503.
            if previous is None:
                raise
            self._version = previous
            return
        self._key = file_key(st)
        if previous is not None and previous.digest == content_digest(content):
            self._version = previous
        else:
            self._version = make_version(content, int(st.st_mtime), self.headers)
