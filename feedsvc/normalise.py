"""A Source to an Article: its metadata understood (title, dates, summary, tags, author),
its id and link from the identity policy."""

from __future__ import annotations

from datetime import datetime, tzinfo

from feedsvc.config import Config
from feedsvc.dates import DateError, parse_date
from feedsvc.errors import ArticleError
from feedsvc.identity import article_link, entry_id
from feedsvc.model import Article, RawDate, Source
from feedsvc.render import Renderer


def normalise(
    source: Source, config: Config, renderer: Renderer, changed: datetime | None = None
) -> Article:
    """Understand a Source's metadata; raises ArticleError naming the file, line and problem.

    An article with no ``updated`` of its own was updated when its content last ``changed``
    (as first seen), if that was after it was published."""
    path = source.path
    title = renderer.inline_text(source.title) if source.title else ""
    if not title:
        raise ArticleError(
            path, "no title: start with a '# Title' line or set 'title:'", line=source.title_line
        )
    if source.published is None:
        raise ArticleError(path, "no publish date: add 'Published: …' or 'date:'")
    zone = config.timezone
    published = _date(source.published, zone, source, source.published_line)
    updated = published
    if source.updated is not None:
        updated = max(published, _date(source.updated, zone, source, source.updated_line))
    elif changed is not None:
        updated = max(published, changed)
    return Article(
        path=path,
        slug=source.slug,
        entry_id=entry_id(source, config.site.url, config.site.tag_date),
        own_id=bool(source.entry_id and source.entry_id.strip()),
        link=article_link(source, config, published),
        title=title,
        published=published,
        updated=updated,
        digest=source.digest,
        fingerprint=source.fingerprint,
        summary=source.summary,
        tags=tuple(t for t in (renderer.inline_text(tag) for tag in source.tags) if t),
        author=renderer.inline_text(source.author) if source.author else None,
        draft=source.draft,
    )


def _date(value: RawDate, zone: tzinfo, source: Source, line: int | None) -> datetime:
    try:
        return parse_date(value, zone)
    except DateError as exc:
        # The DateError's text is the message: shown again after it, it would say it twice.
        raise ArticleError(source.path, str(exc), line=line, show_cause=False) from exc
