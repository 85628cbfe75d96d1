"""Feeds per tag and per author: safe, stable slugs whatever the names, and full channels with
their own self links and archives."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.catalog.records import read_pending, remove_pending
from feedsvc.config import Config
from feedsvc.model import Article, ArtifactKind
from feedsvc.serve.app import FeedApp
from feedsvc.slugs import MAX_SLUG, SAFE, WINDOWS_RESERVED, assign_slugs, base_slug, topic_key
from feedsvc.topics import topics_of
from tests.conftest import run_feedsvc
from tests.feedcheck import check_atom, check_json, check_rss

SITE = "https://news.example.org/"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2024, 1, 1, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = [
    "../etc",
    "etc",
    "a/b",
    "a\\b",
    ".",
    "..",
    ".hidden",
    "con",
    "NUL",
    "com1",
    "x" * 500,
    "<script>alert(1)</script>",
    "a\x00b",
    "tab\there",
    "bell\x07",
    "!!!",
    "🎉",
    "日本語",
    "Ünïcödé",
    "Café",
    " spaced   out ",
]
# What an article file can carry: the parser refuses a tag over 100 characters, and YAML
# control characters other than tabs.
IN_FILES = [
    name if len(name) < 100 else "x" * 100
    for name in HOSTILE
    if not any(ord(c) < 32 and c != "\t" for c in name)
]


def article(number: int, tags: list[str], author: str | None = None) -> str:
    published = (START + timedelta(days=number)).isoformat()
    head = {"title": f"Story {number}", "date": published, "tags": tags}
    if author:
        head["author"] = author
    # JSON is YAML: every name goes through the front matter parser as written.
    lines = "".join(
        f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in head.items()
    )
    return f"---\n{lines}---\nBody {number}.\n"


def made(number: int, tags: tuple[str, ...] = (), author: str | None = None) -> Article:
    day = START + timedelta(days=number)
    return Article(
        path=Path(f"/articles/{number}.md"),
        slug=str(number),
        entry_id=f"tag:news.example.org,2024:{number}",
        link=f"{SITE}{number}/",
        title=f"Story {number}",
        published=day,
        updated=day,
        digest=b"",
        tags=tags,
        author=author,
    )


@pytest.mark.parametrize("name", HOSTILE)
def test_every_slug_is_a_safe_file_name(name: str) -> None:
    slug = assign_slugs([topic_key(name)])[topic_key(name)]
    assert SAFE.fullmatch(slug) and len(slug) <= MAX_SLUG
    assert slug not in WINDOWS_RESERVED and not slug.startswith(".") and ".." not in slug
    assert "/" not in slug and "\\" not in slug and "\x00" not in slug


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ünïcödé", "unicode"),
        ("日本語", "ri-ben-yu"),
        ("Breaking News", "breaking-news"),
        ("con", "con-"),  # a Windows device name: a hash follows
        ("x" * 500, "x" * (MAX_SLUG - 9) + "-"),  # too long: cut, and a hash follows
    ],
)
def test_slugs_transliterate_and_hash_what_they_must(name: str, expected: str) -> None:
    slug = base_slug(topic_key(name))
    assert slug.startswith(expected)
    assert slug == expected or len(slug) == len(expected) + 8


@pytest.mark.parametrize("name", ["!!!", "..", "🎉", "\x00", "・"])
def test_a_name_without_letters_gets_a_hash_slug(name: str) -> None:
    slug = base_slug(topic_key(name))
    assert len(slug) == 12 and int(slug, 16) >= 0
    assert slug != base_slug(topic_key(name + name))


def test_case_and_unicode_variants_share_one_feed() -> None:
    articles = [made(1, ("Café",)), made(2, ("CAFÉ",)), made(3, ("cafe\u0301",)), made(4, ("x",))]
    topics = topics_of("tag", articles)
    assert [(topic.slug, len(held)) for topic, held in topics] == [("cafe", 3), ("x", 1)]
    assert topics[0][0].name == "CAFÉ"  # equally common forms: the first in code point order


def test_colliding_slugs_are_distinct_and_do_not_depend_on_order() -> None:
    keys = [topic_key(name) for name in ("café", "cafe", "Cafe!", "../etc", "etc", "a/b", "a-b")]
    slugs = assign_slugs(keys)
    assert len(set(slugs.values())) == len(slugs) == 7
    assert slugs["cafe"] == "cafe" and slugs["etc"] == "etc" and slugs["a-b"] == "a-b"
    assert slugs["café"].startswith("cafe-") and slugs["../etc"].startswith("etc-")
    assert assign_slugs(reversed(keys)) == slugs


def test_slugs_are_the_same_in_every_process() -> None:
    code = (
        "from feedsvc.slugs import assign_slugs, topic_key;"
        "import json, sys;"
        "print(json.dumps(assign_slugs(topic_key(n) for n in json.loads(sys.argv[1]))))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, json.dumps(HOSTILE)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


@pytest.fixture
def topical(write_article: Callable[..., Path], make_config: Callable[..., Config]) -> Config:
    """Articles under every hostile tag (and "busy", which gets an archive), under three forms
    of "café", by two authors; returns the config with tag and author feeds on."""
    for number, name in enumerate(IN_FILES):
        write_article(f"h{number:02d}.md", article(number, [name, "busy"], author="Zoë Ångström"))
    for number, tags in enumerate([["CAFÉ", "cafe\u0301"], ["CAFÉ"], ["cafe\u0301"]], start=50):
        write_article(f"v{number}.md", article(number, tags, author="../root"))
    return make_config(
        feeds={"tag_feeds": True, "author_feeds": True, "max_items": 5, "archive_page_size": 4}
    )


def test_every_topic_feed_is_a_valid_channel_of_its_own(
    topical: Config,
) -> None:
    config = topical
    result = build(config, now=NOW)
    output = config.feeds.output.resolve()
    topics = result.manifest.of_kind(ArtifactKind.TOPIC)
    directories = {a.path.rsplit("/", 1)[0] for a in topics}
    assert len(topics) == 3 * len(directories)
    ids = set()
    for artifact in topics:
        path = output / artifact.path
        assert path.resolve().is_relative_to(output) and path.is_file()
        assert all(SAFE.fullmatch(part) for part in artifact.path.split("/")[1:-1])
        document, url = path.read_bytes(), SITE + artifact.path
        if artifact.path.endswith("rss.xml"):
            channel = check_rss(document, url).find("channel")
            assert channel.findtext("title").startswith("Example News — ")
        elif artifact.path.endswith("atom.xml"):
            root = check_atom(document, url)
            ids.add(root.findtext(f"{ATOM}id"))
        else:
            check_json(document, url)
    assert len(ids) == len(directories)  # each topic is a feed of its own
    assert SITE + "atom.xml" not in ids
    tags = {d.split("/")[1] for d in directories if d.startswith("tags/")}
    # markup is dropped from names ("alert(1)" is left), long ones cut and hashed
    assert {"unicode", "ri-ben-yu", "cafe", "busy", "etc", "a-b", "alert-1", "hidden"} <= tags
    assert any(tag.startswith("x" * 55 + "-") for tag in tags)
    assert {d for d in directories if d.startswith("authors/")} == {
        "authors/zoe-angstrom",
        "authors/root",
    }


def test_a_tag_in_many_forms_is_one_feed_named_by_its_commonest(
    topical: Config,
) -> None:
    config = topical
    build(config, now=NOW)
    feed = feedparser.parse((config.feeds.output / "tags/cafe/atom.xml").read_bytes())
    assert feed.feed.title == "Example News — CAFÉ"
    assert len(feed.entries) == 4  # "Café" on one article; "CAFÉ" on two, "café" on two


def test_a_busy_topic_has_archives_of_its_own(topical: Config) -> None:
    config = topical
    result = build(config, now=NOW)
    output, path, seen = config.feeds.output, "tags/busy/rss.xml", []
    while path:
        root = etree.fromstring((output / path).read_bytes())
        channel = root.find("channel")
        links = {ln.get("rel"): ln.get("href") for ln in channel.findall(f"{ATOM}link")}
        assert links["self"] == SITE + path
        if path != "tags/busy/rss.xml":
            assert links["current"] == SITE + "tags/busy/rss.xml"
            assert result.manifest.find(path).kind is ArtifactKind.ARCHIVE
        seen += [item.findtext("guid") for item in channel.findall("item")]
        path = links.get("prev-archive", "").removeprefix(SITE)
    assert len(seen) == len(set(seen)) == len(IN_FILES)
    assert result.manifest.find("tags/busy/archive/rss/4.xml") is not None


def test_a_tag_no_article_has_any_more_is_removed(topical: Config, articles_dir: Path) -> None:
    config = topical
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    assert (config.feeds.output / "tags/ri-ben-yu/rss.xml").is_file()
    (articles_dir / f"h{IN_FILES.index('日本語'):02d}.md").unlink()
    result = build(config, now=NOW, catalog=catalog)
    assert not (config.feeds.output / "tags/ri-ben-yu").exists()  # nor its directories
    assert result.manifest.find("tags/ri-ben-yu/feed.json") is None
    fresh = build(config, now=NOW)  # a new process: the sink's listing says what to remove
    assert fresh.manifest.changed == ()


def test_one_render_per_article_however_many_feeds_hold_it(
    topical: Config, renders: list[str]
) -> None:
    build(topical, now=NOW)
    assert sorted(renders) == sorted(set(renders)) and len(renders) == len(IN_FILES) + 3


def test_topic_feeds_and_their_archives_are_served_with_their_types(
    topical: Config,
) -> None:
    config = topical
    build(config, now=NOW)

    async def fetch(paths: list[str]) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=FeedApp(config))
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            return [await client.get(path) for path in paths]

    paths = ["tags/cafe/rss.xml", "authors/root/atom.xml", "tags/busy/archive/json/1.json"]
    responses = asyncio.run(fetch(["/" + p for p in paths]))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.headers["content-type"].split(";")[0] for r in responses] == [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
    ]
    assert responses[0].content == (config.feeds.output / paths[0]).read_bytes()


def test_topic_feeds_are_off_by_default(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("a.md", article(1, ["news"], author="Ann"))
    config = make_config()
    result = build(config, now=NOW)
    assert not result.manifest.of_kind(ArtifactKind.TOPIC)
    assert not (config.feeds.output / "tags").exists()


def test_an_article_whose_id_is_taken_is_in_no_topic_feed(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    same = "id: tag:news.example.org,2024:same\n"
    write_article("a.md", article(1, ["first"]).replace("---\n", "---\n" + same, 1))
    write_article("b.md", article(2, ["second"]).replace("---\n", "---\n" + same, 1))
    config = make_config(feeds={"tag_feeds": True})
    result = build(config, now=NOW)
    assert [str(error.path.name) for error in result.rejected] == ["b.md"]
    assert result.manifest.find("tags/first/rss.xml") is not None
    assert result.manifest.find("tags/second/rss.xml") is None


@given(st.lists(st.text(max_size=80), max_size=12))
@settings(max_examples=200, deadline=None)
def test_any_names_get_distinct_safe_slugs_in_any_order(names: list[str]) -> None:
    keys = [key for key in (topic_key(name) for name in names) if key]
    slugs = assign_slugs(keys)
    assert set(slugs) == set(keys)
    assert len(set(slugs.values())) == len(slugs)
    for slug in slugs.values():
        assert SAFE.fullmatch(slug) and slug not in WINDOWS_RESERVED
        # a collision's hash may take a long slug past MAX_SLUG, never near a name's 255 bytes
        assert len(slug) <= MAX_SLUG + 1 + 64
    assert assign_slugs(reversed(keys)) == slugs


def test_hubs_hear_of_changed_topic_feeds_but_never_of_archive_pages(
    topical: Config, write_article: Callable[..., Path]
) -> None:
    config = topical
    hub = "https://hub.example.org/"
    config = replace(config, ping=replace(config.ping, websub_hubs=(hub,)))
    build(config, now=NOW)
    owed = {message.topic for message in read_pending(config.state_path)}
    assert SITE + "tags/busy/rss.xml" in owed and SITE + "authors/root/feed.json" in owed
    assert not any("/archive/" in topic for topic in owed)
    for message in read_pending(config.state_path):
        remove_pending(config.state_path, message)
    write_article("new.md", article(99, ["busy"], author="Zoë Ångström"))
    result = build(config, now=NOW)
    assert any("/archive/" in path for path in result.manifest.changed)  # a page filled up
    announced = {message.topic for message in read_pending(config.state_path)}
    site_feeds = {SITE + name for name in ("rss.xml", "atom.xml", "feed.json")}
    busy = {SITE + f"tags/busy/{name}" for name in ("rss.xml", "atom.xml", "feed.json")}
    zoe = {SITE + f"authors/zoe-angstrom/{name}" for name in ("rss.xml", "atom.xml", "feed.json")}
    assert announced == site_feeds | busy | zoe


def test_the_cli_publishes_topic_feeds_and_archives_as_configured(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    for number in range(5):
        (tmp_path / "articles" / f"a{number}.md").write_text(
            article(number, ["Café", "news"], author="Ann"), encoding="utf-8"
        )
    toml = (
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        '[articles]\ndir = "articles"\n'
        '[feeds]\noutput = "public"\nmax_items = 2\narchive_page_size = {size}\n'
        "tag_feeds = true\nauthor_feeds = true\n"
    )
    (tmp_path / "feedsvc.toml").write_text(toml.format(size=2))
    done = run_feedsvc("build", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    public = tmp_path / "public"
    for base in ("", "tags/cafe/", "tags/news/", "authors/ann/"):
        check_rss((public / base / "rss.xml").read_bytes(), f"{SITE}{base}rss.xml")
        for number in (1, 2):  # 3 older articles: a full page and a partial one
            page = f"{base}archive/atom/{number}.xml"
            check_atom((public / page).read_bytes(), SITE + page)
    (tmp_path / "feedsvc.toml").write_text(toml.format(size=0))
    refused = run_feedsvc("build", cwd=tmp_path)
    assert refused.returncode == 2 and "feeds.archive_page_size" in refused.stderr
