"""One build: article files in, feed files out. The CLI and the daemon both call this."""

from __future__ import annotations

import bisect
import heapq
import logging
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.articles import find_article_files, is_article_path, read_source
from feedsvc.config import Config
from feedsvc.errors import ArticleError, ConfigError
from feedsvc.feeds import RENDERERS
from feedsvc.model import FEED_FILES, Article, BuildResult, Entry, Feed
from feedsvc.normalise import normalise, to_entry
from feedsvc.outputs import prepare_directory, write_gzip_copy, write_if_changed
from feedsvc.render import Renderer

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LARGE_FEED_BYTES = 1_000_000
log = logging.getLogger("feedsvc.build")
Progress = Callable[[Sequence[Path]], Iterable[Path]]
FileKey = tuple[int, int, int]


@dataclass
class Parsed:
    """One file's outcome, with the stat key it was read under.

    ``last_good`` is the article an earlier version of a now failing file gave: a file caught
    mid-write stays published as it was until it parses again or goes away.
    """

    key: FileKey
    article: Article | None
    error: ArticleError | None
    warnings: tuple[str, ...] = ()
    last_good: Article | None = None

    @property
    def published_article(self) -> Article | None:
        """The article to publish: this version's, else the last good one."""
        return self.article or self.last_good


@dataclass
class Catalog:
    """What earlier builds learned, so the next one redoes only what changed.

    Articles are keyed by path and (size, mtime, inode); rendered entries by the Article
    itself, which is immutable and hashable. A one-off build starts with an empty Catalog, so
    it has no last good version of a failing file to fall back on.
    """

    config: Config
    parsed: dict[Path, Parsed] = field(default_factory=dict)
    entries: dict[Article, Entry] = field(default_factory=dict)
    renderer: Renderer = field(default_factory=Renderer)
    files: list[Path] | None = None  # every article file, path order; None before a full scan


def build(
    config: Config,
    *,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    write: bool = True,
    progress: Progress | None = None,
    changed: Collection[Path] | None = None,
) -> BuildResult:
    """Read the articles, publish the ones due by ``now``, and write the feeds that changed.

    With ``changed`` (the paths a watcher saw change) and a catalog that has seen the whole
    directory, only those paths are looked at again; otherwise every file is, and its stat
    tells whether it must be read again. Rejected articles are reported in the result, never
    raised; an unusable articles or output directory raises, and leaves the published feeds
    as they were.
    """
    now = now or datetime.now(UTC)
    if catalog is None or catalog.config != config:
        catalog = Catalog(config)
    root = config.articles.dir
    if not root.is_dir():
        raise ConfigError("articles.dir", f"no such directory: {root}")
    if catalog.files is not None and changed is not None and _all_articles(changed, root):
        files, present = _update_files(catalog.files, changed)
        _refresh(catalog, files, present, progress, only=changed)
    else:
        files = find_article_files(root)
        _refresh(catalog, files, set(files), progress)
    catalog.files = files

    rejected: list[ArticleError] = []
    warnings: list[str] = []
    drafts: list[Path] = []
    scheduled: list[Article] = []
    due: list[Article] = []
    stale: list[Path] = []
    for path in files:
        parsed = catalog.parsed[path]
        warnings.extend(parsed.warnings)
        if parsed.error is not None:
            rejected.append(parsed.error)
        article = parsed.published_article
        if article is None:
            continue
        if parsed.error is not None:
            stale.append(path)
        if article.draft:
            drafts.append(path)
        elif article.published > now:
            scheduled.append(article)
        else:
            due.append(article)
    shown, duplicates = _newest_unique(due, config.feeds.max_items)
    rejected.extend(duplicates)

    written: list[Path] = []
    unchanged: list[Path] = []
    if write:  # a check renders nothing: what it reports is known without the bodies
        feed = _feed(config, catalog, shown)
        output = config.feeds.output
        prepare_directory(output)
        for name, _media_type in FEED_FILES:
            path = output / name
            content = RENDERERS[name](feed, config.feed_url(name))
            if len(content) > LARGE_FEED_BYTES:
                warnings.append(
                    f"{name} is {len(content) / 1e6:.1f} MB: some aggregators drop feeds over"
                    " 1 MB; consider a lower [feeds] max_items"
                )
            wrote = write_if_changed(path, content)
            gzip_copy = content if config.feeds.gzip_copies else None
            write_gzip_copy(path, gzip_copy, refresh=wrote)
            (written if wrote else unchanged).append(path)
    return BuildResult(
        entries=len(shown),
        written=tuple(written),
        unchanged=tuple(unchanged),
        rejected=tuple(sorted(rejected, key=lambda e: str(e.path))),
        warnings=tuple(warnings),
        drafts=tuple(drafts),
        scheduled=tuple(sorted(scheduled, key=lambda a: a.published)),
        articles=len(files),
        stale=tuple(stale),
    )


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
    files: list[Path],
    present: set[Path],
    progress: Progress | None,
    only: Collection[Path] | None = None,
) -> None:
    """Parse the files (of ``only``, if given) that are new or changed since last seen;
    ``present`` is ``files`` as a set."""
    gone = catalog.parsed.keys() - present if only is None else set(only) - present
    for path in gone:
        catalog.parsed.pop(path, None)
    candidates = files if only is None else [path for path in only if path in present]
    for path in progress(candidates) if progress else candidates:
        try:
            stat = os.stat(path)
        except OSError:
            key: FileKey = (-1, -1, -1)
        else:
            key = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        known = catalog.parsed.get(path)
        if known is None or known.key != key:
            parsed = _parse(path, key, catalog)
            if parsed.article is None and known is not None:
                parsed.last_good = known.published_article
            catalog.parsed[path] = parsed


def _parse(path: Path, key: FileKey, catalog: Catalog) -> Parsed:
    """One file's outcome. Whatever goes wrong with one article stays that article's error:
    it never takes the others down."""
    try:
        source = read_source(path, catalog.config.articles.dir)
    except ArticleError as error:
        return Parsed(key, None, error)
    except Exception as exc:  # noqa: BLE001 (a bug, but one article's: reported, with its cause)
        log.exception("unexpected error reading %s", path)
        return Parsed(key, None, ArticleError(path, f"cannot read the article ({exc!r})"))
    try:
        article = normalise(source, catalog.config, catalog.renderer)
    except ArticleError as error:
        return Parsed(key, None, error, source.warnings)
    except Exception as exc:  # noqa: BLE001
        log.exception("unexpected error understanding %s", path)
        error = ArticleError(path, f"cannot understand the article ({exc!r})")
        return Parsed(key, None, error, source.warnings)
    return Parsed(key, article, None, source.warnings)


def _newest_unique(due: list[Article], count: int) -> tuple[list[Article], list[ArticleError]]:
    """The ``count`` newest articles, newest first; of two articles claiming one id, the one
    whose path sorts first keeps it (``due`` is in path order)."""
    owners: dict[str, Article] = {}
    duplicates: list[ArticleError] = []
    for article in due:
        owner = owners.setdefault(article.entry_id, article)
        if owner is not article:
            message = f"the id {article.entry_id!r} is already used by {owner.path}"
            duplicates.append(ArticleError(article.path, message))
    newest = heapq.nlargest(
        count, owners.values(), key=lambda a: (a.published, a.updated, a.entry_id)
    )
    return newest, duplicates


def _feed(config: Config, catalog: Catalog, shown: list[Article]) -> Feed:
    """The feed for the articles shown, rendering only those not rendered before."""
    entries = {article: catalog.entries.get(article) for article in shown}
    for article, entry in entries.items():
        if entry is None:
            entries[article] = to_entry(article, config, catalog.renderer)
    catalog.entries = entries
    ordered = tuple(entries[article] for article in shown)
    return Feed(
        title=config.site.title,
        home_url=config.site.url,
        description=config.description,
        language=config.site.language,
        author=config.site.author,
        updated=max((entry.updated for entry in ordered), default=EPOCH),
        entries=ordered,
        hubs=config.ping.websub_hubs,
    )
