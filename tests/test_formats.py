from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from lxml import etree

from feedsvc.config import Config
from feedsvc.formats import write_feed
from feedsvc.formats.atom import write_atom
from feedsvc.formats.jsonfeed import write_json
from feedsvc.formats.rss import write_rss
from feedsvc.model import Entry, Feed
from feedsvc.plan import subscription_feeds
from tests.feedcheck import ATOM, CONTENT, check_atom, check_json, check_rss

SITE = "https://news.example.org/"
START = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


def make_feed(count: int = 3, hubs: tuple[str, ...] = ()) -> Feed:
    entries = tuple(
        Entry(
            entry_id=f"tag:news.example.org,2025-06-02:story-{n}",
            link=f"{SITE}story-{n}/",
            title=f"Story {n} & more",
            published=START - timedelta(days=n),
            updated=START - timedelta(days=n) + timedelta(hours=1),
            summary=f"Summary {n}.",
            content_html=f'<p>Body {n} with <a href="{SITE}x/">a link</a>.</p>',
            tags=("politics", "europe") if n % 2 else (),
            author="Ana Author" if n == 0 else None,
        )
        for n in range(count)
    )
    return Feed(
        title="Example News",
        home_url=SITE,
        description="News.",
        language="en",
        author="Desk",
        updated=max(e.updated for e in entries),
        entries=entries,
        hubs=hubs,
    )


def test_rss_follows_the_rules() -> None:
    root = check_rss(write_rss(make_feed(), SITE + "rss.xml"), SITE + "rss.xml")
    channel = root.find("channel")
    assert channel.findtext("link") == SITE
    assert channel.findtext("lastBuildDate") == "Mon, 02 Jun 2025 10:30:00 +0000"
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == [
        "Story 0 & more",
        "Story 1 & more",
        "Story 2 & more",
    ]
    assert [c.text for c in items[1].findall("category")] == ["politics", "europe"]
    assert items[0].findtext("description") == "Summary 0."
    assert items[0].findtext("{http://purl.org/dc/elements/1.1/}creator") == "Ana Author"


def test_atom_follows_the_rules() -> None:
    root = check_atom(write_atom(make_feed(), SITE + "atom.xml"), SITE + "atom.xml")
    assert root.findtext(f"{ATOM}updated").startswith("2025-06-02T10:30:00.")
    entry = root.find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}published") == "2025-06-02T09:30:00+00:00"
    assert entry.findtext(f"{ATOM}summary") == "Summary 0."
    assert entry.find(f"{ATOM}author/{ATOM}name").text == "Ana Author"
    alternate = [ln for ln in root.findall(f"{ATOM}link") if ln.get("rel") == "alternate"]
    assert alternate[0].get("href") == SITE


def test_json_feed_follows_the_rules() -> None:
    feed = check_json(write_json(make_feed(), SITE + "feed.json"), SITE + "feed.json")
    assert [item["title"] for item in feed["items"]][0] == "Story 0 & more"
    assert feed["items"][1]["tags"] == ["politics", "europe"]
    assert feed["items"][0]["authors"] == [{"name": "Ana Author"}]
    assert "hubs" not in feed


@pytest.mark.parametrize(
    "hubs", [("https://hub.example/",), ("https://a.example/", "https://b.example/")]
)
def test_hubs_are_advertised_without_taking_the_channel_link(hubs: tuple[str, ...]) -> None:
    feed = make_feed(hubs=hubs)
    rss = check_rss(write_rss(feed, SITE + "rss.xml"), SITE + "rss.xml").find("channel")
    assert rss.findtext("link") == SITE
    assert [ln.get("href") for ln in rss.findall(f"{ATOM}link") if ln.get("rel") == "hub"] == list(
        hubs
    )
    atom = check_atom(write_atom(feed, SITE + "atom.xml"), SITE + "atom.xml")
    assert [ln.get("href") for ln in atom.findall(f"{ATOM}link") if ln.get("rel") == "hub"] == list(
        hubs
    )
    assert check_json(write_json(feed, SITE + "feed.json"), SITE + "feed.json")["hubs"] == [
        {"type": "WebSub", "url": hub} for hub in hubs
    ]


def test_output_is_deterministic() -> None:
    for write in (write_rss, write_atom, write_json):
        assert write(make_feed(), SITE + "f") == write(make_feed(), SITE + "f")


def test_an_empty_feed_is_valid() -> None:
    empty = Feed("T", SITE, "D", "en", "A", datetime(1970, 1, 1, tzinfo=UTC), ())
    check_rss(write_rss(empty, SITE + "rss.xml"), SITE + "rss.xml")
    check_atom(write_atom(empty, SITE + "atom.xml"), SITE + "atom.xml")
    check_json(write_json(empty, SITE + "feed.json"), SITE + "feed.json")


def test_readers_see_the_same_entries_in_every_format() -> None:
    feed = make_feed()
    rss = feedparser.parse(write_rss(feed, SITE + "rss.xml"))
    atom = feedparser.parse(write_atom(feed, SITE + "atom.xml"))
    assert (
        [e.id for e in rss.entries]
        == [e.id for e in atom.entries]
        == [e.entry_id for e in feed.entries]
    )
    assert [e.link for e in rss.entries] == [e.link for e in atom.entries]


def test_atom_updated_values_are_distinct_and_stable_for_same_day_articles() -> None:
    day = datetime(2025, 6, 2, tzinfo=UTC)
    feed = make_feed(count=20)
    same_day = Feed(
        **{
            **feed.__dict__,
            "updated": day,
            "entries": tuple(replace(e, updated=day) for e in feed.entries),
        }
    )
    root = check_atom(write_atom(same_day, SITE + "atom.xml"), SITE + "atom.xml")
    values = [e.findtext(f"{ATOM}updated") for e in root.findall(f"{ATOM}entry")]
    assert len(set(values)) == len(values)
    assert all(value.startswith("2025-06-02T00:00:00.") for value in values)
    assert root.findtext(f"{ATOM}updated") == max(values)
    fewer = Feed(**{**same_day.__dict__, "entries": same_day.entries[5:]})
    again = check_atom(write_atom(fewer, SITE + "atom.xml"), SITE + "atom.xml")
    assert [e.findtext(f"{ATOM}updated") for e in again.findall(f"{ATOM}entry")] == values[5:]


def test_rss_plain_text_follows_the_rss_profile() -> None:
    feed = make_feed(count=1)
    entry = replace(feed.entries[0], title="A <b> & C", summary="x < y & z", tags=("R&D",))
    rss = write_rss(Feed(**{**feed.__dict__, "entries": (entry,)}), SITE + "rss.xml")
    assert b"<title>A &#x3C;b&gt; &#x26; C</title>" in rss
    assert b"<category>R&#x26;D</category>" in rss
    item = check_rss(rss, SITE + "rss.xml").find("channel/item")
    assert item.findtext("title") == "A <b> & C"
    assert item.findtext("description") == "x &lt; y &amp; z"  # HTML, as readers take it
    parsed = feedparser.parse(rss).entries[0]
    assert parsed.title == "A <b> & C"


def test_atom_summary_is_declared_html_holding_the_escaped_text() -> None:
    feed = make_feed(count=1)
    entry = replace(feed.entries[0], summary="x < y & &amp;")
    atom = write_atom(Feed(**{**feed.__dict__, "entries": (entry,)}), SITE + "atom.xml")
    summary = check_atom(atom, SITE + "atom.xml").find(f"{ATOM}entry/{ATOM}summary")
    assert summary.get("type") == "html"
    assert summary.text == "x &lt; y &amp; &amp;amp;"


def test_an_atom_entry_without_text_takes_its_title_as_summary() -> None:
    feed = make_feed(count=1)
    entry = replace(feed.entries[0], summary="", content_html="")
    atom = write_atom(Feed(**{**feed.__dict__, "entries": (entry,)}), SITE + "atom.xml")
    root = check_atom(atom, SITE + "atom.xml")
    assert root.find(f"{ATOM}entry/{ATOM}content") is None
    assert root.findtext(f"{ATOM}entry/{ATOM}summary") == "Story 0 &amp; more"


def test_write_feed_writes_each_format_the_plan_names(
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    checks = {"rss": check_rss, "atom": check_atom, "json": check_json}
    for spec in subscription_feeds(config):
        self_url = config.feed_url(spec.path)
        checks[spec.format](write_feed(spec.format, make_feed(), self_url), self_url)


@pytest.mark.parametrize("text", ["&", "<", "&&<<", "& at the start", "at the end <", "a&b<c>d"])
def test_rss_character_references_keep_the_text(text: str) -> None:
    feed = make_feed(count=1)
    entry = replace(feed.entries[0], title=text, tags=(text,), author=text)
    rss = write_rss(replace(feed, title=text, entries=(entry,)), SITE + "rss.xml")
    channel = check_rss(rss, SITE + "rss.xml").find("channel")
    item = channel.find("item")
    assert channel.findtext("title") == text
    assert item.findtext("title") == text
    assert item.findtext("category") == text
    assert item.findtext("{http://purl.org/dc/elements/1.1/}creator") == text
    assert feedparser.parse(rss).entries[0].title == text


def test_an_rss_item_without_summary_carries_its_body_as_description() -> None:
    feed = make_feed(count=1)
    entry = replace(feed.entries[0], summary="")
    rss = write_rss(replace(feed, entries=(entry,)), SITE + "rss.xml")
    item = check_rss(rss, SITE + "rss.xml").find("channel/item")
    assert item.findtext("description") == entry.content_html
    assert item.find(CONTENT) is None


@pytest.mark.parametrize("hubs", [(), ("https://a.example/?x=1&y=2", "https://b.example/")])
def test_feed_links_come_self_first_then_the_hubs(hubs: tuple[str, ...]) -> None:
    feed = make_feed(hubs=hubs)
    rss = etree.fromstring(write_rss(feed, SITE + "rss.xml")).find("channel")
    atom = etree.fromstring(write_atom(feed, SITE + "atom.xml"))
    expected = [("self", SITE + "rss.xml"), *(("hub", hub) for hub in hubs)]
    assert [(ln.get("rel"), ln.get("href")) for ln in rss.findall(f"{ATOM}link")] == expected
    assert [(ln.get("rel"), ln.get("href")) for ln in atom.findall(f"{ATOM}link")] == [
        ("self", SITE + "atom.xml"),
        *expected[1:],
        ("alternate", SITE),
    ]
    assert rss.findtext("link") == SITE
