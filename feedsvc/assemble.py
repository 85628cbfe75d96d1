"""The feeds' documents for the due articles: each entry rendered and emitted inside its own
error boundary, so one article that cannot be shown is rejected by name and the next one
takes its place; a document whose source key is unchanged is neither rendered nor written."""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace

from feedsvc import pool
from feedsvc.archive import DocumentPlan, chronological, lay_out
from feedsvc.articles.read import read_body
from feedsvc.budget import IN_PROCESS_CHARS, BudgetExceeded, render_in_worker
from feedsvc.catalog.cache import persist_entries, recall_entries
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.content import to_entry
from feedsvc.errors import ArticleError, BuildCancelled, display_path
from feedsvc.formats import write_feed
from feedsvc.model import (
    EPOCH,
    Article,
    Artifact,
    ArtifactKind,
    Entry,
    Failures,
    Feed,
    FeedSpec,
)
from feedsvc.outputs.base import Put
from feedsvc.plan import FeedPlan
from feedsvc.sourcekey import config_token, document_key, entries_key

# libxml2 (lxml, feedparser's parser, many readers) refuses a text node over 10,000,000 bytes,
# and aggregators drop feeds far smaller: no entry past the first is published, and a feed
# past the second holds fewer entries.
MAX_ENTRY_BYTES = 2 * 2**20
MAX_FEED_BYTES = 8 * 2**20
LARGE_FEED_BYTES = 1_000_000
RENDER_GROUP = 5_000  # articles rendered, emitted and let go of together
# Archive pages made are handed to ``store`` in batches of about this many bytes, so a build
# never holds a whole archive's documents in memory.
STORE_BATCH_BYTES = 4 * 2**20
log = logging.getLogger("feedsvc.assemble")


# Stores archive pages as soon as they are made (publish's sink), returning their artifacts.
Store = Callable[[list[Put]], list[Artifact]]
# Sees each document as it is made, with its entries, before any is stored (publish's lint;
# it may raise).
Inspect = Callable[[Put, Sequence[Entry]], None]


@dataclass(frozen=True)
class Document:
    """One file of a feed: its spec and source key, and either its new bytes (``content``) or
    its artifact (``kept``): the one published before when its key shows it unchanged, or the
    one just stored."""

    spec: FeedSpec
    key: str
    content: bytes | None = None
    kept: Artifact | None = None


@dataclass(frozen=True)
class Documents:
    """A feed's documents: the articles its subscription files show, each file, and what went
    wrong."""

    shown: tuple[Article, ...]
    documents: tuple[Document, ...]
    rejected: tuple[ArticleError, ...]
    warnings: tuple[str, ...]

    @property
    def files(self) -> tuple[tuple[str, bytes], ...]:
        """(path, bytes) of each document made anew."""
        return tuple((d.spec.path, d.content) for d in self.documents if d.content is not None)


def assemble(
    config: Config,
    feed: FeedPlan,
    catalog: Catalog,
    retry: bool = False,
    cancel: threading.Event | None = None,
    *,
    published: Mapping[str, Artifact] | None = None,
    store: Store | None = None,
    record: bool = True,
    inspect: Inspect | None = None,
) -> Documents:
    """The documents of ``feed``: its newest ``max_items`` articles that can be shown, and
    (see archive.lay_out) archive pages of all the older ones.

    A document whose source key equals the one ``catalog.documents`` remembers, and whose
    artifact ``published`` (the sink's listing) still holds, is neither rendered nor written:
    it is kept. Without ``published`` (a check) every document is made. With ``store``, the
    archive pages made are handed to it in batches, oldest first, as they are made; with
    ``inspect``, every document is shown to it as it is made, the subscription files first,
    so a problem found there stops the build before any archive page is stored. The
    catalog's ``entries`` and ``failures`` carry what earlier builds rendered or rejected, so
    each article is rendered once; the site's feed (no topic) forgets the failures of
    articles no longer due. Without ``record`` (a dry run) the render cache is read without a
    trace and never written.
    """
    failures = catalog.failures
    due = list(feed.articles)
    if feed.topic is None:
        _keep_due(failures, due, retry)
    owners = due  # each owns its id (see plan.unique)
    head = _channel(config, feed)
    token = config_token(config)
    made: dict[str, tuple[str, bytes | Artifact]] = {}  # path -> (key, bytes or stored)
    sizes: dict[str, int] = {}
    batch = _Batch(store, made)
    limit = feed.max_items
    while True:
        usable = _without(owners, failures)
        layout = lay_out(config, feed.specs, _oldest_first(config, usable, limit), limit)
        heads = {plan.spec.path: _head(head, plan) for plan in layout}
        keys = _keys(token, layout, heads)
        kept = {
            path: artifact
            for path, key in keys.items()
            if (artifact := _kept(catalog, published, path, key)) is not None
        }
        todo = [plan for plan in layout if plan.spec.path not in kept]
        broken: Failures = {}
        complete = True
        for group in _render_groups(todo):
            needed = list(dict.fromkeys(a for plan in group for a in plan.articles))
            held = {a for a in needed if a in catalog.entries}  # from earlier builds or feeds
            rendered = _render(config, needed, catalog, cancel, record)
            if rendered is None:
                complete = False
                break
            for plan in group:
                path = plan.spec.path
                if made.get(path, ("",))[0] == keys[path]:
                    continue
                content, broken = _emit(config, plan, heads[path], rendered)
                if broken:
                    break
                made[path] = keys[path], content
                sizes[path] = len(content)
                if inspect is not None:
                    put = Put(path, content, plan.spec.media_type, plan.spec.kind)
                    inspect(put, [rendered[article] for article in plan.articles])
                if plan.archive:
                    batch.add(plan, content)
            if broken:
                break
            shown_here = set(layout[0].articles)
            added = [a for a in rendered if a not in held and a not in shown_here]
            _release(catalog, added, save=record and published is not None)
        if broken:
            failures.update(broken)
            continue
        if not complete:
            continue
        shown = layout[0].articles
        subscription = [p.spec.path for p in layout[: len(feed.specs)] if p.spec.path not in kept]
        largest = max((sizes[path] for path in subscription), default=0)
        if largest <= MAX_FEED_BYTES:
            batch.flush()
            break
        if len(shown) == 1:  # alone too large for a feed: never publishable as it is
            failures[shown[0].path] = (
                shown[0],
                ArticleError(
                    shown[0].path,
                    f"too large to publish: its feed would be {largest / 2**20:.1f} MiB",
                ),
            )
            continue
        # Fewer entries, in proportion: the oldest ones wait outside the feed, unrejected.
        limit = max(1, min(len(shown) - 1, len(shown) * MAX_FEED_BYTES // largest))
    documents = tuple(_document(plan.spec, keys[plan.spec.path], kept, made) for plan in layout)
    warnings = [
        _large_warning(plan.spec, sizes[plan.spec.path])
        for plan in layout
        if plan.spec.path not in kept and sizes[plan.spec.path] > LARGE_FEED_BYTES
    ]
    if limit < feed.max_items and len(shown) < len(usable):
        warnings.append(
            f"the feeds hold {len(shown)} entries, not [feeds] max_items ="
            f" {feed.max_items}: more would take them past {MAX_FEED_BYTES // 2**20} MiB"
        )
    rejected = [error for _, error in failures.values()]
    if feed.topic is not None:
        rejected = []  # the site's feed holds every due article and reports them once
    return Documents(tuple(shown), documents, tuple(rejected), tuple(warnings))


class _Batch:
    """Archive pages made and not yet stored: handed to ``store`` once they weigh
    STORE_BATCH_BYTES, each then remembered in ``made`` by its artifact, not its bytes."""

    def __init__(self, store: Store | None, made: dict[str, tuple[str, bytes | Artifact]]) -> None:
        self.store = store
        self.made = made
        self.puts: dict[str, Put] = {}  # a page made again replaces its earlier version

    def add(self, plan: DocumentPlan, content: bytes) -> None:
        if self.store is None:
            return
        spec = plan.spec
        # A page with a next one is full: its bytes stay while its articles do.
        full = any(link.rel == "next-archive" for link in plan.links)
        self.puts[spec.path] = Put(spec.path, content, spec.media_type, spec.kind, immutable=full)
        if sum(len(put.content) for put in self.puts.values()) >= STORE_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.store is None or not self.puts:
            return
        puts = list(self.puts.values())
        for put, artifact in zip(puts, self.store(puts), strict=True):
            key, _ = self.made[put.path]
            self.made[put.path] = key, artifact
        self.puts = {}


def _document(
    spec: FeedSpec,
    key: str,
    kept: Mapping[str, Artifact],
    made: Mapping[str, tuple[str, bytes | Artifact]],
) -> Document:
    if spec.path in kept:
        return Document(spec, key, kept=kept[spec.path])
    content = made[spec.path][1]
    if isinstance(content, bytes):
        return Document(spec, key, content=content)
    return Document(spec, key, kept=content)


def _render_groups(todo: list[DocumentPlan]) -> Iterator[list[DocumentPlan]]:
    """``todo`` in groups of documents whose articles are rendered together: a page's formats
    share its articles, and a group holds about RENDER_GROUP of them, so a cold build of a
    large archive holds that many rendered entries at a time, not all."""
    pages: dict[int, list[DocumentPlan]] = {}
    for plan in todo:
        pages.setdefault(id(plan.articles), []).append(plan)
    group: list[DocumentPlan] = []
    count = 0
    for documents in pages.values():
        group += documents
        count += len(documents[0].articles)
        if count >= RENDER_GROUP:
            yield group
            group, count = [], 0
    if group:
        yield group


def _release(catalog: Catalog, added: Iterable[Article], save: bool) -> None:
    """Drop the entries a group's documents brought into memory, once made; the new ones go
    to the render cache first (with ``save``: not in a check), so a later build that needs
    them again reads them back instead of rendering them."""
    if save:
        persist_entries(catalog)
    else:
        catalog.rendered.clear()  # a check keeps nothing
    for article in added:
        catalog.entries.pop(article, None)


def keep_entries(catalog: Catalog, keep: Iterable[Article]) -> None:
    """Keep in memory only the rendered entries of ``keep`` (what the feeds' subscription
    documents show, made again at most changes); the rest are in the render cache."""
    _keep_only(catalog.entries, keep)


def _keys(
    token: str,
    layout: list[DocumentPlan],
    heads: Mapping[str, Feed],
) -> dict[str, str]:
    """Each document's source key, by path."""
    # The formats of one page share its articles: their entries' key is computed once.
    entries: dict[int, str] = {}
    for plan in layout:
        if id(plan.articles) not in entries:
            entries[id(plan.articles)] = entries_key(plan.articles)
    return {
        plan.spec.path: document_key(token, plan, heads[plan.spec.path], entries[id(plan.articles)])
        for plan in layout
    }


def _kept(
    catalog: Catalog, published: Mapping[str, Artifact] | None, path: str, key: str
) -> Artifact | None:
    """The artifact published at ``path`` when its key is ``key`` and the sink still holds it."""
    if published is None:
        return None
    remembered = catalog.documents.get(path)
    if remembered is None or remembered[0] != key:
        return None
    listed = published.get(path)
    if listed is None or listed.digest != remembered[1].digest:
        return None
    return remembered[1]


def _large_warning(spec: FeedSpec, size: int) -> str:
    setting = "archive_page_size" if spec.kind is ArtifactKind.ARCHIVE else "max_items"
    return (
        f"{spec.path} is {size / 1e6:.1f} MB: some aggregators drop feeds over 1 MB;"
        f" consider a lower [feeds] {setting}"
    )


def _oldest_first(config: Config, articles: list[Article], shown: int) -> list[Article]:
    """The articles the feed's documents hold, oldest first: all of them with archives, else
    only the newest ``shown`` (found without sorting them all)."""
    if not config.feeds.archives:
        articles = heapq.nlargest(shown, articles, key=chronological)
    return sorted(articles, key=chronological)


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
    articles: list[Article],
    catalog: Catalog,
    cancel: threading.Event | None,
    record: bool,
) -> dict[Article, Entry] | None:
    """Each article's entry, rendered once; None when some could not be (they are then in
    the catalog's ``failures``)."""
    entries, failures = catalog.entries, catalog.failures
    recall_entries(catalog, articles, read_only=not record)
    _render_many(config, [a for a in articles if a not in entries], catalog, cancel)
    rendered: dict[Article, Entry] = {}
    for article in articles:
        entry = entries.get(article)
        if entry is None:
            if (known := failures.get(article.path)) is not None and known[0] == article:
                continue  # failed in the pool
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
            rendered[article] = entry
    return rendered if len(rendered) == len(articles) else None


def _render_many(
    config: Config, articles: list[Article], catalog: Catalog, cancel: threading.Event | None
) -> None:
    """Render ``articles`` on every core when there are many (a cold build with archives):
    their entries and failures go into the catalog; large bodies are left for ``_guarded``."""
    if not pool.worth_a_pool(len(articles)):
        return
    done = pool.entries(articles, catalog.articles_root(), config)
    try:
        for article, outcome in zip(articles, done, strict=True):
            if cancel is not None and cancel.is_set():
                raise BuildCancelled()
            if isinstance(outcome, Entry):
                catalog.entries[article] = catalog.rendered[article] = outcome
            elif outcome is not None:
                catalog.failures[article.path] = article, outcome
    finally:
        done.close()


def _emit(
    config: Config, plan: DocumentPlan, head: Feed, rendered: Mapping[Article, Entry]
) -> tuple[bytes, Failures]:
    """The bytes of ``plan``'s file; when its format cannot be written, the entries to blame."""
    articles = {rendered[article]: article for article in plan.articles}
    feed = _with_entries(head, tuple(articles))
    spec = plan.spec
    try:
        return write_feed(spec.format, feed, config.feed_url(spec.path)), {}
    except Exception as exc:  # noqa: BLE001 (narrowed to the entries below)
        broken = _blame(config, feed, spec, articles)
        if not broken:
            raise
        log.debug("cannot write %s: %r", spec.path, exc)
        return b"", broken


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


def _channel(config: Config, feed: FeedPlan) -> Feed:
    """The channel of ``feed``'s documents, without entries: the site's, or a topic's."""
    site = config.site
    channel = Feed(
        title=site.title,
        home_url=site.url,
        description=config.description,
        language=site.language,
        author=site.author,
        updated=EPOCH,
        entries=(),
        hubs=config.ping.websub_hubs,
    )
    topic = feed.topic
    if topic is None:
        return channel
    about = f"tagged “{topic.name}”" if topic.kind == "tag" else f"by {topic.name}"
    return replace(
        channel,
        title=f"{site.title} — {topic.name}",
        description=f"Articles {about} from {site.title}",
        feed_id=config.feed_url(topic.base),
    )


def _head(channel: Feed, plan: DocumentPlan) -> Feed:
    """The channel as ``plan``'s document states it: its links; no hubs on an archive page,
    which nobody subscribes to."""
    hubs = () if plan.archive else channel.hubs
    return replace(channel, links=plan.links, archive=plan.archive, hubs=hubs)


def _with_entries(head: Feed, entries: tuple[Entry, ...]) -> Feed:
    updated = max((entry.updated for entry in entries), default=EPOCH)
    return replace(head, entries=entries, updated=updated)
