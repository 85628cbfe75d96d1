"""The feed-level links RSS and Atom both carry as Atom link elements (RFC 4287, 4.2.7)."""

from __future__ import annotations

from feedsvc.model import Feed, Link

ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005's fh:archive


def feed_links(feed: Feed, self_url: str, media_type: str) -> tuple[Link, ...]:
    """The feed's links beyond its site's: itself first, then each WebSub hub, then its
    archive links (RFC 5005)."""
    return (
        Link(self_url, "self", media_type),
        *(Link(hub, "hub") for hub in feed.hubs),
        *feed.links,
    )
