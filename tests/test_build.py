from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from feedsvc.assemble import assemble
from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.errors import BuildCancelled, ConfigError, PublishError
from feedsvc.model import Article
from feedsvc.plan import FeedPlan, subscription_feeds
from tests.conftest import FIXTURES, SEED, article
from tests.feedcheck import check_atom, check_json, check_rss

SITE = "https://news.example.org/"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def outputs(config: Config) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(config.feeds.output.iterdir()) if p.is_file()}


def check_all(config: Config) -> dict[str, feedparser.FeedParserDict]:
    files = outputs(config)
    check_rss(files["rss.xml"], SITE + "rss.xml")
    check_atom(files["atom.xml"], SITE + "atom.xml")
    check_json(files["feed.json"], SITE + "feed.json")
    return {name: feedparser.parse(files[name]) for name in ("rss.xml", "atom.xml")}


def test_seed_summary_is_its_meta_description_and_its_em_dash_is_repaired(
    articles_dir: Path, make_config: Callable[..., Config]
) -> None:
    shutil.copy(SEED, articles_dir)
    config = make_config()
    build(config, now=NOW)
    for parsed in check_all(config).values():
        entry = parsed.entries[0]
        assert entry.summary == (
            "Exploring the renewed Russia-Ukraine peace talks, the challenges they face, "
            "and why neither side appears optimistic about achieving lasting peace anytime soon."
        )
        content = entry.content[0].value
        assert "more than just negotiations — it will demand" in content
        assert "â€" not in content
        assert entry.published_parsed[:3] == (2025, 6, 2)


def test_dirty_directory_publishes_exactly_the_publishable(
    tmp_path: Path, make_config: Callable[..., Config]
) -> None:
    expected = json.loads((FIXTURES / "dirty_expected.json").read_text())
    root = tmp_path / "dirty"
    shutil.copytree(FIXTURES / "dirty", root)
    config = make_config(articles={"dir": str(root)}, feeds={"max_items": 100})
    result = build(config, now=NOW)

    rejected = {str(error.path.relative_to(root)): str(error) for error in result.rejected}
    assert set(rejected) == set(expected["rejected"])
    for name, keyword in expected["rejected"].items():
        assert keyword in rejected[name].lower() and name in rejected[name]
    assert sorted(str(p.relative_to(root)) for p in result.drafts) == sorted(expected["draft"])
    assert sorted(str(a.path.relative_to(root)) for a in result.scheduled) == sorted(
        expected["future"]
    )
    assert any("windows-1252.txt" in warning for warning in result.warnings)

    published = expected["published"]
    assert result.entries == len(published)
    for parsed in check_all(config).values():
        by_title: dict[str, list[str]] = {}
        for entry in parsed.entries:
            by_title.setdefault(entry.title, []).append(entry.published)
        for want in published.values():
            assert want["title"] in by_title
        instants = sorted(
            datetime(*e.published_parsed[:6], tzinfo=UTC).isoformat() for e in parsed.entries
        )
        assert instants == sorted(want["utc"] for want in published.values())


def test_rebuild_is_byte_identical_and_touches_nothing(
    articles_dir: Path, make_config: Callable[..., Config]
) -> None:
    shutil.copytree(FIXTURES / "dirty", articles_dir, dirs_exist_ok=True)
    config = make_config()
    first = build(config, now=NOW)
    assert len(first.written) == 3
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in config.feeds.output.iterdir()}
    contents = outputs(config)
    second = build(config, now=NOW)  # a fresh catalog: everything read again
    assert second.written == () and len(second.unchanged) == 3
    assert outputs(config) == contents
    assert {
        p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in config.feeds.output.iterdir()
    } == before


def test_edit_keeps_entry_id_and_shows_the_edit(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    path = write_article("story.md", article("Old title", "Old body.", "June 02, 2025"))
    config = make_config()
    build(config, now=NOW)
    before = feedparser.parse(outputs(config)["atom.xml"]).entries[0]
    path.write_text(article("New title", "New body.", "June 02, 2025"), encoding="utf-8")
    result = build(config, now=NOW)
    after = feedparser.parse(outputs(config)["atom.xml"]).entries[0]
    assert after.id == before.id
    assert (after.title, after.content[0].value) == ("New title", "<p>New body.</p>")
    assert len(result.written) == 3


def test_same_titles_are_two_entries(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("a.md", article("Same", "One.", "June 02, 2025"))
    write_article("b.md", article("Same", "Two.", "June 02, 2025"))
    config = make_config()
    assert build(config, now=NOW).entries == 2
    assert len({e.id for e in check_all(config)["atom.xml"].entries}) == 2


def test_a_duplicate_given_id_is_rejected_not_published_twice(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    for name in ("a.md", "b.md"):
        write_article(name, "---\ntitle: T\ndate: 2025-01-01\nid: urn:x:1\n---\nBody.\n")
    result = build(make_config(), now=NOW)
    assert result.entries == 1
    assert [e.path.name for e in result.rejected] == ["b.md"]
    assert "already used by" in str(result.rejected[0])


def test_newest_first_and_at_most_max_items(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    for day in range(1, 11):
        write_article(f"d{day:02d}.md", article(f"Day {day}", "Body.", f"2025-01-{day:02d}"))
    config = make_config(feeds={"max_items": 4, "archives": False})
    catalog = Catalog(config)
    result = build(config, now=NOW, catalog=catalog)
    titles = [e.title for e in check_all(config)["rss.xml"].entries]
    assert titles == ["Day 10", "Day 9", "Day 8", "Day 7"]
    assert (result.entries, result.articles) == (4, 10)
    assert len(catalog.entries) == 4  # without archives, only what the feed shows is rendered


def test_future_articles_wait_and_drafts_never_publish(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("now.md", article("Now", "Body.", "2025-12-31"))
    write_article("later.md", article("Later", "Body.", "2026-02-01 08:00"))
    write_article("draft.md", "---\ntitle: Draft\ndate: 2025-01-01\ndraft: true\n---\nBody.\n")
    config = make_config()
    result = build(config, now=NOW)
    assert [a.title for a in result.scheduled] == ["Later"]
    assert [p.name for p in result.drafts] == ["draft.md"]
    assert [e.title for e in check_all(config)["atom.xml"].entries] == ["Now"]
    build(config, now=datetime(2026, 2, 1, 8, 0, tzinfo=UTC))
    assert [e.title for e in check_all(config)["atom.xml"].entries] == ["Later", "Now"]


def test_feed_updated_is_the_newest_entry_not_the_clock(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("a.md", "---\ntitle: A\ndate: 2025-01-01\nupdated: 2025-03-01T12:00Z\n---\nB\n")
    write_article("b.md", article("B", "Body.", "2025-02-01"))
    config = make_config()
    build(config, now=NOW)
    updated = check_all(config)["atom.xml"].feed.updated
    assert updated.startswith("2025-03-01T12:00:00.")  # the newest entry's, to the second


def test_a_missing_articles_directory_leaves_published_feeds_alone(
    write_article: Callable[..., Path], articles_dir: Path, make_config: Callable[..., Config]
) -> None:
    write_article("a.md", article("A", "Body.", "2025-01-01"))
    config = make_config()
    build(config, now=NOW)
    before = outputs(config)
    shutil.rmtree(articles_dir)
    with pytest.raises(ConfigError, match="no such directory"):
        build(config, now=NOW)
    assert outputs(config) == before


def test_an_unwritable_output_is_a_publish_error(
    tmp_path: Path, write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("a.md", article("A", "Body.", "2025-01-01"))
    (tmp_path / "blocker").write_text("a file, not a directory")
    with pytest.raises(PublishError):
        build(make_config(feeds={"output": str(tmp_path / "blocker" / "public")}), now=NOW)


def test_check_mode_writes_nothing(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("a.md", article("A", "Body.", "2025-01-01"))
    config = make_config()
    assert build(config, now=NOW, write=False).entries == 1
    assert not config.feeds.output.exists()


@pytest.fixture
def three_built(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> tuple[list[Path], Config, Catalog]:
    """Three articles, A1 to A3, built once into a catalog."""
    paths = [
        write_article(f"a{n}.md", article(f"A{n}", "Body.", f"2025-01-0{n}")) for n in (1, 2, 3)
    ]
    config = make_config()
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    return paths, config, catalog


def test_catalog_rereads_only_changed_files(
    three_built: tuple[list[Path], Config, Catalog],
) -> None:
    paths, config, catalog = three_built
    kept = dict(catalog.parsed)
    paths[0].write_text(article("A1 edited", "Body.", "2025-01-01"), encoding="utf-8")
    paths[2].unlink()
    build(config, now=NOW, catalog=catalog)
    assert catalog.parsed[paths[1]] is kept[paths[1]]
    assert catalog.parsed[paths[0]] is not kept[paths[0]]
    assert paths[2] not in catalog.parsed
    assert [e.title for e in check_all(config)["rss.xml"].entries] == ["A2", "A1 edited"]


def test_a_build_told_what_changed_reads_only_that(
    write_article: Callable[..., Path], three_built: tuple[list[Path], Config, Catalog]
) -> None:
    paths, config, catalog = three_built
    kept = dict(catalog.parsed)
    paths[0].write_text(article("A1 edited", "Body.", "2025-01-01"), encoding="utf-8")
    paths[1].write_text(article("A2 edited, unseen", "Body.", "2025-01-02"), encoding="utf-8")
    paths[2].unlink()
    added = write_article("sub/a4.md", article("A4", "Body.", "2025-01-04"))
    build(config, now=NOW, catalog=catalog, changed={paths[0], paths[2], added})
    assert catalog.parsed[paths[1]] is kept[paths[1]]  # not named as changed: not read
    assert [e.title for e in check_all(config)["rss.xml"].entries] == ["A4", "A2", "A1 edited"]
    assert catalog.files == sorted([paths[0], paths[1], added], key=str)


def test_a_changed_directory_means_a_full_scan(
    articles_dir: Path, write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("a.md", article("A", "Body.", "2025-01-01"))
    config = make_config()
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    moved = write_article("new/b.md", article("B", "Body.", "2025-01-02"))
    result = build(config, now=NOW, catalog=catalog, changed={moved.parent})
    assert result.entries == 2
    hidden = write_article(".git/c.md", article("C", "Body.", "2025-01-03"))
    assert build(config, now=NOW, catalog=catalog, changed={hidden}).entries == 2


def test_an_article_without_body_or_summary_has_no_blank_elements(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("title-only.md", "# Only a title\n\n---\n\nPublished: 2025-01-01\n")
    write_article("front-only.md", "---\ntitle: Front only\ndate: 2025-01-02\n---\n")
    config = make_config()
    assert build(config, now=NOW).entries == 2
    parsed = check_all(config)
    assert [e.title for e in parsed["atom.xml"].entries] == ["Front only", "Only a title"]
    items = json.loads(outputs(config)["feed.json"])["items"]
    assert [item["content_html"] for item in items] == ["", ""]
    assert all("summary" not in item for item in items)


def test_a_feed_over_a_megabyte_is_warned_about(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    long_body = "\n\n".join("A long paragraph of reporting. " * 40 for _ in range(30))
    for n in range(30):
        write_article(f"long-{n}.md", article(f"Long {n}", long_body, f"2025-01-{n + 1:02d}"))
    warn_of_size = {"refuse": ["links", "language", "dates", "duplicates"]}
    result = build(make_config(lint=warn_of_size), now=NOW)
    assert any("rss.xml is" in w and "1 MB" in w for w in result.warnings)
    small = build(make_config(feeds={"max_items": 2, "archives": False}), now=NOW)
    assert not any("MB" in w for w in small.warnings)


def test_an_unexpected_failure_in_one_article_spares_the_others(
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import feedsvc.outcome as build_module

    write_article("good.md", article("Good", "Body.", "2025-01-01"))
    cursed = write_article("cursed.md", article("Cursed", "Body.", "2025-01-02"))
    real_normalise = build_module.normalise

    def failing_for_one(source, config, renderer, changed):  # noqa: ANN001, ANN202
        if source.path == cursed:
            raise RuntimeError("a bug")
        return real_normalise(source, config, renderer, changed)

    monkeypatch.setattr(build_module, "normalise", failing_for_one)
    config = make_config()
    result = build(config, now=NOW)
    assert result.entries == 1
    assert [error.path for error in result.rejected] == [cursed]
    assert "RuntimeError('a bug')" in str(result.rejected[0])


def rewrite_keeping_stat(path: Path, text: str) -> None:
    """Rewrite a file in place with as many bytes and the same mtime: as a coarse-timestamp
    filesystem shows a same-size save within one tick, its (size, mtime, inode) unchanged."""
    before = path.stat()
    with path.open("r+", encoding="utf-8") as handle:
        handle.write(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


@pytest.mark.parametrize("told", [False, True], ids=["rescan", "watched"])
def test_a_same_size_rewrite_within_one_tick_is_published(
    write_article: Callable[..., Path], make_config: Callable[..., Config], told: bool
) -> None:
    path = write_article("story.md", article("Title AAAA", "Body.", "June 02, 2025"))
    config = make_config()
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    rewrite_keeping_stat(path, article("Title BBBB", "Body.", "June 02, 2025"))
    build(config, now=NOW, catalog=catalog, changed=[path] if told else None)
    assert [e.title for e in check_all(config)["rss.xml"].entries] == ["Title BBBB"]


def test_a_rescan_reads_unchanged_files_but_keeps_their_articles(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    path = write_article("story.md", article("Title", "Body.", "June 02, 2025"))
    config = make_config()
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    first = catalog.parsed[path]
    build(config, now=NOW, catalog=catalog)
    assert catalog.parsed[path] is first  # same content: nothing parsed again


def test_a_switched_articles_symlink_is_followed(
    tmp_path: Path, make_config: Callable[..., Config]
) -> None:
    releases = tmp_path / "releases"
    for release in ("1", "2"):
        (releases / release).mkdir(parents=True)
        (releases / release / f"story-{release}.md").write_text(
            article(f"Release {release}", "Body.", "June 02, 2025")
        )
    link = tmp_path / "current"
    link.symlink_to(releases / "1")
    config = make_config(articles={"dir": str(link)})
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    switched = tmp_path / "current.new"
    switched.symlink_to(releases / "2")
    os.replace(switched, link)  # ln -sfn releases/2 current
    build(config, now=NOW, catalog=catalog)
    assert [e.title for e in check_all(config)["rss.xml"].entries] == ["Release 2"]


def test_articles_on_another_device_than_before_are_warned_about(
    articles_dir: Path, write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("story.md", article("On the disk", "Body.", "June 02, 2025"))
    config = make_config()
    catalog = Catalog(config)
    assert build(config, now=NOW, catalog=catalog).warnings == ()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(articles_dir)])
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        write_article("story.md", article("On the share", "Body.", "June 02, 2025"))
        result = build(config, now=NOW, catalog=catalog)
    finally:
        subprocess.run(["umount", str(articles_dir)], check=True)
    assert any("on another device" in warning for warning in result.warnings)
    assert [e.title for e in check_all(config)["rss.xml"].entries] == ["On the share"]


def test_an_entry_a_format_cannot_write_is_rejected_and_the_next_one_shown(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    """The emitting boundary: an entry lxml refuses (an id with a control character that
    no reader check caught) costs its own article only."""
    config = make_config(feeds={"max_items": 1})
    good, bad = (
        Article(
            path=(path := write_article(f"{name}.md", "Body.")),
            slug=name,
            entry_id=entry_id,
            link=f"{SITE}{name}/",
            title=name.title(),
            published=datetime(2025, 6, day, tzinfo=UTC),
            updated=datetime(2025, 6, day, tzinfo=UTC),
            digest=hashlib.sha256(path.read_bytes()).digest(),
        )
        for name, entry_id, day in (("good", "tag:x,2025:good", 1), ("bad", "tag:x,2025:a\x01b", 2))
    )
    catalog = Catalog(config)
    failures = catalog.failures
    feed = FeedPlan(subscription_feeds(config), (bad, good), config.feeds.max_items)
    documents = assemble(config, feed, catalog)
    assert documents.shown == (good,)
    assert [error.path for error in documents.rejected] == [bad.path]
    assert "cannot be written as rss.xml" in str(documents.rejected[0])
    assert feedparser.parse(dict(documents.files)["rss.xml"]).entries[0].title == "Good"
    assert set(failures) == {bad.path}  # remembered: not rendered again at the next build


def test_a_feed_at_its_size_limit_holds_fewer_entries_and_rejects_none(
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("feedsvc.assemble.MAX_FEED_BYTES", 40_000)
    for day in range(1, 21):
        write_article(
            f"s{day:02}.md", article(f"Day {day}", "Words and more. " * 250, f"June {day}, 2025")
        )
    config = make_config(feeds={"archives": False})  # archive pages have no such limit
    catalog = Catalog(config)
    result = build(config, now=NOW, catalog=catalog)
    files = outputs(config)
    assert result.rejected == ()
    assert all(len(content) <= 40_000 for content in files.values())
    titles = [e.title for e in check_all(config)["atom.xml"].entries]
    assert 1 < len(titles) < 20 and titles[0] == "Day 20"  # the newest, as many as fit
    assert any("more would take them past" in warning for warning in result.warnings)
    rendered = len(catalog.entries)
    build(config, now=NOW, catalog=catalog)
    assert len(catalog.entries) == rendered  # nothing older was rendered to be turned away


def test_a_cancelled_build_stops_before_rendering_and_writes_nothing(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    for day in (1, 2):
        write_article(f"s{day}.md", article(f"Day {day}", "Body.", f"June {day}, 2025"))
    config = make_config()
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    before = outputs(config)
    config.state_path.unlink()  # no render cache either: every shown entry must be rendered
    catalog = Catalog(config)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(BuildCancelled):
        build(config, now=NOW, catalog=catalog, cancel=cancel)
    assert catalog.entries == {} and outputs(config) == before


def test_an_articles_directory_recreated_in_place_is_scanned_whole(
    articles_dir: Path, write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    """A re-clone: the same path, another directory. The watcher names only what it saw
    arrive; the articles that went with the old directory must go too."""
    write_article("old.md", article("Old clone", "Body.", "June 02, 2025"))
    config = make_config()
    catalog = Catalog(config)
    build(config, now=NOW, catalog=catalog)
    clone = articles_dir.with_name("clone")  # made beside the old one: its own inode
    clone.mkdir()
    (clone / "new.md").write_text(article("New clone", "Body.", "June 03, 2025"))
    shutil.rmtree(articles_dir)
    clone.rename(articles_dir)
    build(config, now=NOW, catalog=catalog, changed=[articles_dir / "new.md"])
    assert [e.title for e in check_all(config)["rss.xml"].entries] == ["New clone"]
