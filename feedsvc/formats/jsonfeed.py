"""A Feed as a JSON Feed 1.1 document."""

from __future__ import annotations

import json
from datetime import datetime

from feedsvc.model import Feed

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def write_json(feed: Feed, self_url: str) -> bytes:
    """JSON Feed 1.1, hubs advertised as WebSub.

    Archives page with ``next_url`` (to the next older page). A page's ``feed_url`` is the
    feed it belongs to (its ``current`` link): JSON Feed takes that URL as the feed's identity.
    """
    links = {link.rel: link.href for link in feed.links}
    document: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": links.get("current", self_url),
        "description": feed.description,
        "language": feed.language,
        "authors": [{"name": feed.author}],
    }
    if "prev-archive" in links:
        document["next_url"] = links["prev-archive"]
    if feed.hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in feed.hubs]
    document["items"] = [
        {
            "id": entry.entry_id,
            "url": entry.link,
            "title": entry.title,
            "content_html": entry.content_html,
            **({"summary": entry.summary} if entry.summary else {}),
            "date_published": _rfc3339(entry.published),
            "date_modified": _rfc3339(entry.updated),
            **({"tags": list(entry.tags)} if entry.tags else {}),
            **({"authors": [{"name": entry.author}]} if entry.author else {}),
        }
        for entry in feed.entries
    ]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat()
