"""The feed formats by the names FeedSpec.format uses, each a writer of a Feed's bytes."""

from __future__ import annotations

from collections.abc import Callable

from feedsvc.formats.atom import write_atom
from feedsvc.formats.jsonfeed import write_json
from feedsvc.formats.rss import write_rss
from feedsvc.model import Feed

Writer = Callable[[Feed, str], bytes]

WRITERS: dict[str, Writer] = {"rss": write_rss, "atom": write_atom, "json": write_json}


def write_feed(format: str, feed: Feed, self_url: str) -> bytes:
    """The bytes of ``feed`` as a document in ``format``, linking to itself at ``self_url``."""
    return WRITERS[format](feed, self_url)
