"""The feed-level links RSS and Atom both carry as Atom link elements (RFC 4287, 4.2.7)."""

from __future__ import annotations

from dataclasses import dataclass

from feedsvc.model import Feed

ATOM_NS = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class Link:
    """A link from the feed to another document, and what that document is to it."""

    href: str
    rel: str
    type: str | None = None


def feed_links(feed: Feed, self_url: str, media_type: str) -> tuple[Link, ...]:
    """The feed's links beyond its site's: itself first, then each WebSub hub.

    A link to add to both formats (RFC 5005's archive links, say) is one more item here.
    """
    return (Link(self_url, "self", media_type), *(Link(hub, "hub") for hub in feed.hubs))
