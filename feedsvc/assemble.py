"""The feeds' documents for the due articles: each entry rendered and emitted inside its own
error boundary, so one article that cannot be shown is rejected by name and the next one
takes its place."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from feedsvc.articles.read import read_body
from feedsvc.budget import IN_PROCESS_CHARS, BudgetExceeded, render_in_worker
from feedsvc.catalog.cache import recall_entries
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.content import to_entry
from feedsvc.errors import ArticleError, BuildCancelled, display_path
from feedsvc.formats import write_feed
from feedsvc.model import Article, Entry, Failures, Feed, FeedSpec
from feedsvc.plan import FeedPlan, newest_unique

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# libxml2 (lxml, feedparser's parser, many readers) refuses a text node over 10,000,000 bytes,
# and aggregators drop feeds far smaller: no entry past the first is published, and a feed
# past the second holds fewer entries.
MAX_ENTRY_BYTES = 2 * 2**20
MAX_FEED_BYTES = 8 * 2**20
LARGE_FEED_BYTES = 1_000_000
log = logging.getLogger("feedsvc.assemble")


@dataclass(frozen=True)
class Documents:
    """A build's feeds: the articles shown, each feed file's bytes, and what went wrong."""

    shown: tuple[Article, ...]
    files: tuple[tuple[str, bytes], ...]
    rejected: tuple[ArticleError, ...]
    warnings: tuple[str, ...]


def assemble(
    config: Config,
    feed: FeedPlan,
    catalog: Catalog,
    retry: bool = False,
    cancel: threading.Event | None = None,
) -> Documents:
    """The documents of ``feed``: its newest ``max_items`` articles that can be shown.

    The catalog's ``entries`` and ``failures`` carry what earlier builds rendered or rejected,
    so each article is rendered once; both are trimmed to the articles of this build. Nothing
    here hashes every due article: a one-file republish of a large archive stays cheap.
    """
    due = list(feed.articles)
    entries, failures = catalog.entries, catalog.failures
    _keep_due(failures, due, retry)
    candidates = _without(due, failures)
    limit = feed.max_items
    while True:
        shown, duplicates = newest_unique(candidates, limit)
        rendered = _render(config, shown, catalog, cancel)
        if rendered is None:
            candidates = _without(candidates, failures)
            continue
        files, broken = _emit(
            config, feed.specs, _feed(config, rendered), dict(zip(rendered, shown, strict=True))
        )
        if broken:
            failures.update(broken)
            candidates = _without(candidates, broken)
            continue
        largest = max(len(content) for _, content in files)
        if largest <= MAX_FEED_BYTES:
            break
        if len(shown) == 1:  # alone too large for a feed: never publishable as it is
            failures[shown[0].path] = (
                shown[0],
                ArticleError(
                    shown[0].path,
                    f"too large to publish: its feed would be {largest / 2**20:.1f} MiB",
                ),
            )
            candidates = _without(candidates, failures)
            continue
        # Fewer entries, in proportion: the oldest ones wait outside the feed, unrejected.
        limit = max(1, min(len(shown) - 1, len(shown) * MAX_FEED_BYTES // largest))
    _keep_only(entries, shown)
    warnings = [
        f"{name} is {len(content) / 1e6:.1f} MB: some aggregators drop feeds over 1 MB;"
        " consider a lower [feeds] max_items"
        for name, content in files
        if len(content) > LARGE_FEED_BYTES
    ]
    if limit < feed.max_items and len(shown) < len(candidates):
        warnings.append(
            f"the feeds hold {len(shown)} entries, not [feeds] max_items ="
            f" {feed.max_items}: more would take them past {MAX_FEED_BYTES // 2**20} MiB"
        )
    rejected = [*duplicates, *(error for _, error in failures.values())]
    return Documents(tuple(shown), files, tuple(rejected), tuple(warnings))


def _without(articles: list[Article], failures: Failures) -> list[Article]:
    """``articles`` less those ``failures`` holds (by path, for that very version)."""
    if not failures:
        return articles
    return [a for a in articles if (known := failures.get(a.path)) is None or known[0] != a]


def _keep_due(failures: Failures, due: list[Article], retry: bool) -> None:
    """Forget the failures of articles no longer due, or since changed; with ``retry`` also
    those that may not recur (a render over its budget on a busy machine)."""
    if not failures:
        return
    current = {article.path: article for article in due}
    for path, (article, error) in list(failures.items()):
        if current.get(path) != article or (retry and isinstance(error, BudgetExceeded)):
            del failures[path]


def _render(
    config: Config,
    shown: list[Article],
    catalog: Catalog,
    cancel: threading.Event | None,
) -> list[Entry] | None:
    """Each shown article's entry, rendered once; None when some could not be (they are
    then in the catalog's ``failures``)."""
    entries, failures = catalog.entries, catalog.failures
    recall_entries(catalog, shown)
    rendered: list[Entry] = []
    for article in shown:
        entry = entries.get(article)
        if entry is None:
            if cancel is not None and cancel.is_set():
                raise BuildCancelled()
            entry = _guarded(article, failures, config, catalog)
            if entry is None:
                continue
            entries[article] = entry
            catalog.rendered[article] = entry
        size = _entry_bytes(entry)
        if size > MAX_ENTRY_BYTES:
            failures[article.path] = (
                article,
                ArticleError(
                    article.path,
                    f"too large to publish: its entry is {size / 2**20:.1f} MiB"
                    f" (at most {MAX_ENTRY_BYTES // 2**20} MiB)",
                ),
            )
        else:
            rendered.append(entry)
    return rendered if len(rendered) == len(shown) else None


def _emit(
    config: Config, specs: tuple[FeedSpec, ...], feed: Feed, articles: dict[Entry, Article]
) -> tuple[tuple[tuple[str, bytes], ...], Failures]:
    """The bytes of each of ``specs``' files; when a format cannot be written, the entries to
    blame."""
    files = []
    for spec in specs:
        try:
            files.append((spec.path, write_feed(spec.format, feed, config.feed_url(spec.path))))
        except Exception as exc:  # noqa: BLE001 (narrowed to the entries below)
            broken = _blame(config, feed, spec, articles)
            if not broken:
                raise
            log.debug("cannot write %s: %r", spec.path, exc)
            return (), broken
    return tuple(files), {}


def _blame(config: Config, feed: Feed, spec: FeedSpec, articles: dict[Entry, Article]) -> Failures:
    """The entries that fail ``spec``'s writer on their own, each as its article's error."""
    broken: Failures = {}
    for entry, article in articles.items():
        alone = replace(feed, entries=(entry,))
        try:
            write_feed(spec.format, alone, config.feed_url(spec.path))
        except Exception as exc:  # noqa: BLE001 (this entry's fault, reported by name)
            error = ArticleError(article.path, f"cannot be written as {spec.path} ({exc})")
            broken[article.path] = article, error
    return broken


def _guarded(
    article: Article,
    failures: Failures,
    config: Config,
    catalog: Catalog,
) -> Entry | None:
    """The article's entry (its body read again from its file; a large one rendered in a
    worker under the catalog's budget), or None with its error recorded: one article never
    stops a build."""
    try:
        body = read_body(article, catalog.articles_root())
        if len(body) > IN_PROCESS_CHARS:
            return render_in_worker(article, body, config, catalog.budget)
        return to_entry(article, body, config, catalog.renderer)
    except ArticleError as error:
        failures[article.path] = article, error
    except Exception as exc:  # noqa: BLE001 (a bug, but one article's: reported, with its cause)
        log.exception("unexpected error rendering %s", display_path(article.path))
        error = ArticleError(article.path, f"cannot render the article ({exc!r})")
        failures[article.path] = article, error
    return None


def _entry_bytes(entry: Entry) -> int:
    return sum(len(text.encode("utf-8", "surrogatepass")) for text in _texts(entry))


def _texts(entry: Entry) -> Iterable[str]:
    yield from (entry.title, entry.summary, entry.content_html, entry.link, entry.entry_id)
    yield from entry.tags


def _keep_only(mapping: MutableMapping[Article, object], keep: Iterable[Article]) -> None:
    wanted = set(keep)
    for article in [article for article in mapping if article not in wanted]:
        del mapping[article]


def _feed(config: Config, entries: list[Entry]) -> Feed:
    return Feed(
        title=config.site.title,
        home_url=config.site.url,
        description=config.description,
        language=config.site.language,
        author=config.site.author,
        updated=max((entry.updated for entry in entries), default=EPOCH),
        entries=tuple(entries),
        hubs=config.ping.websub_hubs,
    )
