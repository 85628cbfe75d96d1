"""A Feed as an Atom 1.0 document (RFC 4287)."""

from __future__ import annotations

import html

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator

from feedsvc import __version__
from feedsvc.formats.atomlink import feed_links
from feedsvc.formats.feedgen_ext import AlternateEntryLinks, ArchiveMark, FeedLinks
from feedsvc.formats.updated import distinct_updated, feed_updated
from feedsvc.model import ATOM_TYPE, Feed


def write_atom(feed: Feed, self_url: str) -> bytes:
    """Atom 1.0 with self, hub and alternate links; each entry's link marked rel="alternate"."""
    generator = FeedGenerator()
    generator.register_extension("feed_links", FeedLinks, atom=True, rss=False)
    generator.register_extension(
        "entry_links", BaseExtension, AlternateEntryLinks, atom=True, rss=False
    )
    generator.feed_links.links(feed_links(feed, self_url, ATOM_TYPE))
    if feed.archive:
        generator.register_extension("archive", ArchiveMark, atom=True, rss=False)
    generator.id(feed.feed_id or feed.home_url)
    generator.title(feed.title)
    generator.updated(feed_updated(feed))
    generator.author({"name": feed.author})
    generator.link(href=feed.home_url, rel="alternate")
    generator.generator("feedsvc", version=__version__)
    generator.subtitle(feed.description)
    generator.language(feed.language)
    for entry in feed.entries:
        item = generator.add_entry(order="append")
        item.id(entry.entry_id)
        item.title(entry.title)
        item.updated(distinct_updated(entry))
        if entry.author:
            item.author(name=entry.author)
        has_content = bool(entry.content_html.strip())
        if has_content:
            item.content(entry.content_html, type="html")
        item.link(href=entry.link, rel="alternate")
        # The plain-text summary goes in as escaped HTML, as declared: literal text such as
        # "a < b" or "&amp;" then reads the same in every reader. An entry needs some text:
        # with no summary and no body, its title.
        if entry.summary or not has_content:
            item.summary(html.escape(entry.summary or entry.title, quote=False), type="html")
        for tag in entry.tags:
            item.category(term=tag)
        item.published(entry.published)
    return generator.atom_str(pretty=True)
