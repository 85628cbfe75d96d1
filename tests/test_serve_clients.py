"""Real feed clients against `feedsvc serve` on 127.0.0.1: feedparser, reader, and a load run."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
from lxml import etree
from reader import make_reader

from feedsvc.serve.files import content_digest
from tests.servers import FeedsvcServer, Site, free_port

# The subscription feeds every site publishes (plan.subscription_feeds), as readers see them.
FEEDS = [
    ("rss.xml", "application/rss+xml"),
    ("atom.xml", "application/atom+xml"),
    ("feed.json", "application/feed+json"),
]
FEED_NAMES = [name for name, _ in FEEDS]
LOAD_REQUESTS = 3000
LOAD_WORKERS = 8
LOAD_PUBLISHES = 8


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = Site(tmp_path, free_port())
    for day in range(1, 3):
        site.write_article(f"story-{day}", f"Story {day}", f"First words of story {day}.", day)
    site.publish()
    return site


@pytest.fixture
def server(site: Site) -> Iterator[FeedsvcServer]:
    server = FeedsvcServer(site)
    yield server
    server.stop()


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_feedparser_gets_304_then_the_new_entry(server: FeedsvcServer, name: str) -> None:
    url = server.site.url + name
    first = feedparser.parse(url)
    assert first.status == 200 and len(first.entries) == 2
    again = feedparser.parse(url, etag=first.etag, modified=first.modified)
    assert again.status == 304 and again.entries == []
    by_date = feedparser.parse(url, modified=first.modified)
    assert by_date.status == 304

    server.site.write_article("story-3", "Story 3", "Fresh news.", 3)
    server.site.publish()
    after = feedparser.parse(url, etag=first.etag, modified=first.modified)
    assert after.status == 200
    assert [entry.title for entry in after.entries][0] == "Story 3"
    assert after.etag != first.etag


def test_reader_holds_each_article_once_through_edits_and_deletions(
    server: FeedsvcServer, tmp_path: Path
) -> None:
    site = server.site
    reader = make_reader(str(tmp_path / "reader.sqlite"))
    urls = [site.url + name for name in FEED_NAMES]
    for url in urls:
        reader.add_feed(url)
    reader.update_feeds(scheduled=False)

    for day in range(3, 6):
        site.write_article(f"story-{day}", f"Story {day}", f"First words of story {day}.", day)
        site.publish()
        reader.update_feeds(scheduled=False)
    reader.update_feeds(scheduled=False)  # nothing changed: answered 304
    site.write_article("story-2", "Story 2", "Corrected words of story 2.", 2)
    site.publish()
    reader.update_feeds(scheduled=False)
    (site.articles / "story-4.md").unlink()
    site.publish()
    reader.update_feeds(scheduled=False)

    for url in urls:
        feed = reader.get_feed(url)
        assert feed.last_exception is None, feed.last_exception
        entries = list(reader.get_entries(feed=url))
        ids = Counter(entry.id for entry in entries)
        assert len(ids) == 5 and set(ids.values()) == {1}, ids
        story_2 = next(entry for entry in entries if entry.title == "Story 2")
        texts = [content.value for content in story_2.content] + [story_2.summary or ""]
        assert any("Corrected words" in text for text in texts)
        assert not any("First words of story 2" in text for text in texts)
    served = httpx.get(site.url + "feed.json").json()
    assert "Story 4" not in {item["title"] for item in served["items"]}
    assert '" 304 ' in server.log


def test_load_run_while_publishing_has_no_errors_or_torn_bodies(
    server: FeedsvcServer, capsys: pytest.CaptureFixture[str]
) -> None:
    site = server.site
    stop_publishing = threading.Event()

    def publish_repeatedly() -> None:
        for day in range(3, 3 + LOAD_PUBLISHES):
            if stop_publishing.wait(0.05):
                return
            site.write_article(f"load-{day}", f"Load {day}", f"Words of load story {day}.", day)
            site.publish()

    async def worker(number: int, statuses: Counter[int], failures: list[str], quota: int) -> None:
        etags: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=site.url) as client:
            for i in range(quota):
                name = FEED_NAMES[(number + i) % len(FEED_NAMES)]
                coding = "gzip" if i % 3 == 0 else "identity"
                headers = {"Accept-Encoding": coding}
                if i % 2 and (name, coding) in etags:
                    headers["If-None-Match"] = etags[name, coding]
                response = await client.get(f"/{name}", headers=headers)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    etags[name, coding] = response.headers["etag"]
                    failures.extend(_torn(name, coding, response))
                elif response.status_code != 304:
                    failures.append(f"{name}: status {response.status_code}")

    async def load() -> tuple[Counter[int], list[str]]:
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        quota = LOAD_REQUESTS // LOAD_WORKERS
        await asyncio.gather(*(worker(n, statuses, failures, quota) for n in range(LOAD_WORKERS)))
        return statuses, failures

    publisher = threading.Thread(target=publish_repeatedly)
    started = time.perf_counter()
    publisher.start()
    try:
        statuses, failures = asyncio.run(load())
    finally:
        stop_publishing.set()
        publisher.join()
    elapsed = time.perf_counter() - started

    assert failures == []
    assert statuses[200] > 0 and statuses[304] > 0
    assert sum(statuses.values()) == LOAD_REQUESTS // LOAD_WORKERS * LOAD_WORKERS
    with capsys.disabled():
        print(
            f"\nload run: {sum(statuses.values())} requests in {elapsed:.2f} s "
            f"({sum(statuses.values()) / elapsed:.0f}/s, {LOAD_WORKERS} clients, httpx): "
            f"{statuses[200]} x 200, {statuses[304]} x 304"
        )


def _torn(name: str, coding: str, response: httpx.Response) -> list[str]:
    """What is wrong with a 200: a body that does not parse or does not match its ETag."""
    body = response.content  # httpx has already undone the gzip coding
    suffix = "" if coding == "identity" else f"-{coding}"
    problems = []
    if response.headers.get("content-encoding", "identity") != coding:
        problems.append(f"{name}: coding {response.headers.get('content-encoding')}")
    if response.headers["etag"] != f'"{content_digest(body)}{suffix}"':
        problems.append(f"{name}: body does not match its ETag")
    try:
        if name.endswith(".json"):
            json.loads(body)
        else:
            etree.fromstring(body)
    except (ValueError, etree.XMLSyntaxError) as exc:
        problems.append(f"{name}: body does not parse: {exc}")
    return problems
