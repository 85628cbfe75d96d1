"""The state file: the last build and the last ping per endpoint, across processes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from feedsvc.errors import ArticleError
from feedsvc.model import BuildResult
from feedsvc.state import PingRecord, read_state, record_build, record_ping


def test_missing_state_file_reads_as_nothing(tmp_path: Path) -> None:
    assert read_state(tmp_path / "none.sqlite") == (None, [])


def test_last_build_replaces_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "state" / "feedsvc.sqlite"
    moment = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    record_build(path, BuildResult(entries=3, articles=4), moment)
    rejected = (ArticleError(Path("/a/bad.md"), "no title", line=1),)
    result = BuildResult(entries=5, articles=6, written=(Path("/p/rss.xml"),), rejected=rejected)
    record_build(path, result, moment)
    build, pings = read_state(path)
    assert build is not None
    assert (build.entries, build.articles, build.written) == (5, 6, ("rss.xml",))
    assert build.rejected == ("/a/bad.md:1: no title",)
    assert build.finished == moment and pings == []


def test_one_ping_record_per_endpoint_and_topic(tmp_path: Path) -> None:
    path = tmp_path / "feedsvc.sqlite"
    moment = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    record_ping(path, PingRecord("http://hub/", "http://s/rss.xml", moment, False, 5, "HTTP 500"))
    record_ping(path, PingRecord("http://hub/", "http://s/rss.xml", moment, True, 1, "HTTP 202"))
    record_ping(path, PingRecord("http://hub/", "http://s/atom.xml", moment, True, 1, "HTTP 202"))
    _, pings = read_state(path)
    assert [(p.topic, p.ok, p.detail) for p in pings] == [
        ("http://s/atom.xml", True, "HTTP 202"),
        ("http://s/rss.xml", True, "HTTP 202"),
    ]
