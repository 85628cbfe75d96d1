"""The local output directory as a sink: all of a publish's files replaced together and
atomically, each only when its bytes changed, with optional ``.gz`` copies for nginx.

Whether a file changed is told by the digest the directory's index (the manifest, a dot
file nginx never serves) stored for it. A file whose size differs from the index, or that
was modified after the index was written, is read back instead: a hand edit is mended.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from feedsvc.errors import PublishError, display_path
from feedsvc.model import Artifact, Manifest
from feedsvc.outputs.base import (
    BeforeCommit,
    Put,
    check_path,
    document_to_json,
    manifest_from_dict,
    manifest_to_dict,
)

# The manifest of the files the directory holds: what `feedsvc serve` serves. A dot file, so
# nginx (which serves only the feeds' locations) never shows it.
MANIFEST_NAME = ".feedsvc-manifest.json"
FILE_MODE = 0o644
TEMPORARY_SUFFIX = ".tmp"
# A build writes its files in well under a second: a lock held longer is a stuck process.
LOCK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class _Index:
    """What the directory's manifest says it holds, and when that was written."""

    artifacts: dict[str, Artifact]
    copies: dict[str, tuple[str, int]]  # copy name -> (digest of what it holds, its size)
    written_ns: int  # the manifest's mtime: a file modified later is read back


class LocalDirSink:
    """A directory on this machine (see the module docstring)."""

    def __init__(self, directory: Path, *, gzip_copies: bool = False) -> None:
        self.directory = directory
        self.gzip_copies = gzip_copies

    def put(self, files: Sequence[Put], before_commit: BeforeCommit | None = None) -> list[str]:
        """Make the directory hold each of ``files``; returns the paths written.

        Every new version is written to a temporary file and fsynced before the first one is
        renamed over its old name, so a failure (a full disk, a kill) while writing leaves
        every old file as it was, and the renames that follow take microseconds. With
        ``gzip_copies`` each file has a ``.gz`` copy kept in step with it; without, stale
        copies are removed. One publish at a time writes (an advisory lock on the directory),
        and it first removes the temporaries a killed one left behind. ``before_commit``
        hears the paths about to change once every new version is safely on disk and none is
        in place yet.
        """
        prepare_directory(self.directory)
        for put in files:
            check_path(put.path)
            if "/" in put.path:
                prepare_directory(self.directory / put.path.rpartition("/")[0])
        with _write_lock(self.directory):
            remove_leftovers(self.directory, [MANIFEST_NAME, *(put.path for put in files)])
            index = _read_index(self.directory)
            changes = [put for put in files if not self._holds(index, put)]
            written = [put.path for put in changes]
            writes = [(self.directory / put.path, put.content) for put in changes]
            copies: dict[str, tuple[str, int]] = {}
            if self.gzip_copies:
                for put in files:
                    name = put.path + ".gz"
                    if put.path in written or not self._copy_holds(index, name, put):
                        content = _gzip(put.content)
                        writes.append((self.directory / name, content))
                        copies[name] = (put.digest, len(content))
                    else:
                        copies[name] = (put.digest, _size(self.directory / name))
            _replace_all(writes, lambda: before_commit(written) if before_commit else None)
            if not self.gzip_copies:
                for put in files:
                    _remove(self.directory / (put.path + ".gz"))
            artifacts = dict(index.artifacts)
            artifacts.update((put.path, put.artifact()) for put in files)
            if writes or artifacts != index.artifacts or copies != index.copies:
                _write_index(
                    self.directory, Manifest(tuple(artifacts.values()), tuple(written)), copies
                )
        return written

    def delete(self, paths: Sequence[str], generation: int = 0) -> list[str]:
        """Remove the files at ``paths`` (and their copies); returns those that existed."""
        del generation  # one publisher's own files: no newer view to keep
        with _write_lock(self.directory):
            index = _read_index(self.directory)
            removed = [path for path in paths if (self.directory / path).exists()]
            for path in paths:
                _remove(self.directory / path)
                _remove(self.directory / (path + ".gz"))
                _remove_empty_parents(self.directory, path)
            artifacts = {p: a for p, a in index.artifacts.items() if p not in paths}
            copies = {n: c for n, c in index.copies.items() if n[: -len(".gz")] not in paths}
            if artifacts != index.artifacts:
                _write_index(self.directory, Manifest(tuple(artifacts.values())), copies)
        return removed

    def list(self) -> Mapping[str, Artifact]:
        """The files the directory's manifest lists, by path, less those since removed or
        resized by hand, or whose gzip copy is (a stat each): a publish that trusts this
        listing to skip a file then makes it again."""
        index = _read_index(self.directory)
        return {
            path: artifact
            for path, artifact in index.artifacts.items()
            if _size(self.directory / path) == artifact.size
            and (not self.gzip_copies or self._copy_listed(index, path, artifact))
        }

    def read(self, path: str) -> bytes | None:
        """The bytes published at ``path``, None when there is no such file."""
        return read_published(self.directory / path)

    def locate(self, path: str) -> str:
        """The file's path, as messages show paths."""
        return display_path(self.directory / path)

    def finish(self) -> None:
        """Nothing to raise: every put and delete raises at once."""

    def _holds(self, index: _Index, put: Put) -> bool:
        """True when the file at ``put.path`` already holds ``put.content``."""
        known = index.artifacts.get(put.path)
        path = self.directory / put.path
        if known is not None and known.digest == put.digest:
            if _untouched(path, known.size, index.written_ns):
                return True
        return read_published(path) == put.content

    def _copy_listed(self, index: _Index, path: str, artifact: Artifact) -> bool:
        """True when the gzip copy of ``path`` is the one the index lists for this version,
        at its size."""
        known = index.copies.get(path + ".gz")
        if known is None or known[0] != artifact.digest:
            return False
        return _size(self.directory / (path + ".gz")) == known[1]

    def _copy_holds(self, index: _Index, name: str, put: Put) -> bool:
        """True when the copy ``name`` decompresses to ``put.content``."""
        known = index.copies.get(name)
        path = self.directory / name
        if known is not None and known[0] == put.digest:
            if _untouched(path, known[1], index.written_ns):
                return True
        return _holds_gzip_of(path, put.content)


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest of the files ``directory`` holds; None when there is none (an output
    written by an older feedsvc) or it cannot be read."""
    try:
        return manifest_from_dict(json.loads((directory / MANIFEST_NAME).read_bytes()))
    except (OSError, ValueError):
        return None


def _read_index(directory: Path) -> _Index:
    """The directory's index; an empty one when it has none or it is damaged (every file is
    then read back once)."""
    path = directory / MANIFEST_NAME
    try:
        written_ns = os.stat(path).st_mtime_ns
        document = json.loads(path.read_bytes())
        manifest = manifest_from_dict(document)
        copies = {
            str(name): (str(digest), int(size))
            for name, (digest, size) in dict(document.get("copies", {})).items()
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return _Index({}, {}, 0)
    return _Index({a.path: a for a in manifest.artifacts}, copies, written_ns)


def _write_index(
    directory: Path, manifest: Manifest, copies: Mapping[str, tuple[str, int]]
) -> None:
    """Replace the index atomically, after the files it lists are in place."""
    document = manifest_to_dict(manifest)
    document["copies"] = {name: list(copy) for name, copy in sorted(copies.items())}
    _replace_all([(directory / MANIFEST_NAME, document_to_json(document))], lambda: None)


def _untouched(path: Path, size: int, index_written_ns: int) -> bool:
    """True when ``path`` has ``size`` bytes and was last modified before the index was
    written (which is after the files it lists); within the same clock tick, it is read back."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    return status.st_size == size and status.st_mtime_ns < index_written_ns


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def read_published(path: Path) -> bytes | None:
    """The bytes published at ``path``, None when there is no such file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishError(str(path), f"cannot read the published file ({exc.strerror})") from exc


def prepare_directory(directory: Path) -> None:
    """Create the output directory if needed and make sure it can be written to."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(str(directory), f"cannot create the directory ({exc.strerror})") from exc
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PublishError(str(directory), "the directory is not writable")


def remove_leftovers(directory: Path, names: Sequence[str]) -> None:
    """Remove the temporary files a killed build left for any of ``names`` (or their copies)."""
    for name in names:
        path = directory / name
        for base in (path.name, path.name + ".gz"):
            for leftover in path.parent.glob(f".{base}.*{TEMPORARY_SUFFIX}"):
                _remove(leftover)


def _holds_gzip_of(copy: Path, content: bytes) -> bool:
    """True when ``copy`` decompresses to ``content`` (cheaper than compressing again)."""
    published = read_published(copy)
    if published is None:
        return False
    try:
        return gzip.decompress(published) == content
    except (OSError, EOFError):  # a truncated or foreign file: write a good one
        return False


def _gzip(content: bytes) -> bytes:
    """gzip's bytes of ``content`` without a timestamp, so the same content gives the same bytes
    (for nginx's gzip_static and its strong ETags)."""
    return gzip.compress(content, compresslevel=9, mtime=0)


def _replace_all(changes: Sequence[tuple[Path, bytes]], written: Callable[[], None]) -> None:
    """Write every change to a synced temporary first, call ``written``, then rename them
    all into place."""
    if not changes:
        return
    temporaries: list[tuple[Path, Path]] = []
    try:
        for path, content in changes:
            temporaries.append((_write_temporary(path, content), path))
        written()
        for temporary, path in temporaries:
            try:
                os.replace(temporary, path)
            except OSError as exc:
                raise PublishError(str(path), f"cannot replace the file ({exc.strerror})") from exc
    finally:
        for temporary, _path in temporaries:
            _remove(temporary)
    for directory in dict.fromkeys(path.parent for path, _ in changes):
        _sync_directory(directory)


def _write_temporary(path: Path, content: bytes) -> Path:
    try:
        descriptor, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=path.parent
        )
    except OSError as exc:
        raise PublishError(str(path.parent), f"cannot write here ({exc.strerror})") from exc
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
    except OSError as exc:
        _remove(temporary)
        raise PublishError(str(path), f"cannot write the file ({exc.strerror})") from exc
    return temporary


@contextmanager
def _write_lock(directory: Path) -> Iterator[None]:
    """Hold the directory's write lock (flock on the directory itself: no lock file to serve),
    so a CLI build and a daemon never interleave their files or remove each other's
    temporaries."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise PublishError(str(directory), f"cannot lock the directory ({exc.strerror})") from exc
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    # The last BlockingIOError says no more than this message does.
                    raise PublishError(
                        str(directory),
                        f"another build has held the directory for {LOCK_TIMEOUT_S:g} s",
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(descriptor)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise PublishError(str(path), f"cannot remove ({exc.strerror})") from exc


def _remove_empty_parents(directory: Path, path: str) -> None:
    """Remove the directories below ``directory`` that ``path`` was the last file of."""
    parent = (directory / path).parent
    while parent != directory and directory in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty (or not ours to remove): so are the ones above
            return
        parent = parent.parent


def _sync_directory(directory: Path) -> None:
    """Make the renames themselves durable."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    with suppress(OSError):
        os.fsync(descriptor)
    os.close(descriptor)
