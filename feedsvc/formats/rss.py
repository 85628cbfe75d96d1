"""A Feed to the bytes of RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable
from datetime import datetime

from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc import __version__
from feedsvc.model import ATOM_TYPE, RSS_TYPE, Entry, Feed

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# RSS elements holding plain text, as lxml writes them (an item's description is HTML that
# holds no raw markup once escaped, so it may take the same references).
RSS_PLAIN_TEXT = re.compile(rb"<(title|description|category|dc:creator)>([^<]*)</\1>")


def render_rss(feed: Feed, self_url: str) -> bytes:
    """RSS 2.0 with content:encoded, opaque guids, and atom:link self (and hub) links.

    Follows the RSS Profile where RSS 2.0 is vague: an item's description is HTML, so the
    plain-text summary goes in HTML-escaped; plain-text elements carry '&' and '<' as
    hexadecimal character references, which no reader can take for markup.
    """
    generator = _generator(feed, self_url, RSS_TYPE)
    document = generator.rss_str(pretty=True)
    if feed.hubs:
        document = _add_rss_hubs(document, feed.hubs)
    return RSS_PLAIN_TEXT.sub(_hex_references, document)


def render_atom(feed: Feed, self_url: str) -> bytes:
    """Atom 1.0 (RFC 4287), each entry's link marked rel="alternate" explicitly."""
    root = etree.fromstring(_generator(feed, self_url, ATOM_TYPE).atom_str())
    # feedgen 1.0 drops the rel of entry links (it reads the attribute off the new element).
    for link in root.iterfind(f"{{{ATOM_NS}}}entry/{{{ATOM_NS}}}link"):
        link.set("rel", "alternate")
    return _serialise(root)


def render_json(feed: Feed, self_url: str) -> bytes:
    """JSON Feed 1.1."""
    document: dict[str, object] = {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": feed.home_url,
        "feed_url": self_url,
        "description": feed.description,
        "language": feed.language,
        "authors": [{"name": feed.author}],
    }
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


# How each of the feed files (model.FEED_FILES) is written.
RENDERERS: dict[str, Callable[[Feed, str], bytes]] = {
    "rss.xml": render_rss,
    "atom.xml": render_atom,
    "feed.json": render_json,
}


def _generator(feed: Feed, self_url: str, self_type: str) -> FeedGenerator:
    generator = FeedGenerator()
    generator.load_extension("dc", atom=False, rss=True)
    generator.id(feed.home_url)
    generator.title(feed.title)
    generator.description(feed.description)
    generator.language(feed.language)
    generator.author({"name": feed.author})
    generator.generator("feedsvc", version=__version__)
    # feedgen makes the RSS channel link the last link added: the alternate one goes last.
    generator.link(href=self_url, rel="self", type=self_type)
    for hub in feed.hubs:
        generator.link(href=hub, rel="hub")
    generator.link(href=feed.home_url, rel="alternate")
    generator.updated(max([feed.updated, *(_distinct_updated(e) for e in feed.entries)]))
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.id(entry.entry_id)
        item.guid(entry.entry_id, permalink=False)
        item.title(entry.title)
        item.link(href=entry.link, rel="alternate")
        item.published(entry.published)
        item.updated(_distinct_updated(entry))
        has_content = bool(entry.content_html.strip())
        # The plain-text summary goes in as escaped HTML, which both formats declare it to be:
        # literal text such as "a < b" or "&amp;" then reads the same in every reader.
        if self_type == RSS_TYPE and entry.summary:
            item.description(html.escape(entry.summary, quote=False))
        elif self_type == ATOM_TYPE and (entry.summary or not has_content):
            # An Atom entry needs some text: with no summary and no body, its title.
            summary = entry.summary or entry.title
            item.summary(html.escape(summary, quote=False), type="html")
        if has_content:
            item.content(entry.content_html, type="html")
        for tag in entry.tags:
            item.category(term=tag)
        if entry.author:
            item.author(name=entry.author)
            item.dc.dc_creator(entry.author)
    return generator


def _distinct_updated(entry: Entry) -> datetime:
    """The entry's updated time, given a fraction of a second drawn from its id if it has none.

    Readers and the W3C validator (DuplicateUpdated) want no two entries to share an updated
    value, and articles dated by day alone always would. The fraction is below a second and
    depends on the id alone, so no entry's value ever moves, whatever else is in the feed.
    """
    if entry.updated.microsecond:
        return entry.updated
    digest = hashlib.blake2b(entry.entry_id.encode("utf-8"), digest_size=4).digest()
    return entry.updated.replace(microsecond=int.from_bytes(digest, "big") % 999_999 + 1)


def _hex_references(match: re.Match[bytes]) -> bytes:
    text = match.group(2).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
    return b"<%s>%s</%s>" % (match.group(1), text, match.group(1))


def _add_rss_hubs(document: bytes, hubs: tuple[str, ...]) -> bytes:
    """feedgen writes only the self atom:link in RSS; WebSub needs the hub links there too."""
    root = etree.fromstring(document)
    channel = root.find("channel")
    self_link = channel.find(f"{{{ATOM_NS}}}link")
    position = list(channel).index(self_link) + 1
    for offset, hub in enumerate(hubs):
        link = etree.Element(f"{{{ATOM_NS}}}link", href=hub, rel="hub")
        channel.insert(position + offset, link)
    return _serialise(root)


def _serialise(root: etree._Element) -> bytes:
    etree.indent(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat()
