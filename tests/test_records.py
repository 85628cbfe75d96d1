"""The state file: the last build and the last ping per endpoint, across processes; failures,
pending pings and last good versions; a corrupt or locked file never stops the publisher."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feedsvc.catalog.records import (
    BuildRecord,
    State,
    add_pending,
    read_pending,
    read_state,
    record_build,
    record_build_failure,
    record_ping,
    remove_pending,
)
from feedsvc.errors import ArticleError, StateError
from feedsvc.model import Notification, PingOutcome

FEEDS = ("rss.xml", "atom.xml")

MOMENT = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
CONFIG = '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
CONFIG += '[state]\ndir = "."\n'


def status(cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "feedsvc.toml").write_text(CONFIG)
    command = [sys.executable, "-m", "feedsvc", "status", "--config", "feedsvc.toml"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=30)


def built(entries: int, articles: int, finished: datetime) -> BuildRecord:
    return BuildRecord(finished, entries, articles, (), ())


def test_missing_state_file_reads_as_nothing(tmp_path: Path) -> None:
    assert read_state(tmp_path / "none.sqlite") == State(None, [], None)


def test_last_build_replaces_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "state" / "feedsvc.sqlite"
    record_build(path, built(3, 4, MOMENT))
    rejected = (ArticleError(Path("/a/bad.md"), "no title", line=1),)
    record = BuildRecord(MOMENT, 5, 6, ("rss.xml",), tuple(str(e) for e in rejected))
    record_build(path, record)
    build, pings, failure = read_state(path)
    assert build is not None
    assert (build.entries, build.articles, build.written) == (5, 6, ("rss.xml",))
    assert build.rejected == ("/a/bad.md:1: no title",)
    assert build.finished == MOMENT and pings == [] and failure is None


def test_one_ping_record_per_endpoint_and_topic(tmp_path: Path) -> None:
    path = tmp_path / "feedsvc.sqlite"
    rss, atom = (Notification("websub", "http://hub/", f"http://s/{n}") for n in FEEDS)
    record_ping(path, PingOutcome(rss, False, 5, "HTTP 500", MOMENT))
    record_ping(path, PingOutcome(rss, True, 1, "HTTP 202", MOMENT))
    record_ping(path, PingOutcome(atom, True, 1, "HTTP 202", MOMENT))
    pings = read_state(path).pings
    assert [(p.notification.topic, p.ok, p.detail) for p in pings] == [
        ("http://s/atom.xml", True, "HTTP 202"),
        ("http://s/rss.xml", True, "HTTP 202"),
    ]


def test_failed_build_is_shown_by_status_until_a_build_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    record_build(path, built(3, 3, MOMENT))
    failed_at = MOMENT + timedelta(hours=1)
    record_build_failure(path, "public: cannot write the feeds: OSError: disk full", failed_at)
    state = read_state(path)
    assert state.build is not None and state.build.finished == MOMENT
    assert state.failure is not None and state.failure.finished == failed_at
    shown = status(tmp_path)
    assert shown.returncode == 0, shown.stderr
    when = failed_at.astimezone().isoformat(timespec="seconds")
    assert f"last build FAILED at {when}: public: cannot write the feeds" in shown.stdout
    assert "3 entries from 3 files" in shown.stdout
    record_build(path, built(3, 3, failed_at + timedelta(minutes=1)))
    assert read_state(path).failure is None
    assert "FAILED" not in status(tmp_path).stdout


def test_pending_pings_stay_until_removed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    hub = Notification("websub", "http://hub/", "https://s/rss.xml")
    service = Notification("xmlrpc", "http://rpc/RPC2", "https://s/rss.xml")
    add_pending(path, [hub])
    add_pending(path, [hub])
    add_pending(path, [service])
    assert read_pending(path) == [hub, service]
    remove_pending(path, hub)
    assert read_pending(path) == [service]


def truncated_state(path: Path) -> bytes:
    """A real state file with enough rows to span pages, cut in half."""
    record_build(path, built(1, 1, MOMENT))
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO ping (endpoint, topic, finished, ok, attempts, detail)"
            " VALUES (?, 't', '', 1, 1, ?)",
            [(n, "x" * 200) for n in range(200)],
        )
    db.close()
    data = path.read_bytes()
    path.unlink()
    return data[: len(data) // 2]


GARBAGE = bytes(range(256)) * 16


@pytest.mark.parametrize("damage", ["garbage", "truncated", "header only"])
def test_corrupt_state_file_is_moved_aside_and_started_afresh(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    contents = {
        "garbage": GARBAGE,
        "truncated": truncated_state(tmp_path / "sample.sqlite"),
        "header only": b"SQLite format 3\x00" + b"\xff" * 84,
    }[damage]
    path.write_bytes(contents)
    assert read_state(path) == State(None, [], None)
    assert any("is corrupt" in r.message and "moved aside" in r.message for r in caplog.records)
    (aside,) = tmp_path.glob("state.sqlite.corrupt-*")
    assert aside.read_bytes() == contents
    record_build(path, built(1, 1, MOMENT))
    assert read_state(path).build is not None


def test_status_over_a_corrupt_state_file_warns_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "state.sqlite").write_bytes(GARBAGE)
    first, again = status(tmp_path), status(tmp_path)
    for shown in (first, again):
        assert shown.returncode == 0, shown.stderr
        assert "no build recorded yet" in shown.stdout
    assert "is corrupt" in first.stderr and "moved aside" in first.stderr
    assert again.stderr == ""
    assert len(list(tmp_path.glob("state.sqlite.corrupt-*"))) == 1


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


def test_locked_state_file_gives_up_quickly_with_one_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    record_build(path, built(1, 1, MOMENT))
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline() == "locked\n"
        started = time.monotonic()
        with pytest.raises(StateError, match="locked by another process"):
            record_build(path, built(2, 2, MOMENT))
        assert time.monotonic() - started < 1.5
    finally:
        locker.communicate("", timeout=10)
    assert read_state(path).build.entries == 1  # type: ignore[union-attr]
    assert not list(tmp_path.glob("*.corrupt-*"))
