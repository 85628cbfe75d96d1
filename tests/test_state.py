"""State that survives restarts: the parse and render caches in the state database, the
first-seen and changed times, and what a deleted, corrupt or killed state leaves."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

import feedsvc.assemble
import feedsvc.outcome
from feedsvc.build import build
from feedsvc.catalog.cache import load_parsed
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config, config_from_dict

SITE = {"title": "Example News", "url": "https://news.example.org/"}


def story(title: str, day: int, body: str = "Body.", updated: str | None = None) -> str:
    head = f"---\ntitle: {title}\ndate: 2025-06-{day:02d}T09:00:00Z\n"
    if updated:
        head += f"updated: {updated}\n"
    return head + f"---\n\n{body}\n"


def make(tmp_path: Path, **feeds: object) -> Config:
    (tmp_path / "articles").mkdir(exist_ok=True)
    data = {
        "site": SITE,
        "articles": {"dir": "articles"},
        "feeds": {"output": "public", **feeds},
    }
    return config_from_dict(data, tmp_path)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / "articles" / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """The article files read and parsed, in order (the real reader runs)."""
    seen: list[Path] = []
    real = feedsvc.outcome.read_source

    def read_source(path: Path, root: Path):  # noqa: ANN202
        seen.append(path)
        return real(path, root)

    monkeypatch.setattr(feedsvc.outcome, "read_source", read_source)
    yield seen


def atom_entries(tmp_path: Path) -> dict[str, feedparser.FeedParserDict]:
    feed = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    return {entry.title: entry for entry in feed.entries}


def test_the_state_directory_is_beside_the_output_unless_configured(tmp_path: Path) -> None:
    assert make(tmp_path).state_path == tmp_path / ".feedsvc" / "state.sqlite"
    data = {"site": SITE, "state": {"dir": "/var/lib/feedsvc"}}
    assert config_from_dict(data, tmp_path).state_path == Path("/var/lib/feedsvc/state.sqlite")


def test_a_second_cold_start_parses_nothing(tmp_path: Path, reads: list[Path]) -> None:
    config = make(tmp_path)
    for day in range(1, 6):
        write(tmp_path, f"s{day}.md", story(f"Story {day}", day))
    first = build(config)
    assert len(reads) == 5
    reads.clear()
    second = build(config)  # a new process would start just so: an empty Catalog
    assert reads == []
    assert second.entries == first.entries == 5
    assert second.written == ()  # and the same bytes: nothing rewritten
    assert set(load_parsed(config.state_path, config)) == {
        tmp_path / "articles" / f"s{day}.md" for day in range(1, 6)
    }


def test_an_edit_a_touch_and_a_delete_are_each_seen(tmp_path: Path, reads: list[Path]) -> None:
    config = make(tmp_path)
    edited = write(tmp_path, "edited.md", story("Edited", 1))
    touched = write(tmp_path, "touched.md", story("Touched", 2))
    deleted = write(tmp_path, "deleted.md", story("Deleted", 3))
    write(tmp_path, "kept.md", story("Kept", 4))
    build(config)
    reads.clear()
    edited.write_text(story("Edited again", 1), encoding="utf-8")
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    deleted.unlink()
    result = build(config)
    assert sorted(reads) == [edited, touched]  # the kept file is not read again
    assert set(atom_entries(tmp_path)) == {"Edited again", "Touched", "Kept"}
    assert result.entries == 3
    cached = load_parsed(config.state_path, config)
    assert deleted not in cached and cached[edited].article.title == "Edited again"
    reads.clear()
    build(config)
    assert reads == []


def test_an_edit_without_its_own_updated_date_is_updated_when_first_seen(tmp_path: Path) -> None:
    config = make(tmp_path)
    path = write(tmp_path, "a.md", story("A story", 1))
    build(config)
    published = atom_entries(tmp_path)["A story"]
    assert published.updated_parsed == published.published_parsed  # to the second
    cached = load_parsed(config.state_path, config)[path]
    assert cached.changed is None and cached.first_seen is not None

    before = datetime.now(UTC).replace(microsecond=0)
    path.write_text(story("A story", 1, body="Corrected body."), encoding="utf-8")
    build(config)
    edited = atom_entries(tmp_path)["A story"]
    updated = datetime.fromisoformat(edited.updated).replace(microsecond=0)
    assert updated >= before and edited.published == published.published
    assert edited.id == published.id  # the same entry, shown as updated

    # Later builds (and processes) agree on that time: the bytes do not move again.
    again = build(config)
    assert again.written == () and atom_entries(tmp_path)["A story"].updated == edited.updated
    # A touch without a change does not move it either.
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert build(config).written == ()


def test_an_explicit_updated_date_wins_over_the_change_time(tmp_path: Path) -> None:
    config = make(tmp_path)
    path = write(tmp_path, "a.md", story("A story", 1))
    build(config)
    path.write_text(story("A story", 1, "New.", updated="2025-06-05T00:00:00Z"), encoding="utf-8")
    build(config)
    assert atom_entries(tmp_path)["A story"].updated.startswith("2025-06-05T00:00:00")


def test_a_deleted_state_database_is_rebuilt_from_the_articles(
    tmp_path: Path, reads: list[Path]
) -> None:
    config = make(tmp_path)
    write(tmp_path, "a.md", story("A story", 1))
    build(config)
    before = (tmp_path / "public" / "atom.xml").read_bytes()
    for file in config.state_path.parent.iterdir():
        file.unlink()
    reads.clear()
    result = build(config)
    assert len(reads) == 1 and result.written == ()
    assert (tmp_path / "public" / "atom.xml").read_bytes() == before
    assert [w for w in result.warnings if "no state database" in w]
    assert not [w for w in build(config).warnings if "no state database" in w]


def test_a_corrupt_state_database_is_moved_aside_with_a_warning_never_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make(tmp_path)
    write(tmp_path, "a.md", story("A story", 1))
    build(config)
    for suffix in ("-wal", "-shm"):
        Path(f"{config.state_path}{suffix}").unlink(missing_ok=True)
    config.state_path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level("WARNING", logger="feedsvc.catalog"):
        result = build(config)
    assert result.entries == 1 and "corrupt" in caplog.text
    assert list(config.state_path.parent.glob("state.sqlite.corrupt-*"))
    assert load_parsed(config.state_path, config)  # started afresh, and filled again


def test_another_configuration_drops_the_cache(tmp_path: Path, reads: list[Path]) -> None:
    config = make(tmp_path)
    write(tmp_path, "a.md", story("A story", 1))
    build(config)
    moved = config_from_dict(
        {
            "site": {**SITE, "url": "https://elsewhere.example.org/"},
            "articles": {"dir": "articles"},
            "feeds": {"output": "public"},
        },
        tmp_path,
    )
    assert load_parsed(config.state_path, moved) == {}
    reads.clear()
    build(moved)
    assert len(reads) == 1
    # The links move to the new site; the id readers hold stays (the ledger keeps it).
    entry = atom_entries(tmp_path)["A story"]
    assert entry.link == "https://elsewhere.example.org/a/"
    assert entry.id == "tag:news.example.org,2000-01-01:a"


def test_a_file_name_that_is_not_utf8_is_cached_too(tmp_path: Path, reads: list[Path]) -> None:
    config = make(tmp_path)
    name = os.fsdecode(b"caf\xe9.md")
    write(tmp_path, "good.md", story("Good", 1))
    (tmp_path / "articles" / name).write_bytes(b"# No date\n")
    first = build(config)
    assert len(first.rejected) == 1
    reads.clear()
    again = build(config)
    assert reads == [] and [str(e) for e in again.rejected] == [str(e) for e in first.rejected]


def test_the_cache_is_used_by_the_parallel_parse_too(tmp_path: Path) -> None:
    """Enough files for the process pool: outcomes come back in order, with their errors."""
    config = make(tmp_path)
    for n in range(1200):
        write(tmp_path, f"s{n:04d}.md", story(f"Story {n}", 1 + n % 28))
    write(tmp_path, "zz-broken.md", "---\ntitle: [unclosed\n---\n")
    catalog = Catalog(config)
    result = build(config, catalog=catalog)
    assert result.articles == 1201 and [e.path.name for e in result.rejected] == ["zz-broken.md"]
    assert list(catalog.parsed) == sorted(catalog.parsed, key=os.fspath)
    assert all(
        parsed.article.title == f"Story {int(path.stem[1:])}"
        for path, parsed in catalog.parsed.items()
        if parsed.article is not None
    )


def survivors(marker: str, wait_s: float = 5.0) -> list[int]:
    """The processes whose command line holds ``marker``, once they had ``wait_s`` to go."""
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode():
                    found.append(int(entry.name))
            except (OSError, UnicodeDecodeError):
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


KILLED_BUILD = """
import sys
from feedsvc.cli import main
sys.exit(main(["build", "-q", "--config", sys.argv[1]]))
"""


def test_a_build_killed_at_any_moment_leaves_state_and_feeds_consistent(tmp_path: Path) -> None:
    """SIGKILL a CLI build at random moments while articles change; after each kill the
    database passes its integrity check and the next build publishes exactly what a build
    from scratch publishes."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "feedsvc.toml").write_text(
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        '[articles]\ndir = "articles"\n[feeds]\noutput = "public"\n'
    )
    config = make(site)
    for n in range(1500):
        write(site, f"s{n:04d}.md", story(f"Story {n}", 1 + n % 28, body=f"Body {n}. " * 50))
    rng = random.Random(9)
    for round_ in range(8):
        for n in rng.sample(range(1500), 20):
            # With their own updated date: a build from scratch agrees on it.
            edit = story(f"Story {n} v{round_}", 1 + n % 28, updated="2025-07-01T00:00:00Z")
            write(site, f"s{n:04d}.md", edit)
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_BUILD, str(site / "feedsvc.toml")], cwd=site
        )
        time.sleep(rng.uniform(0.05, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert survivors(str(site / "feedsvc.toml")) == []  # its parse workers died with it
        if config.state_path.exists():
            with sqlite3.connect(config.state_path) as db:
                assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for feed in (site / "public").glob("*.xml") if (site / "public").exists() else ():
            assert not feedparser.parse(feed.read_bytes()).bozo, feed
    build(config)
    warm = {p.name: p.read_bytes() for p in (site / "public").iterdir() if p.is_file()}
    fresh_output = tmp_path / "fresh"
    fresh = config_from_dict(
        {
            "site": SITE,
            "articles": {"dir": str(site / "articles")},
            "feeds": {"output": str(fresh_output)},
        },
        tmp_path,
    )
    build(fresh)
    cold = {p.name: p.read_bytes() for p in fresh_output.iterdir() if p.is_file()}
    assert {k: v for k, v in warm.items() if k.endswith((".xml", ".json"))} == {
        k: v for k, v in cold.items() if k.endswith((".xml", ".json"))
    }
    assert not list((site / "public").glob(".*.tmp"))


def test_a_new_process_remakes_only_the_documents_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documents' source keys are in the state too: a one-off build after a one-file
    edit writes the subscription feeds and the edited article's archive page, and renders
    that article alone."""
    config = make(tmp_path, max_items=2, archive_page_size=3)
    for day in range(1, 12):
        write(tmp_path, f"s{day:02d}.md", story(f"Story {day}", day))
    build(config)
    made: list[str] = []
    real = feedsvc.assemble.write_feed

    def write_feed(format: str, feed: object, self_url: str) -> bytes:  # noqa: A002
        made.append(self_url.removeprefix(SITE["url"]))
        return real(format, feed, self_url)

    monkeypatch.setattr(feedsvc.assemble, "write_feed", write_feed)
    assert build(config).written == () and made == []
    write(tmp_path, "s02.md", story("Story 2", 2, body="Corrected."))  # on archive page 1
    result = build(config)
    assert sorted(made) == ["archive/atom/1.xml", "archive/json/1.json", "archive/rss/1.xml"]
    assert sorted(str(p.relative_to(config.feeds.output)) for p in result.written) == sorted(made)
    feed = feedparser.parse((config.feeds.output / "archive/atom/1.xml").read_bytes())
    assert [e.title for e in feed.entries].count("Story 2") == 1
