"""Files to articles, incrementally: which article files changed since the catalog last saw
them, and each one's parsed outcome. Only new or changed files are read again."""

from __future__ import annotations

import bisect
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.articles.discover import find_article_files, is_article_path, root_key
from feedsvc.articles.read import read_article_bytes
from feedsvc.catalog.cache import thaw
from feedsvc.catalog.memory import Catalog
from feedsvc.errors import ArticleError, BuildCancelled, ConfigError, display_path
from feedsvc.model import Parsed, file_key
from feedsvc.outcome import seen
from feedsvc.pool import outcomes

log = logging.getLogger("feedsvc.scan")
Progress = Callable[[Sequence[Path]], Iterable[Path]]


@dataclass(frozen=True)
class Scan:
    """What a scan found: every article file (path order), and whether it was a rescan that
    compared content (which also retries renders that ran out of time)."""

    files: list[Path]
    outcomes: list[Parsed]
    warnings: tuple[str, ...]
    rescan: bool


def scan(
    catalog: Catalog,
    *,
    changed: Collection[Path] | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Scan:
    """Bring ``catalog`` up to date with the articles directory.

    With ``changed`` (the paths a watcher saw change) and a catalog that has seen the whole
    directory, only those paths are read again; otherwise every file is stat'ed, and read
    again when its key changed (or, on a rescan, to compare its content). An unusable
    articles directory raises ConfigError; ``cancel`` being set raises BuildCancelled.
    """
    warnings: list[str] = []
    root = _articles_root(catalog, warnings)
    # Only a scan nobody asked for by path (a scheduled rescan, a reload) compares content and
    # retries renders that ran out of time: a watcher's batch naming a directory or an
    # editor's probe file is no cause to read every file.
    rescan = changed is None and catalog.files is not None
    if catalog.files is not None and changed is not None and _all_articles(changed, root):
        files, present = _update_files(catalog.files, changed)
        _refresh(catalog, root, files, present, progress, cancel, only=changed)
    else:
        files = find_article_files(root)
        _refresh(catalog, root, files, set(files), progress, cancel, compare=rescan)
    catalog.files = files
    outcomes = [catalog.parsed[path] for path in files]
    return Scan(files, outcomes, tuple(warnings), rescan)


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise BuildCancelled once ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise BuildCancelled()


def _articles_root(catalog: Catalog, warnings: list[str]) -> Path:
    """The articles directory with symlinks resolved now (a release switched with
    ``ln -sfn`` is followed); a directory that moved, was recreated or changed device since
    the last build starts a full scan."""
    directory = catalog.config.articles.dir
    key = root_key(directory)
    if key is None:
        raise ConfigError("articles.dir", f"no such directory: {display_path(directory)}")
    previous, catalog.root = catalog.root, key
    if previous is not None and key.real != previous.real:
        log.info("the articles directory now resolves to %s", display_path(Path(key.real)))
        catalog.files, catalog.parsed = None, {}
    elif previous is not None and key.device != previous.device:
        warnings.append(
            f"the articles directory {display_path(Path(key.real))} is on another device than"
            " at the last build (a share mounted or unmounted?)"
        )
        catalog.files = None
    elif previous is not None and key.inode != previous.inode:
        catalog.files = None  # recreated in place (a re-clone): what it holds is unknown
    return Path(key.real)


def _all_articles(paths: Collection[Path], root: Path) -> bool:
    """True when every path names an article file below ``root`` (not a directory, say)."""
    return all(is_article_path(path, root) for path in paths)


def _update_files(files: list[Path], changed: Collection[Path]) -> tuple[list[Path], set[Path]]:
    """The catalog's file list with the changed paths added where they exist, else dropped
    (still in path order, the same list when no file came or went), and it as a set."""
    present = set(files)
    came = {path for path in changed if path not in present and os.path.isfile(path)}
    went = {path for path in changed if path in present and not os.path.isfile(path)}
    if not came and not went:
        return files, present
    updated = [path for path in files if path not in went]
    for path in came:
        bisect.insort(updated, path, key=os.fspath)
    return updated, (present | came) - went


def _refresh(
    catalog: Catalog,
    root: Path,
    files: list[Path],
    present: set[Path],
    progress: Progress | None,
    cancel: threading.Event | None,
    only: Collection[Path] | None = None,
    compare: bool = False,
) -> None:
    """Parse the files (of ``only``, if given) that are new or changed since last seen;
    ``present`` is ``files`` as a set. What changed is noted in the catalog's ``unsaved``.

    Paths a watcher named are read again whatever their stat says (a same-size rewrite
    within one timestamp tick keeps the key). With ``compare`` (a rescan of a catalog that has
    seen the files) the content of those whose key is unchanged is compared, for the same
    reason, and files that could not be read are tried again.
    """
    gone = catalog.parsed.keys() - present if only is None else set(only) - present
    for path in gone:
        if catalog.parsed.pop(path, None) is not None:
            catalog.unsaved[path] = None
    candidates = files if only is None else [path for path in only if path in present]
    _thaw(catalog, candidates, whole=only is None)
    stale = [
        path
        for path in candidates
        if only is not None
        or (known := catalog.parsed.get(path)) is None
        or not _unchanged(path, known, compare=compare)
    ]
    jobs = [(path, seen(catalog.parsed.get(path))) for path in stale]
    done = outcomes(jobs, root, catalog.config, catalog.renderer, datetime.now(UTC))
    try:
        for path, parsed in zip(progress(stale) if progress else stale, done, strict=True):
            check_cancel(cancel)
            _remember(catalog, path, parsed)
    finally:
        done.close()  # here, not in whichever thread collects it: a pool is shut down


def _thaw(catalog: Catalog, candidates: list[Path], *, whole: bool) -> None:
    """Take the parse cache's rows of ``candidates`` into the catalog (with the scan's own
    Paths); after a ``whole`` scan, the rows left name files that went."""
    if not catalog.cold:
        return
    for path in candidates:
        row = catalog.cold.pop(os.fspath(path), None)
        if row is not None and (parsed := thaw(path, row)) is not None:
            catalog.parsed[path] = parsed
    if whole:
        catalog.unsaved.update((Path(name), None) for name in catalog.cold)
        catalog.cold.clear()


def _remember(catalog: Catalog, path: Path, parsed: Parsed) -> None:
    """Keep a file's new outcome; a failing one keeps the last good version published."""
    known = catalog.parsed.get(path)
    if parsed.article is None:
        parsed = replace(parsed, last_good=known.published_article if known else None)
    catalog.parsed[path] = parsed
    catalog.unsaved[path] = parsed


def _unchanged(path: Path, known: Parsed, *, compare: bool) -> bool:
    """True when ``path`` still holds the version ``known`` was made from."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    if file_key(status) != known.key:
        return False
    if not compare:
        return True
    if not known.digest:  # it could not be read: perhaps it can now
        return False
    try:
        data, _key = read_article_bytes(path)
    except (OSError, ArticleError):
        return False
    return hashlib.sha256(data).digest() == known.digest
