"""Which notifications a change owes, and keeping them owed in the catalog until an outcome is
final: each WebSub hub hears about each changed feed, each ping service once about the RSS
feed. Pure but for the catalog write; sending is `feedsvc.ping`'s job."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from feedsvc.catalog.records import add_pending, remove_pending
from feedsvc.config import Config
from feedsvc.errors import FeedsvcError
from feedsvc.model import RSS_TYPE, ArtifactKind, Manifest, Notification
from feedsvc.plan import subscription_feeds

# Archive pages are not subscribed to: a change there is announced by the feed linking them.
ANNOUNCED = frozenset({ArtifactKind.SUBSCRIPTION, ArtifactKind.TOPIC})
log = logging.getLogger("feedsvc.ping")


def feed_urls(config: Config, paths: Iterable[str]) -> list[str]:
    """The public URLs of the published files at ``paths``: their self links and topics."""
    return [config.feed_url(path) for path in paths]


def announced_paths(manifest: Manifest, *, changed_only: bool = True) -> list[str]:
    """The paths of the feeds ``manifest`` lists that subscribers follow (of those its
    publish changed, unless ``changed_only`` is false)."""
    changed = set(manifest.changed)
    return [
        artifact.path
        for artifact in manifest.artifacts
        if artifact.kind in ANNOUNCED and (not changed_only or artifact.path in changed)
    ]


def notifications_for(config: Config, topics: Iterable[str]) -> list[Notification]:
    """What to send when the feeds at the URLs ``topics`` changed."""
    topics = list(topics)
    messages = [
        Notification("websub", hub, topic) for hub in config.ping.websub_hubs for topic in topics
    ]
    if topics:
        rss_url = _rss_url(config)
        messages += [Notification("xmlrpc", server, rss_url) for server in config.ping.xmlrpc]
    return messages


def owe(config: Config, topics: Iterable[str]) -> None:
    """Keep in the catalog what the feeds at the URLs ``topics`` are to announce, before they
    are published: a kill after this loses no ping (the daemon's next start, or
    `feedsvc ping`, sends it). Failing to is a warning, never a failed publish."""
    messages = notifications_for(config, topics)
    if not messages:
        return
    try:
        add_pending(config.state_path, messages)
    except FeedsvcError as error:
        log.warning("cannot keep the pending ping in the state file: %s", error)


def take_back(config: Config, topics: Iterable[str], kept: Iterable[str]) -> None:
    """Forget what ``owe`` kept for the feeds at the URLs ``topics`` that the feeds at
    ``kept`` do not owe as well: their change was not this publisher's to announce. Failing
    to is a warning (the ping is then sent once more)."""
    needed = set(notifications_for(config, kept))
    try:
        for message in notifications_for(config, topics):
            if message not in needed:
                remove_pending(config.state_path, message)
    except FeedsvcError as error:
        log.warning("cannot take back the pending ping in the state file: %s", error)


def _rss_url(config: Config) -> str:
    """The URL ping services are told of: the subscription RSS feed's."""
    spec = next(spec for spec in subscription_feeds(config) if spec.media_type == RSS_TYPE)
    return config.feed_url(spec.path)
