"""Writing feed files: all of a build's files together, atomically, and only when their bytes
changed."""

from __future__ import annotations

import fcntl
import gzip
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from feedsvc.errors import PublishError
from feedsvc.model import Manifest
from feedsvc.outputs.base import manifest_from_json

# The manifest of the last publish into the directory: what `feedsvc serve` serves. A dot
# file, so nginx (which serves only the feeds' locations) never shows it.
MANIFEST_NAME = ".feedsvc-manifest.json"
FILE_MODE = 0o644
TEMPORARY_SUFFIX = ".tmp"
# A build writes its files in well under a second: a lock held longer is a stuck process.
LOCK_TIMEOUT_S = 30.0


def publish_files(
    directory: Path,
    files: Sequence[tuple[str, bytes]],
    *,
    gzip_copies: bool = False,
    before_rename: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Make ``directory`` hold each (name, bytes) of ``files``; returns the names written.

    Every new version is written to a temporary file and fsynced before the first one is
    renamed over its old name, so a failure (a full disk, a kill) while writing leaves every
    old file as it was, and the renames that follow take microseconds. With ``gzip_copies``
    each file gets a ``.gz`` copy that is checked against it at every build, so a copy can
    never stay out of step with its feed; without, stale copies are removed. One build at a
    time writes (an advisory lock in the directory), and it first removes the temporaries
    that a killed build left behind. ``before_rename`` hears the names about to change once
    every new version is safely on disk and none is in place yet: what it records (pings to
    send) survives a kill at any moment after.
    """
    prepare_directory(directory)
    with _write_lock(directory):
        remove_leftovers(directory, [name for name, _ in files])
        wanted = [(directory / name, content) for name, content in files]
        changes = [(path, content) for path, content in wanted if _differs(path, content)]
        written = [path.name for path, _ in changes]
        copies = [(_copy_path(path), content) for path, content in wanted]
        if gzip_copies:
            stale = [  # a changed feed's copy is stale: no need to read it
                (copy, content)
                for copy, content in copies
                if copy.name[: -len(".gz")] in written or not _holds_gzip_of(copy, content)
            ]
            changes += [(copy, _gzip(content)) for copy, content in stale]
        _replace_all(changes, lambda: before_rename(written) if before_rename else None)
        if not gzip_copies:
            for copy, _content in copies:
                _remove(copy)
    return written


def read_manifest(directory: Path) -> Manifest | None:
    """The manifest of the last publish into ``directory``; None when there is none (an
    output written by an older feedsvc) or it cannot be read."""
    try:
        return manifest_from_json((directory / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError):
        return None


def read_published(path: Path) -> bytes | None:
    """The bytes published at ``path``, None when there is no such file."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PublishError(str(path), f"cannot read the published file ({exc.strerror})") from None


def prepare_directory(directory: Path) -> None:
    """Create the output directory if needed and make sure it can be written to."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(
            str(directory), f"cannot create the directory ({exc.strerror})"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PublishError(str(directory), "the directory is not writable")


def remove_leftovers(directory: Path, names: Sequence[str]) -> None:
    """Remove the temporary files a killed build left for any of ``names`` (or their copies)."""
    for name in names:
        for base in (name, name + ".gz"):
            for leftover in directory.glob(f".{base}.*{TEMPORARY_SUFFIX}"):
                _remove(leftover)


def _differs(path: Path, content: bytes) -> bool:
    return read_published(path) != content


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


def _copy_path(path: Path) -> Path:
    return path.with_name(path.name + ".gz")


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
    _sync_directory(changes[0][0].parent)


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


def _sync_directory(directory: Path) -> None:
    """Make the renames themselves durable."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    with suppress(OSError):
        os.fsync(descriptor)
    os.close(descriptor)
