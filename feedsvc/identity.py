"""What identifies an article in a feed for life: its entry id (its own, else a tag: URI
from the site's host, the site's tag date and its slug) and its link. Once published, an id
is kept by the ledger (feedsvc.ledger) whatever these come to say."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit

from feedsvc.config import Config
from feedsvc.errors import ArticleError, quote_value
from feedsvc.iri import iri_to_uri
from feedsvc.model import Source

ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
TAG_SPECIFIC_SAFE = "/-._~!$&'()*+,;=:@"


def entry_id(source: Source, site_url: str, tag_date: str) -> str:
    """The id an article is first published under: its own, else a tag: URI (RFC 4151) from
    the site's host, ``tag_date`` (``[site] tag_date``) and the slug.

    Built from nothing that an edit of the body, the title or the publish date changes.
    """
    given = source.entry_id.strip() if source.entry_id else ""
    if given.lower().startswith("urn:uuid:"):
        try:
            uuid.UUID(given[len("urn:uuid:") :])
        except ValueError as exc:
            message = f"the id {quote_value(given)} is not a valid UUID"
            raise ArticleError(source.path, message, show_cause=False) from exc
    if ABSOLUTE_IRI.fullmatch(given):
        try:
            return iri_to_uri(given)
        except ValueError as exc:
            message = f"the id {quote_value(given)} is not a valid URI"
            raise ArticleError(source.path, message, show_cause=False) from exc
    host = _tag_authority(site_url)
    specific = quote(given or source.slug, safe=TAG_SPECIFIC_SAFE)
    return f"tag:{host},{tag_date}:{specific}"


@lru_cache(maxsize=16)
def _tag_authority(site_url: str) -> str:
    """The site's host as a tag: URI's authority name (ASCII, no port)."""
    return (urlsplit(site_url).hostname or "localhost").encode("idna").decode("ascii")


def article_link(source: Source, config: Config, published: datetime) -> str:
    """The article's own link, else one from ``[feeds] article_url``; an ASCII http(s) URI."""
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
    except ValueError as exc:
        message = f"the link {quote_value(source.link)} is not a valid URL"
        raise ArticleError(source.path, message, show_cause=False) from exc
