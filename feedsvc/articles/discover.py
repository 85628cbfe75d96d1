"""Which paths are article files, and which directory the articles root names.

The rule has two halves, each spelled once here: a file name is an article's (Markdown or
text, not hidden, not an editor's leftover), and nothing hidden (``.git``, ``.obsidian``)
is looked into. The build's walk, its check of a watcher's paths, and the watcher all ask
this module.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

ARTICLE_SUFFIXES = frozenset({".md", ".markdown", ".txt"})


def is_article_file(path: Path) -> bool:
    """True for a visible Markdown or text file that is not an editor's leftover."""
    return _is_article_name(path.name)


def is_visible(path: Path, root: Path) -> bool:
    """True for a path below ``root`` that neither is hidden nor lies in a hidden directory."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    return bool(parts) and not any(_is_hidden(part) for part in parts)


def is_article_path(path: Path, root: Path) -> bool:
    """True for an article file below ``root`` that no hidden directory holds."""
    return is_article_file(path) and is_visible(path, root)


def find_article_files(root: Path) -> list[Path]:
    """Every article file under ``root``, recursively, in a stable order; hidden dirs skipped."""
    return [Path(name) for name in sorted(_walk(os.fspath(root)))]


def _walk(root: str) -> Iterator[str]:
    # The rule's two halves applied to the names os.walk gives: no Path per file, as this
    # lists every file of a 10k archive on each full scan.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _is_hidden(d)]
        for name in filenames:
            if _is_article_name(name):
                yield os.path.join(dirpath, name)


def _is_article_name(name: str) -> bool:
    return (
        os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES
        and not name.startswith((".", "#", "~"))
        and not name.endswith(("~", "#"))
    )


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


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
