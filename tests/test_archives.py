"""RFC 5005 archives: every due article is reachable from the subscription feed through
prev-archive links, exactly once; full pages keep their bytes; a rebuild makes only the
documents whose sources changed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

import feedsvc.assemble
from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.model import ArtifactKind, BuildResult
from feedsvc.outputs.localdir import read_manifest
from feedsvc.outputs.memory import MemorySink
from tests.feedcheck import check_atom, check_json, check_rss

SITE = "https://news.example.org/"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2020, 1, 1, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
FH_ARCHIVE = "{http://purl.org/syndication/history/1.0}archive"
TOTAL, MAX_ITEMS, PAGE = 250, 20, 25  # 230 archived: 9 full pages and 5 on page 10
FORMATS = {"rss": ("rss.xml", ".xml"), "atom": ("atom.xml", ".xml"), "json": ("feed.json", ".json")}


def text(number: int, body: str = "Body.") -> str:
    published = (START + timedelta(hours=number)).isoformat()
    return f"---\ntitle: Story {number}\ndate: {published}\n---\n{body} {number}.\n"


@pytest.fixture
def site(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> Iterator[tuple[Config, Catalog]]:
    for number in range(TOTAL):
        write_article(f"s{number:03d}.md", text(number))
    config = make_config(feeds={"max_items": MAX_ITEMS, "archive_page_size": PAGE})
    yield config, Catalog(config)


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The self URLs of the documents written (in any format) from now on."""
    written: list[str] = []
    real = feedsvc.assemble.write_feed

    def counting(format, feed, self_url):  # noqa: ANN001, ANN202
        written.append(self_url)
        return real(format, feed, self_url)

    monkeypatch.setattr("feedsvc.assemble.write_feed", counting)
    return written


def page(number: int, format: str = "rss") -> str:
    return f"archive/{format}/{number}{FORMATS[format][1]}"


def links(root: etree._Element, format: str) -> dict[str, str]:
    """The feed-level atom links of an RSS or Atom document, by rel."""
    parent = root.find("channel") if format == "rss" else root
    found = [(ln.get("rel"), ln.get("href")) for ln in parent.findall(f"{ATOM}link")]
    assert len(found) == len(dict(found)), found  # each rel once
    return dict(found)


def walk(output: Path, format: str) -> list[tuple[str, list[str]]]:
    """Follow prev-archive from the subscription feed to the oldest page, checking every
    document's links on the way; returns (path, entry ids) for each, newest first."""
    subscription, _ = FORMATS[format]
    path, newer = subscription, None
    visited = []
    while path is not None:
        url = SITE + path
        document = (output / path).read_bytes()
        root = (check_rss if format == "rss" else check_atom)(document, url)
        rels = links(root, format)
        parent = root.find("channel") if format == "rss" else root
        archived = parent.find(FH_ARCHIVE) is not None
        assert archived == (path != subscription)
        if archived:
            assert rels["current"] == SITE + subscription
            assert rels.get("next-archive") == (None if newer == SITE + subscription else newer)
        ids = [entry.id for entry in feedparser.parse(document).entries]
        visited.append((path, ids))
        newer = url
        previous = rels.get("prev-archive")
        path = previous.removeprefix(SITE) if previous else None
    return visited


@pytest.mark.parametrize("format", ["rss", "atom"])
def test_prev_archive_links_reach_every_article_exactly_once(
    site: tuple[Config, Catalog], format: str
) -> None:
    config, catalog = site
    result = build(config, now=NOW, catalog=catalog)
    visited = walk(config.feeds.output, format)
    assert [path for path, _ in visited] == [
        FORMATS[format][0],
        *(page(n, format) for n in range(10, 0, -1)),
    ]
    sizes = [len(ids) for _, ids in visited]
    assert sizes == [MAX_ITEMS, 5, *[PAGE] * 9]  # only the newest page is partial
    every = [entry_id for _, ids in visited for entry_id in ids]
    assert len(every) == len(set(every)) == TOTAL
    assert every[0] == result.shown[0].entry_id and every[-1].endswith("s000")
    titles = [t for _, ids in visited for t in ids]
    assert titles == sorted(titles, key=lambda i: -int(i.rsplit("s", 1)[1]))  # newest first


def test_json_feed_pages_by_next_url_to_the_oldest(site: tuple[Config, Catalog]) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    output, path, seen = config.feeds.output, "feed.json", []
    while path:
        feed = check_json((output / path).read_bytes(), SITE + "feed.json")
        seen += [item["id"] for item in feed["items"]]
        path = feed.get("next_url", "").removeprefix(SITE)
    assert len(seen) == len(set(seen)) == TOTAL


def test_archive_pages_are_marked_and_listed_as_archives(site: tuple[Config, Catalog]) -> None:
    config, catalog = site
    result = build(config, now=NOW, catalog=catalog)
    manifest = read_manifest(config.feeds.output)
    assert manifest is not None
    assert set(manifest.artifacts) == set(result.manifest.artifacts)
    archives = {a.path for a in manifest.of_kind(ArtifactKind.ARCHIVE)}
    assert archives == {page(n, f) for n in range(1, 11) for f in FORMATS}
    rss = etree.fromstring((config.feeds.output / page(3)).read_bytes())
    assert rss.nsmap["fh"] == "http://purl.org/syndication/history/1.0"
    assert rss.find("channel").index(rss.find(f"channel/{FH_ARCHIVE}")) < rss.find("channel").index(
        rss.find("channel/item")
    )
    atom = etree.fromstring((config.feeds.output / page(3, "atom")).read_bytes())
    assert atom.find(FH_ARCHIVE) is not None and atom.nsmap["fh"].endswith("history/1.0")
    subscription = etree.fromstring((config.feeds.output / "rss.xml").read_bytes())
    assert "fh" not in subscription.nsmap  # the feed itself is no archive
    # updated is the newest entry's, never the clock: the same at every build
    updated = atom.findtext(f"{ATOM}updated")
    newest = max(e.findtext(f"{ATOM}updated") for e in atom.findall(f"{ATOM}entry"))
    assert updated == newest


def test_adding_an_article_rewrites_only_the_feeds_and_the_newest_page(
    site: tuple[Config, Catalog], write_article: Callable[..., Path], renders: list[str]
) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    before = snapshot(config.feeds.output)
    renders.clear()
    write_article("s250.md", text(TOTAL))
    result = build(config, now=NOW, catalog=catalog)
    newest = {page(10, f) for f in FORMATS}
    assert set(result.manifest.changed) == {"rss.xml", "atom.xml", "feed.json", *newest}
    after = snapshot(config.feeds.output)
    assert {p for p in after if after[p] != before.get(p)} == set(result.manifest.changed)
    assert renders == ["Story 250"]  # the page's other entries were kept from the last build
    assert len(walk(config.feeds.output, "atom")[1][1]) == 6


def test_editing_an_old_article_rewrites_only_its_page(
    site: tuple[Config, Catalog], write_article: Callable[..., Path], renders: list[str]
) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    renders.clear()
    write_article("s030.md", text(30, body="Corrected."))  # page 2: articles 25 to 49
    result = build(config, now=NOW, catalog=catalog)
    assert set(result.manifest.changed) == {page(2, f) for f in FORMATS}
    assert renders == ["Story 30"]  # the page's other entries were kept from the last build
    feed = feedparser.parse((config.feeds.output / page(2)).read_bytes())
    assert (
        "Corrected. 30." in next(e for e in feed.entries if e.title == "Story 30").content[0].value
    )


def test_deleting_an_article_shifts_the_pages_after_it_and_drops_an_emptied_one(
    site: tuple[Config, Catalog], articles_dir: Path, renders: list[str]
) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    before = snapshot(config.feeds.output)
    renders.clear()
    (articles_dir / "s030.md").unlink()
    result = build(config, now=NOW, catalog=catalog)
    shifted = {page(n, f) for n in range(2, 11) for f in FORMATS}
    assert set(result.manifest.changed) == shifted
    assert renders == []  # the shifted pages are written again from the entries kept
    assert snapshot(config.feeds.output)[page(1)] == before[page(1)]
    for number in range(40, 44):  # page 10 held 5, 4 after the first delete: it empties
        (articles_dir / f"s{number:03d}.md").unlink()
    result = build(config, now=NOW, catalog=catalog)
    assert not (config.feeds.output / page(10)).exists()
    assert result.manifest.find(page(10)) is None
    assert page(10) not in {a.path for a in read_manifest(config.feeds.output).artifacts}
    visited = walk(config.feeds.output, "rss")
    assert [len(ids) for _, ids in visited] == [MAX_ITEMS, *[PAGE] * 9]


def test_a_rebuild_with_nothing_changed_renders_and_writes_nothing(
    site: tuple[Config, Catalog], renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, catalog = site
    first = build(config, now=NOW, catalog=catalog)
    assert len(renders) == TOTAL  # each article once, however many documents hold it
    renders.clear()
    written = count_writes(monkeypatch)
    again = build(config, now=NOW, catalog=catalog)
    assert (renders, written, again.manifest.changed) == ([], [], ())
    assert again.manifest.artifacts == first.manifest.artifacts
    assert again.entries == MAX_ITEMS and len(again.unchanged) == 33


def test_a_fresh_process_with_the_documents_remembered_makes_nothing(
    site: tuple[Config, Catalog], renders: list[str]
) -> None:
    """What the other half of issue 9 persists: the document keys alone let a new catalog
    skip every unchanged document, as long as the sink still holds it."""
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    renders.clear()
    fresh = Catalog(config)
    fresh.documents.update(catalog.documents)
    result = build(config, now=NOW, catalog=fresh)
    assert renders == [] and result.manifest.changed == ()
    (config.feeds.output / page(4)).unlink()
    forgetful = Catalog(config)  # no document remembered: every one made, none rewritten
    result = build(config, now=NOW, catalog=forgetful)
    assert renders == []  # every entry recalled from the state's render cache
    assert set(result.manifest.changed) == {page(4)}


def test_a_page_removed_or_resized_by_hand_is_written_again(
    site: tuple[Config, Catalog],
) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    before = snapshot(config.feeds.output)
    (config.feeds.output / page(2)).unlink()
    (config.feeds.output / page(3, "atom")).write_bytes(b"<feed/>")
    result = build(config, now=NOW, catalog=catalog)
    assert set(result.manifest.changed) == {page(2), page(3, "atom")}
    assert snapshot(config.feeds.output) == before


def test_a_check_makes_every_document(
    site: tuple[Config, Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    before = snapshot(config.feeds.output)
    written = count_writes(monkeypatch)
    checked = build(config, now=NOW, catalog=catalog, write=False)
    assert len(checked.manifest.artifacts) == len(written) == 33
    assert checked.manifest.changed == () and snapshot(config.feeds.output) == before


def test_turning_archives_off_removes_the_pages(site: tuple[Config, Catalog]) -> None:
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    off = replace(config, feeds=replace(config.feeds, archives=False))
    result = build(off, now=NOW, catalog=catalog)
    assert not list((config.feeds.output / "archive").rglob("*.xml"))
    assert [a.path for a in result.manifest.artifacts] == ["rss.xml", "atom.xml", "feed.json"]
    rss = etree.fromstring((config.feeds.output / "rss.xml").read_bytes())
    assert "prev-archive" not in links(rss, "rss")


def test_a_feed_without_older_articles_has_no_archive(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    for number in range(3):
        write_article(f"s{number}.md", text(number))
    config = make_config()
    result: BuildResult = build(config, now=NOW)
    assert [a.path for a in result.manifest.artifacts] == ["rss.xml", "atom.xml", "feed.json"]
    assert "next_url" not in json.loads((config.feeds.output / "feed.json").read_bytes())


def test_a_page_size_of_one_gives_a_page_per_article(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    for number in range(6):
        write_article(f"s{number}.md", text(number))
    config = make_config(feeds={"max_items": 2, "archive_page_size": 1})
    build(config, now=NOW)
    visited = walk(config.feeds.output, "atom")
    assert [len(ids) for _, ids in visited] == [2, 1, 1, 1, 1]
    assert visited[-1][0] == page(1, "atom") and visited[-1][1][0].endswith("s0")


def snapshot(output: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(output)): path.read_bytes()
        for path in output.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


@pytest.mark.parametrize("batch", [4 * 2**20, 30_000])
def test_pages_are_put_in_batches_before_the_feeds_that_link_them(
    site: tuple[Config, Catalog], monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Memory never holds a whole archive, and no reader meets a link to a page that is not
    yet published."""
    monkeypatch.setattr("feedsvc.assemble.STORE_BATCH_BYTES", batch)
    config, catalog = site
    sink = MemorySink()
    calls: list[set[ArtifactKind]] = []
    real = sink.put

    def recording(files, before_commit=None):  # noqa: ANN001, ANN202
        calls.append({put.kind for put in files})
        return real(files, before_commit)

    sink.put = recording  # type: ignore[method-assign]
    result = build(config, now=NOW, catalog=catalog, sink=sink)
    assert calls[-1] == {ArtifactKind.SUBSCRIPTION}
    assert all(kinds == {ArtifactKind.ARCHIVE} for kinds in calls[:-1])
    assert (len(calls) > 3) == (batch < 2**20)
    assert set(result.manifest.changed) == set(sink.files) and len(sink.files) == 33
    assert {a.path: a.digest for a in result.manifest.artifacts} == {
        path: artifact.digest for path, artifact in sink.list().items()
    }


def test_an_rss_archive_page_meets_the_feed_validator_rules(
    site: tuple[Config, Catalog],
) -> None:
    """CONFORMANCE.md's RSS rules, and what the W3C validator checks of RFC 5005: the fh
    namespace declared, fh:archive a channel element before the items (else MisplacedItem),
    registered rels in the Atom namespace with types, current [MissingCurrentInArchive] and
    an archive link [ArchiveIncomplete]; no hub on a page nobody subscribes to."""
    config, catalog = site
    build(config, now=NOW, catalog=catalog)
    document = (config.feeds.output / page(5)).read_bytes()
    root = check_rss(document, SITE + page(5))  # self matches where it is served, and more
    assert root.nsmap["fh"] == "http://purl.org/syndication/history/1.0"
    channel = root.find("channel")
    children = list(channel)
    marks = [i for i, child in enumerate(children) if child.tag == FH_ARCHIVE]
    first_item = next(i for i, child in enumerate(children) if child.tag == "item")
    assert len(marks) == 1 and marks[0] < first_item
    assert all(child.tag == "item" for child in children[first_item:])
    atom_links = channel.findall(f"{ATOM}link")
    assert {ln.get("rel") for ln in atom_links} == {
        "self",
        "current",
        "prev-archive",
        "next-archive",
    }
    assert all(ln.get("type") == "application/rss+xml" for ln in atom_links)
    assert channel.find("link").text == SITE  # the channel link stays the site's
    newest = max(parsedate_to_datetime(i.findtext("pubDate")) for i in channel.iter("item"))
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == newest


def test_a_large_build_renders_in_groups_and_lets_go_of_them(
    site: tuple[Config, Catalog], renders: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered a few pages at a time (as 100,000 articles would be), the archive has the
    bytes it has when rendered at once; each article is rendered once, and the catalog holds
    no more than the subscription feed's entries afterwards (the rest are in the state's
    render cache, which the next build reads back rather than rendering)."""
    config, catalog = site
    whole = build(config, now=NOW, catalog=Catalog(config), write=False)
    monkeypatch.setattr("feedsvc.assemble.RENDER_GROUP", 2 * PAGE)
    renders.clear()
    grouped = build(config, now=NOW, catalog=catalog)
    assert sorted(renders) == sorted(set(renders)) and len(renders) == TOTAL
    assert len(catalog.entries) == MAX_ITEMS
    output = config.feeds.output
    for artifact in grouped.manifest.artifacts:
        assert artifact in whole.manifest.artifacts, artifact.path  # same path, same digest
        assert hashlib.sha256((output / artifact.path).read_bytes()).hexdigest() == artifact.digest
    write_article = output.parent / "articles" / "s005.md"  # on page 1
    write_article.write_text(text(5, body="Corrected."), encoding="utf-8")
    renders.clear()
    again = build(config, now=NOW, catalog=catalog)
    assert renders == ["Story 5"]  # the other 24 on its page come from the render cache
    assert {page(1)} <= {p.relative_to(output).as_posix() for p in again.written}
