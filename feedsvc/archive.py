"""RFC 5005 archived feeds: which articles each document of a feed holds, and how the
documents link to one another. Pure: no rendering, no I/O.

Archive pages are numbered from the oldest article, so a full page holds the same articles
(and has the same bytes) until one of them is edited or deleted; only the newest page fills
up as articles leave the subscription feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feedsvc.config import Config
from feedsvc.model import Article, ArtifactKind, FeedSpec, Link


@dataclass(frozen=True)
class DocumentPlan:
    """One file of a feed: its spec, its articles (newest first), its RFC 5005 links and
    whether it is an archive page."""

    spec: FeedSpec
    articles: tuple[Article, ...]
    links: tuple[Link, ...] = ()
    archive: bool = False


def chronological(article: Article) -> tuple[int, int, str]:
    """The order of articles in feeds and archives: (published, updated, entry_id)."""
    return article.chronology


def lay_out(
    config: Config, specs: Sequence[FeedSpec], oldest_first: Sequence[Article], shown: int
) -> list[DocumentPlan]:
    """Every document of the feed whose files are ``specs``: the subscription files with the
    newest ``shown`` of ``oldest_first``, then (with ``[feeds] archives``) each format's
    archive pages of the rest, page 1 the oldest."""
    split = max(0, len(oldest_first) - shown)
    newest = tuple(reversed(oldest_first[split:]))
    size = config.feeds.archive_page_size
    older = oldest_first[:split] if config.feeds.archives else ()
    pages = [tuple(reversed(older[start : start + size])) for start in range(0, len(older), size)]
    documents: list[DocumentPlan] = []
    for spec in specs:
        links = (_link(config, spec, len(pages), "prev-archive"),) if pages else ()
        documents.append(DocumentPlan(spec, newest, links))
    for spec in specs:
        for number, articles in enumerate(pages, start=1):
            links = [Link(config.feed_url(spec.path), "current", spec.media_type)]
            if number > 1:
                links.append(_link(config, spec, number - 1, "prev-archive"))
            if number < len(pages):
                links.append(_link(config, spec, number + 1, "next-archive"))
            documents.append(DocumentPlan(page_spec(spec, number), articles, tuple(links), True))
    return documents


def page_spec(spec: FeedSpec, number: int) -> FeedSpec:
    """Archive page ``number`` of the subscription file ``spec``: ``archive/<format>/<n>``
    below the subscription file's directory, with its suffix (``tags/x/archive/rss/3.xml``)."""
    directory, _, name = spec.path.rpartition("/")
    base = f"{directory}/" if directory else ""
    suffix = name[name.rfind(".") :] if "." in name else ""
    page = f"{base}archive/{spec.format}/{number}{suffix}"
    return FeedSpec(page, spec.format, spec.media_type, ArtifactKind.ARCHIVE)


def _link(config: Config, spec: FeedSpec, number: int, rel: str) -> Link:
    return Link(config.feed_url(page_spec(spec, number).path), rel, spec.media_type)
