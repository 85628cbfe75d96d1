"""A corrupt or locked state database, caused for real: garbage, a truncated file, damaged
rows, and another process holding the file in an exclusive transaction. The CLI build and the
daemon go on from the articles with a warning and publish what a build from scratch
publishes; once the fault is gone, the state is kept again."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from feedsvc.build import build
from feedsvc.catalog.records import read_state
from feedsvc.config import config_from_dict, load_config
from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess, article, toml
from tests.peers import wait_until

SITE = {"title": "Example News", "url": "https://news.example.org/"}
FEEDS = ("rss.xml", "atom.xml", "feed.json")


def story(number: int) -> str:
    """An article with front matter, tags included (the parse cache keeps them as JSON)."""
    return (
        f"---\ntitle: Story {number}\ndate: 2025-06-{number:02d}T09:00:00Z\n"
        f"tags: [science, t{number % 3}]\n---\n\n{'Body text. ' * 30}\n"
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Twelve articles, built once by the CLI: its state database in .feedsvc/."""
    (tmp_path / "articles").mkdir()
    for number in range(1, 13):
        (tmp_path / "articles" / f"s{number:02d}.md").write_text(story(number))
    (tmp_path / "feedsvc.toml").write_text(
        f'[site]\ntitle = "{SITE["title"]}"\nurl = "{SITE["url"]}"\n'
    )
    assert run_feedsvc("build", cwd=tmp_path).returncode == 0
    return tmp_path


def state_path(site: Path) -> Path:
    return load_config(site / "feedsvc.toml").state_path


def published(output: Path) -> dict[str, bytes]:
    return {name: (output / name).read_bytes() for name in FEEDS}


def from_scratch(site: Path, scratch: Path) -> dict[str, bytes]:
    """The feeds a build with no state at all publishes from the same articles."""
    data = {
        "site": SITE,
        "articles": {"dir": str(site / "articles")},
        "feeds": {"output": str(scratch / "public")},
        "state": {"dir": str(scratch / "state")},
    }
    build(config_from_dict(data, scratch))
    return published(scratch / "public")


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(path.stat().st_size))


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def garbage_pages(path: Path) -> None:
    """Every page but the first (the header) written over: the schema reads, the rest not."""
    data = path.read_bytes()
    path.write_bytes(data[:4096] + random.Random(2).randbytes(len(data) - 4096))


def damaged(*statements: str) -> Callable[[Path], None]:
    """A damage done to rows through SQLite itself, as a stray write would leave them."""

    def damage(path: Path) -> None:
        with closing(sqlite3.connect(path)) as db, db:
            for statement in statements:
                db.execute(statement)

    return damage


CORRUPTIONS = {
    "garbage": garbage,
    "truncated": truncated,
    "garbage-pages": garbage_pages,
    "text-not-utf8": damaged("UPDATE article SET title = CAST(x'ff80' AS TEXT)"),
    "tags-not-json": damaged("UPDATE article SET tags = '[unclosed'"),
    "date-not-iso": damaged("UPDATE article SET published = 'yesterday'"),
    "title-a-blob": damaged("UPDATE article SET title = x'41'"),
    # With the documents' keys gone, every document is made again from the render cache.
    "render-a-blob": damaged("UPDATE entry SET content_html = x'3c'", "DELETE FROM document"),
    "document-kind-unknown": damaged("UPDATE document SET kind = 'nonsense'"),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_state_database_is_rebuilt_from_the_articles_with_a_warning(
    site: Path, tmp_path_factory: pytest.TempPathFactory, corrupt: Callable[[Path], None]
) -> None:
    corrupt(state_path(site))
    result = run_feedsvc("build", cwd=site)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "WARNING state file" in result.stderr
    assert published(site / "public") == from_scratch(site, tmp_path_factory.mktemp("scratch"))
    again = run_feedsvc("build", cwd=site)  # the state is whole again: nothing to say or do
    assert again.returncode == 0 and again.stderr == ""


LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "readers-too":
    db.execute("PRAGMA locking_mode = EXCLUSIVE")  # a WAL file's readers wait as well
db.execute("BEGIN EXCLUSIVE")
db.execute("UPDATE meta SET value = value")
print("locked", flush=True)
sys.stdin.read()
"""


@contextmanager
def locked(path: Path, how: str) -> Iterator[None]:
    """Another process holding ``path`` in an exclusive transaction until the block ends."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
        yield
    finally:
        locker.communicate("", timeout=10)


@pytest.mark.parametrize("how", ["writers", "readers-too"])
def test_a_locked_state_database_costs_warnings_not_the_publish(site: Path, how: str) -> None:
    (site / "articles" / "s13.md").write_text(story(13))
    with locked(state_path(site), how):
        started = time.monotonic()
        result = run_feedsvc("build", cwd=site)
        took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "locked by another process" in result.stderr and "Traceback" not in result.stderr
    assert b"Story 13" in (site / "public" / "atom.xml").read_bytes()
    assert took < 10  # each use of the file gives up after half a second
    if how == "readers-too":
        assert "the parse cache cannot be read, so every article is read again" in result.stderr
    assert read_state(state_path(site)).build.entries == 12  # type: ignore[union-attr]
    again = run_feedsvc("build", cwd=site)  # released: the state is kept again
    assert again.returncode == 0 and again.stderr == ""
    assert read_state(state_path(site)).build.entries == 13  # type: ignore[union-attr]
    assert not list(state_path(site).parent.glob("*.corrupt-*"))


def test_the_daemon_starts_over_a_corrupt_state_database(tmp_path: Path) -> None:
    process = DaemonProcess(tmp_path, toml())
    (process.articles / "first.md").write_text(article("First story"))
    (tmp_path / "state.sqlite").write_bytes(b"this is not a database" * 100)
    process.start()
    try:
        assert process.count("state file state.sqlite is corrupt") == 1
        assert process.titles() == ["First story"]
        wait_until(lambda: read_state(tmp_path / "state.sqlite").build is not None)
        assert process.stop() == 0
    finally:
        process.kill()


def test_the_daemon_rebuilds_a_state_database_corrupted_under_it(daemon: DaemonProcess) -> None:
    state = daemon.root / "state.sqlite"
    wait_until(lambda: read_state(state).build is not None)
    garbage(state)
    (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03"))
    daemon.wait_titles(lambda titles: titles == ["Second story", "First story"])
    daemon.wait_log("state file state.sqlite is corrupt")
    (daemon.articles / "third.md").write_text(article("Third story", "2025-06-04"))
    daemon.wait_titles(lambda titles: titles[0] == "Third story")
    wait_until(lambda: read_state(state).build.entries == 3)  # type: ignore[union-attr]
    assert daemon.count("is corrupt") == 1
    assert daemon.stop() == 0


def test_the_daemon_publishes_while_the_state_database_is_locked(daemon: DaemonProcess) -> None:
    state = daemon.root / "state.sqlite"
    wait_until(lambda: read_state(state).build is not None)
    with locked(state, "readers-too"):
        (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03"))
        daemon.wait_titles(lambda titles: titles == ["Second story", "First story"])
        daemon.wait_log("locked by another process")
        daemon.wait_log("built 2 entries")
    (daemon.articles / "third.md").write_text(article("Third story", "2025-06-04"))
    daemon.wait_titles(lambda titles: titles[0] == "Third story")
    wait_until(lambda: read_state(state).build.entries == 3)  # type: ignore[union-attr]
    assert not list(daemon.root.glob("*.corrupt-*"))
    assert daemon.stop() == 0
