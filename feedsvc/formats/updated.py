"""The updated times RSS and Atom state: distinct for each entry, and the same at every build."""

from __future__ import annotations

import hashlib
from datetime import datetime

from feedsvc.model import Entry, Feed


def distinct_updated(entry: Entry) -> datetime:
    """The entry's updated time, given a fraction of a second drawn from its id if it has none.

    Readers and the W3C validator (DuplicateUpdated) want no two entries to share an updated
    value, and articles dated by day alone always would. The fraction is below a second and
    depends on the id alone, so no entry's value ever moves, whatever else is in the feed.
    """
    if entry.updated.microsecond:
        return entry.updated
    digest = hashlib.blake2b(entry.entry_id.encode("utf-8"), digest_size=4).digest()
    return entry.updated.replace(microsecond=int.from_bytes(digest, "big") % 999_999 + 1)


def feed_updated(feed: Feed) -> datetime:
    """The feed's own updated time: its newest entry's, never the clock, so rebuilds match."""
    return max([feed.updated, *(distinct_updated(entry) for entry in feed.entries)])
