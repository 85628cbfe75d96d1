from __future__ import annotations

import re
from dataclasses import replace

import feedparser
import pytest
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc.formats.atom import write_atom
from feedsvc.formats.atomlink import Link
from feedsvc.formats.feedgen_ext import FeedLinks
from feedsvc.formats.rss import write_rss
from tests.feedcheck import ATOM, check_atom, check_rss
from tests.test_formats import SITE, make_feed

# RFC 5005's archive links stand for any rel feedgen would not write in RSS.
LINKS = (
    Link(SITE + "feed.xml", "self", "application/rss+xml"),
    Link("https://hub.example/", "hub"),
    Link(SITE + "archive/2025-05.xml", "prev-archive"),
    Link(SITE + "feed.xml", "current"),
)
PLAIN_TEXT = re.compile(rb"<(title|description|category|dc:creator)>([^<]*)</\1>")


def generator_with_links(links: tuple[Link, ...]) -> FeedGenerator:
    generator = FeedGenerator()
    generator.register_extension("feed_links", FeedLinks)
    generator.feed_links.links(links)
    generator.id(SITE)
    generator.title("T")
    generator.description("D")
    generator.link(href=SITE, rel="alternate")
    return generator


def test_feed_links_of_any_rel_are_written_in_rss_in_order() -> None:
    rss = generator_with_links(LINKS).rss_str()
    channel = etree.fromstring(rss).find("channel")
    written = [
        (ln.get("href"), ln.get("rel"), ln.get("type")) for ln in channel.iter(f"{ATOM}link")
    ]
    assert written == [(ln.href, ln.rel, ln.type) for ln in LINKS]
    assert channel.findtext("link") == SITE
    assert [ln.rel for ln in feedparser.parse(rss).feed.links if ln.rel != "alternate"] == [
        ln.rel for ln in LINKS
    ]


def test_feed_links_come_before_the_site_link_in_atom() -> None:
    root = etree.fromstring(generator_with_links(LINKS).atom_str())
    written = [(ln.get("href"), ln.get("rel")) for ln in root.findall(f"{ATOM}link")]
    assert written == [*((ln.href, ln.rel) for ln in LINKS), (SITE, "alternate")]


def test_rss_hub_links_sit_beside_the_self_link() -> None:
    feed = make_feed(hubs=("https://a.example/", "https://b.example/"))
    channel = check_rss(write_rss(feed, SITE + "rss.xml"), SITE + "rss.xml").find("channel")
    tags = [etree.QName(child).localname for child in channel if child.tag != "item"]
    assert tags[:6] == ["title", "link", "description", "link", "link", "link"]
    assert [ln.get("rel") for ln in channel.findall(f"{ATOM}link")] == ["self", "hub", "hub"]


def test_atom_entry_links_are_marked_alternate() -> None:
    atom = write_atom(make_feed(), SITE + "atom.xml")
    root = check_atom(atom, SITE + "atom.xml")
    links = root.findall(f"{ATOM}entry/{ATOM}link")
    assert [ln.get("rel") for ln in links] == ["alternate"] * len(make_feed().entries)
    assert [e.links[0].rel for e in feedparser.parse(atom).entries] == ["alternate"] * 3


@pytest.mark.parametrize("text", ["&", "<", "&&<<", "& start", "end <", "a&b<c>d"])
def test_rss_plain_text_holds_character_references_not_escapes(text: str) -> None:
    feed = make_feed(count=2)
    with_summary = replace(feed.entries[0], title=text, summary=text, tags=(text,), author=text)
    with_body_only = replace(feed.entries[1], title=text, summary="")
    rss = write_rss(
        replace(feed, title=text, description=text, entries=(with_summary, with_body_only)),
        SITE + "rss.xml",
    )
    elements = PLAIN_TEXT.findall(rss)
    assert sorted({tag for tag, _ in elements}) == [
        b"category",
        b"dc:creator",
        b"description",
        b"title",
    ]
    for _, content in elements:
        assert b"&amp;" not in content and b"&lt;" not in content
    channel = check_rss(rss, SITE + "rss.xml").find("channel")
    assert channel.findtext("title") == channel.findtext("description") == text
    first, second = channel.findall("item")
    assert first.findtext("category") == first.findtext("title") == text
    assert second.findtext("description") == with_body_only.content_html
