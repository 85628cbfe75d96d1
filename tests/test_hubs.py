"""Feeds advertise each WebSub hub from [ping] websub_hubs beside their self link."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from feedsvc.build import build
from feedsvc.config import config_from_dict

ATOM = "{http://www.w3.org/2005/Atom}"
HUBS = ["https://hub-one.example.net/", "https://hub-two.example.net/publish"]


def publish(tmp_path: Path, hubs: list[str]) -> Path:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "story.md").write_text("# Story\n\nText.\n\n---\n\nPublished: 2025-06-02\n")
    data = {
        "site": {"title": "Example News", "url": "https://news.example.org/"},
        "articles": {"dir": "articles"},
        "feeds": {"output": "public"},
        "ping": {"websub_hubs": hubs},
    }
    build(config_from_dict(data, tmp_path))
    return tmp_path / "public"


def links(element: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for link in element.iterfind(f"{ATOM}link"):
        found.setdefault(link.get("rel"), []).append(link.get("href"))
    return found


def test_rss_has_hub_and_self_links_and_keeps_channel_link(tmp_path: Path) -> None:
    channel = etree.parse(publish(tmp_path, HUBS) / "rss.xml").getroot().find("channel")
    found = links(channel)
    assert found["hub"] == HUBS
    assert found["self"] == ["https://news.example.org/rss.xml"]
    assert channel.findtext("link") == "https://news.example.org/"


def test_atom_has_hub_and_self_links(tmp_path: Path) -> None:
    feed = etree.parse(publish(tmp_path, HUBS) / "atom.xml").getroot()
    found = links(feed)
    assert found["hub"] == HUBS
    assert found["self"] == ["https://news.example.org/atom.xml"]
    assert found["alternate"] == ["https://news.example.org/"]


def test_json_feed_lists_hubs(tmp_path: Path) -> None:
    document = json.loads((publish(tmp_path, HUBS) / "feed.json").read_text())
    assert document["hubs"] == [{"type": "WebSub", "url": hub} for hub in HUBS]


def test_no_hubs_no_hub_links(tmp_path: Path) -> None:
    public = publish(tmp_path, [])
    assert "hub" not in links(etree.parse(public / "rss.xml").getroot().find("channel"))
    assert "hubs" not in json.loads((public / "feed.json").read_text())
