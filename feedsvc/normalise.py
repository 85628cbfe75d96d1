"""A Source to an Article (metadata understood), and an Article to a feed Entry (body rendered)."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, tzinfo
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit

from feedsvc.config import Config
from feedsvc.dates import DateError, parse_date
from feedsvc.errors import ArticleError, quote_value
from feedsvc.iri import iri_to_uri
from feedsvc.model import Article, Entry, RawDate, Source
from feedsvc.render import MarkupError, Renderer, summary_text

ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
TAG_SPECIFIC_SAFE = "/-._~!$&'()*+,;=:@"


def normalise(source: Source, config: Config, renderer: Renderer) -> Article:
    """Understand a Source's metadata; raises ArticleError naming the file, line and problem."""
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
    return Article(
        path=path,
        slug=source.slug,
        entry_id=entry_id(source, config.site.url, published.date()),
        link=_link(source, config, published),
        title=title,
        published=published,
        updated=updated,
        body=source.body,
        summary=source.summary,
        tags=tuple(t for t in (renderer.inline_text(tag) for tag in source.tags) if t),
        author=renderer.inline_text(source.author) if source.author else None,
        draft=source.draft,
    )


def to_entry(article: Article, config: Config, renderer: Renderer) -> Entry:
    """Render what a feed shows of an article: its body as safe HTML, and its summary.

    Raises ArticleError for a body too large or deep to render within bounds."""
    try:
        content_html, first_paragraph = renderer.render(article.body, article.link)
    except MarkupError as exc:
        raise ArticleError(article.path, f"the body cannot be published: {exc}") from None
    if article.summary:
        summary = summary_text(article.summary)  # a summary someone wrote is kept whole
    else:
        summary = summary_text(first_paragraph, config.articles.summary_length)
    return Entry(
        entry_id=article.entry_id,
        link=article.link,
        title=article.title,
        published=article.published,
        updated=article.updated,
        summary=summary,
        content_html=content_html,
        tags=article.tags,
        author=article.author,
    )


def entry_id(source: Source, site_url: str, day: date) -> str:
    """The id an article keeps for life: its own, else a tag: URI (RFC 4151) from host, date, slug.

    Built from nothing that an edit of the body or the title changes.
    """
    given = source.entry_id.strip() if source.entry_id else ""
    if given.lower().startswith("urn:uuid:"):
        try:
            uuid.UUID(given[len("urn:uuid:") :])
        except ValueError:
            message = f"the id {quote_value(given)} is not a valid UUID"
            raise ArticleError(source.path, message) from None
    if ABSOLUTE_IRI.fullmatch(given):
        try:
            return iri_to_uri(given)
        except ValueError:
            message = f"the id {quote_value(given)} is not a valid URI"
            raise ArticleError(source.path, message) from None
    host = _tag_authority(site_url)
    specific = quote(given or source.slug, safe=TAG_SPECIFIC_SAFE)
    return f"tag:{host},{day.isoformat()}:{specific}"


@lru_cache(maxsize=16)
def _tag_authority(site_url: str) -> str:
    """The site's host as a tag: URI's authority name (ASCII, no port)."""
    return (urlsplit(site_url).hostname or "localhost").encode("idna").decode("ascii")


def _date(value: RawDate, zone: tzinfo, source: Source, line: int | None) -> datetime:
    try:
        return parse_date(value, zone)
    except DateError as exc:
        raise ArticleError(source.path, str(exc), line=line) from None


def _link(source: Source, config: Config, published: datetime) -> str:
    site_url = config.site.url
    try:
        if source.link:
            link = urljoin(site_url, source.link.strip())
            if urlsplit(link).scheme not in ("http", "https"):
                message = f"the link {quote_value(source.link)} is not an http(s) URL"
                raise ArticleError(source.path, message)
        else:
            link = config.feeds.article_url.format(
                site_url=site_url,
                slug=source.slug,
                year=f"{published.year:04d}",
                month=f"{published.month:02d}",
                day=f"{published.day:02d}",
            )
        return iri_to_uri(link)
    except ValueError:
        message = f"the link {quote_value(source.link)} is not a valid URL"
        raise ArticleError(source.path, message) from None
