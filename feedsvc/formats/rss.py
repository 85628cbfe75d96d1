"""A Feed as an RSS 2.0 document, following the RSS Profile where RSS 2.0 is vague."""

from __future__ import annotations

import html
import re
from email.utils import format_datetime

from lxml import etree

from feedsvc.formats.atomlink import ATOM_NS, append_links, feed_links
from feedsvc.formats.updated import feed_updated
from feedsvc.model import RSS_TYPE, Entry, Feed

DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
NAMESPACES = {"dc": DC_NS, "atom": ATOM_NS, "content": CONTENT_NS}  # declared on <rss>
DOCS = "http://www.rssboard.org/rss-specification"
MARKUP = re.compile("([&<])")
REFERENCES = {"&": "#x26", "<": "#x3C"}


def write_rss(feed: Feed, self_url: str) -> bytes:
    """RSS 2.0 with content:encoded, opaque guids, and atom:link self (and hub) links.

    An item's description is HTML (RSS Profile), so the plain-text summary goes in escaped:
    literal text such as "a < b" or "&amp;" then reads the same in every reader.
    """
    rss = etree.Element("rss", nsmap=NAMESPACES, version="2.0")
    channel = etree.SubElement(rss, "channel")
    _character_data(channel, "title", feed.title)
    etree.SubElement(channel, "link").text = feed.home_url
    _character_data(channel, "description", feed.description)
    append_links(channel, feed_links(feed, self_url, RSS_TYPE))
    etree.SubElement(channel, "docs").text = DOCS
    etree.SubElement(channel, "generator").text = "feedsvc"
    etree.SubElement(channel, "language").text = feed.language
    # email.utils writes RFC 822 dates with English day and month names, whatever the locale.
    etree.SubElement(channel, "lastBuildDate").text = format_datetime(feed_updated(feed))
    for entry in feed.entries:
        _append_item(channel, entry)
    return etree.tostring(rss, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _append_item(channel: etree._Element, entry: Entry) -> None:
    item = etree.SubElement(channel, "item")
    _character_data(item, "title", entry.title)
    etree.SubElement(item, "link").text = entry.link
    has_content = bool(entry.content_html.strip())
    if entry.summary:
        _character_data(item, "description", html.escape(entry.summary, quote=False))
        if has_content:
            etree.SubElement(item, f"{{{CONTENT_NS}}}encoded").text = entry.content_html
    elif has_content:
        _character_data(item, "description", entry.content_html)
    guid = etree.SubElement(item, "guid", isPermaLink="false")
    guid.text = entry.entry_id
    for tag in entry.tags:
        _character_data(item, "category", tag)
    etree.SubElement(item, "pubDate").text = format_datetime(entry.published)
    if entry.author:
        _character_data(item, f"{{{DC_NS}}}creator", entry.author)


def _character_data(parent: etree._Element, tag: str, text: str) -> None:
    """An element holding ``text`` with each '&' and '<' as a hexadecimal character reference.

    The RSS Profile asks for these in plain text, where no reader can take them for markup
    (the escaped HTML of a description takes them too). lxml always escapes text as '&amp;'
    and '&lt;'; an ``etree.Entity`` node is written as the very reference it names, so the
    text goes in as runs of text between such nodes.
    """
    element = etree.SubElement(parent, tag)
    text, *rest = MARKUP.split(text)
    element.text = text
    for character, following in zip(rest[::2], rest[1::2], strict=True):
        reference = etree.Entity(REFERENCES[character])
        reference.tail = following
        element.append(reference)
