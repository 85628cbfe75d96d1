"""One build: article files in, feed files out. The CLI and the daemon both call this."""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from feedsvc.articles.discover import RootKey, find_article_files, is_article_path, root_key
from feedsvc.articles.read import read_article_bytes, read_source
from feedsvc.assemble import Failures, assemble
from feedsvc.budget import Budget
from feedsvc.config import Config
from feedsvc.errors import (
    ArticleError,
    BuildCancelled,
    ConfigError,
    EmptyFeedRefused,
    display_path,
)
from feedsvc.model import (
    ATOM_TYPE,
    FEED_FILES,
    JSON_TYPE,
    NO_KEY,
    Article,
    BuildResult,
    Entry,
    FileKey,
    file_key,
)
from feedsvc.normalise import normalise
from feedsvc.outputs.localdir import publish_files, read_published
from feedsvc.render import Renderer

log = logging.getLogger("feedsvc.build")
Progress = Callable[[Sequence[Path]], Iterable[Path]]


@dataclass
class Parsed:
    """One file's outcome, with the key of the version it was read under.

    ``last_good`` is the article an earlier version of a now failing file gave: a file caught
    mid-write stays published as it was until it parses again or goes away.
    """

    key: FileKey
    article: Article | None
    error: ArticleError | None
    warnings: tuple[str, ...] = ()
    last_good: Article | None = None
    digest: bytes = b""

    @property
    def published_article(self) -> Article | None:
        """The article to publish: this version's, else the last good one."""
        return self.article or self.last_good


@dataclass
class Catalog:
    """What earlier builds learned, so the next one redoes only what changed.

    Articles are keyed by path and (size, mtime, inode) as read; rendered entries (and the
    articles that could not be rendered) by the Article itself, which is immutable and
    hashable. A one-off build starts with an empty Catalog, so it has no last good version
    of a failing file to fall back on unless one is restored.
    """

    config: Config
    parsed: dict[Path, Parsed] = field(default_factory=dict)
    entries: dict[Article, Entry] = field(default_factory=dict)
    failures: Failures = field(default_factory=dict)
    renderer: Renderer = field(default_factory=Renderer)
    files: list[Path] | None = None  # every article file, path order; None before a full scan
    root: RootKey | None = None  # the articles directory at the last scan
    restored: dict[Path, Article] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)

    def restore_last_good(self, articles: Mapping[Path, Article]) -> None:
        """Seed the last good versions an earlier process published (from its state file)."""
        self.restored.update(articles)


def build(
    config: Config,
    *,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    write: bool = True,
    progress: Progress | None = None,
    changed: Collection[Path] | None = None,
    cancel: threading.Event | None = None,
    allow_empty: bool = False,
    before_publish: Callable[[list[str]], None] | None = None,
) -> BuildResult:
    """Read the articles, publish the ones due by ``now``, and write the feeds that changed.

    With ``changed`` (the paths a watcher saw change) and a catalog that has seen the whole
    directory, only those paths are read again; otherwise every file is stat'ed, and read
    again when its key changed (or, on a rescan, to compare its content). Rejected articles
    are reported in the result, never raised. An unusable articles or output directory, or
    a build that would empty published feeds (unless ``allow_empty``), raises and leaves the
    published feeds as they were; so does ``cancel`` being set (BuildCancelled).
    ``before_publish`` hears which feed files will change, once they are on disk and before
    any is renamed into place (see ``publish_files``).
    """
    now = now or datetime.now(UTC)
    if catalog is None or catalog.config != config:
        catalog = Catalog(config)
    warnings: list[str] = []
    root = _articles_root(config, catalog, warnings)
    # Only a scan nobody asked for by path (a scheduled rescan, a reload) compares content and
    # retries renders that ran out of time: a watcher's batch naming a directory or an
    # editor's probe file is no cause to read every file.
    compare = changed is None and catalog.files is not None
    if catalog.files is not None and changed is not None and _all_articles(changed, root):
        files, present = _update_files(catalog.files, changed)
        _refresh(catalog, root, files, present, progress, cancel, only=changed)
    else:
        files = find_article_files(root)
        _refresh(catalog, root, files, set(files), progress, cancel, compare=compare)
    catalog.files = files

    rejected: list[ArticleError] = []
    drafts: list[Path] = []
    scheduled: list[Article] = []
    due: list[Article] = []
    stale: list[Article] = []
    for path in files:
        parsed = catalog.parsed[path]
        warnings.extend(parsed.warnings)
        if parsed.error is not None:
            rejected.append(parsed.error)
        article = parsed.published_article
        if article is None:
            continue
        if parsed.error is not None:
            stale.append(article)
        if article.draft:
            drafts.append(path)
        elif article.published > now:
            scheduled.append(article)
        else:
            due.append(article)
    documents = assemble(
        config,
        due,
        catalog.entries,
        catalog.failures,
        catalog.renderer,
        catalog.budget,
        retry=compare,
        cancel=cancel,
    )
    rejected.extend(documents.rejected)
    warnings.extend(documents.warnings)

    written: list[str] = []
    if write:  # a check renders and emits the same entries, and writes nothing
        _check_cancel(cancel)
        if not documents.shown and not allow_empty:
            _refuse_emptying(config)
        written = publish_files(
            config.feeds.output,
            documents.files,
            gzip_copies=config.feeds.gzip_copies,
            before_rename=before_publish,
        )
    output = config.feeds.output
    return BuildResult(
        entries=len(documents.shown),
        written=tuple(output / name for name in written),
        unchanged=tuple(output / name for name, _ in documents.files if name not in written),
        rejected=tuple(sorted(rejected, key=lambda e: str(e.path))),
        warnings=tuple(warnings),
        drafts=tuple(drafts),
        scheduled=tuple(sorted(scheduled, key=lambda a: a.published)),
        articles=len(files),
        stale=tuple(article.path for article in stale),
        stale_articles=tuple(stale),
        shown=tuple(documents.shown),
    )


def _articles_root(config: Config, catalog: Catalog, warnings: list[str]) -> Path:
    """The articles directory with symlinks resolved now (a release switched with
    ``ln -sfn`` is followed); a directory that moved, was recreated or changed device since
    the last build starts a full scan."""
    key = root_key(config.articles.dir)
    if key is None:
        raise ConfigError("articles.dir", f"no such directory: {display_path(config.articles.dir)}")
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
    ``present`` is ``files`` as a set.

    Paths a watcher named are read again whatever their stat says (a same-size rewrite
    within one timestamp tick keeps the key). With ``compare`` (a rescan of a catalog that has
    seen the files) the content of those whose key is unchanged is compared, for the same
    reason, and files that could not be read are tried again.
    """
    gone = catalog.parsed.keys() - present if only is None else set(only) - present
    for path in gone:
        catalog.parsed.pop(path, None)
        catalog.restored.pop(path, None)
    candidates = files if only is None else [path for path in only if path in present]
    for path in progress(candidates) if progress else candidates:
        _check_cancel(cancel)
        known = catalog.parsed.get(path)
        if only is None and known is not None and _unchanged(path, known, compare=compare):
            continue
        parsed = _parse(path, root, catalog)
        if parsed.article is None:
            parsed.last_good = known.published_article if known else catalog.restored.get(path)
        else:
            catalog.restored.pop(path, None)
        catalog.parsed[path] = parsed


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


def _parse(path: Path, root: Path, catalog: Catalog) -> Parsed:
    """One file's outcome. Whatever goes wrong with one article stays that article's error:
    it never takes the others down."""
    try:
        source = read_source(path, root)
    except ArticleError as error:
        return Parsed(_stat_key(path), None, error)
    except Exception as exc:  # noqa: BLE001 (a bug, but one article's: reported, with its cause)
        log.exception("unexpected error reading %s", display_path(path))
        return Parsed(
            _stat_key(path), None, ArticleError(path, f"cannot read the article ({exc!r})")
        )
    key, digest = source.key, source.digest
    try:
        article = normalise(source, catalog.config, catalog.renderer)
    except ArticleError as error:
        return Parsed(key, None, error, source.warnings, digest=digest)
    except Exception as exc:  # noqa: BLE001
        log.exception("unexpected error understanding %s", display_path(path))
        error = ArticleError(path, f"cannot understand the article ({exc!r})")
        return Parsed(key, None, error, source.warnings, digest=digest)
    return Parsed(key, article, None, source.warnings, digest=digest)


def _stat_key(path: Path) -> FileKey:
    try:
        status = os.stat(path)
    except OSError:
        return NO_KEY
    return file_key(status)


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise BuildCancelled()


def _refuse_emptying(config: Config) -> None:
    """Raise EmptyFeedRefused when a published feed still holds entries."""
    for name, media_type in FEED_FILES:
        published = read_published(config.feeds.output / name)
        if published and _holds_entries(published, media_type):
            raise EmptyFeedRefused(display_path(config.feeds.output / name))


def _holds_entries(document: bytes, media_type: str) -> bool:
    """True when a published feed document has at least one entry (unreadable: assume so)."""
    try:
        if media_type == JSON_TYPE:
            return bool(json.loads(document).get("items"))
        root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, huge_tree=True))
    except (ValueError, AttributeError, etree.XMLSyntaxError):
        return True
    entry = "{http://www.w3.org/2005/Atom}entry" if media_type == ATOM_TYPE else "channel/item"
    return root.find(entry) is not None
