"""A Feed as an RSS 2.0 document, following the RSS Profile where RSS 2.0 is vague."""

from __future__ import annotations

import html

from feedgen.feed import FeedGenerator

from feedsvc.formats.atomlink import feed_links
from feedsvc.formats.feedgen_ext import (
    ArchiveMark,
    ChannelCharacterReferences,
    FeedLinks,
    ItemCharacterReferences,
)
from feedsvc.formats.updated import feed_updated
from feedsvc.model import RSS_TYPE, Feed


def write_rss(feed: Feed, self_url: str) -> bytes:
    """RSS 2.0 with content:encoded, opaque guids, and atom:link self (and hub) links.

    An item's description is HTML (RSS Profile), so the plain-text summary goes in escaped:
    literal text such as "a < b" or "&amp;" then reads the same in every reader.
    """
    generator = FeedGenerator()
    generator.load_extension("dc", atom=False, rss=True)
    generator.register_extension(
        "character_references",
        ChannelCharacterReferences,
        ItemCharacterReferences,
        atom=False,
        rss=True,
    )
    generator.register_extension("feed_links", FeedLinks, atom=False, rss=True)
    generator.feed_links.links(feed_links(feed, self_url, RSS_TYPE))
    if feed.archive:
        generator.register_extension("archive", ArchiveMark, atom=False, rss=True)
    generator.title(feed.title)
    generator.link(href=feed.home_url, rel="alternate")
    generator.description(feed.description)
    generator.generator("feedsvc")
    generator.language(feed.language)
    generator.lastBuildDate(feed_updated(feed))
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.guid(entry.entry_id, permalink=False)
        item.title(entry.title)
        item.link(href=entry.link, rel="alternate")
        item.published(entry.published)
        if entry.summary:
            item.description(html.escape(entry.summary, quote=False))
        # With a summary the body is content:encoded; without, feedgen makes it the description.
        if entry.content_html.strip():
            item.content(entry.content_html, type="html")
        for tag in entry.tags:
            item.category(term=tag)
        if entry.author:
            item.dc.dc_creator(entry.author)
    return generator.rss_str(pretty=True)
