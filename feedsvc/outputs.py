"""Writing feed files: atomically, and only when their bytes changed."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

from feedsvc.errors import PublishError

FILE_MODE = 0o644


def write_if_changed(path: Path, content: bytes) -> bool:
    """Replace ``path`` with ``content`` atomically unless it already holds exactly that.

    Returns True when the file was written. A reader sees the old file or the new one,
    never a mix: the bytes go to a temporary file in the same directory, are flushed and
    fsynced, then renamed over the old name.
    """
    try:
        if path.read_bytes() == content:
            return False
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise PublishError(str(path), f"cannot read the published file ({exc.strerror})") from None
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise PublishError(str(path.parent), f"cannot write here ({exc.strerror})") from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise PublishError(str(path), f"cannot write the file ({exc.strerror})") from None
    _sync_directory(path.parent)
    return True


def write_gzip_copy(path: Path, content: bytes | None, *, refresh: bool) -> None:
    """Keep ``path``.gz in step with ``path``: gzip's bytes of ``content`` (no timestamp, so
    the same content gives the same bytes), or no copy at all when ``content`` is None.

    A web server sending precompressed files (nginx's gzip_static) would otherwise send a
    stale copy. ``refresh`` says the content changed; else an existing copy is kept as is.
    """
    copy = path.with_name(path.name + ".gz")
    if content is None:
        try:
            copy.unlink(missing_ok=True)
        except OSError as exc:
            raise PublishError(str(copy), f"cannot remove ({exc.strerror})") from None
    elif refresh or not copy.exists():
        write_if_changed(copy, gzip.compress(content, compresslevel=9, mtime=0))


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


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
