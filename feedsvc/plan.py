"""What each feed holds: a pure decision over articles and the clock, with no I/O."""

from __future__ import annotations

from feedsvc.config import Config
from feedsvc.model import ATOM_TYPE, JSON_TYPE, RSS_TYPE, ArtifactKind, FeedSpec


def subscription_feeds(config: Config) -> tuple[FeedSpec, ...]:
    """The files of the feed readers subscribe to, one per format, at the output's root."""
    del config  # every site has the same three today; tag and author feeds will read it
    return (
        FeedSpec("rss.xml", "rss", RSS_TYPE, ArtifactKind.SUBSCRIPTION),
        FeedSpec("atom.xml", "atom", ATOM_TYPE, ArtifactKind.SUBSCRIPTION),
        FeedSpec("feed.json", "json", JSON_TYPE, ArtifactKind.SUBSCRIPTION),
    )
