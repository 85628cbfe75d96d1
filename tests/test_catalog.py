"""The incremental Catalog: a file that fails mid-write keeps its last good version published."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import feedparser
import pytest

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config, config_from_dict
from feedsvc.errors import EmptyFeedRefused

GOOD = "# Good title\n\nText.\n\n---\n\nPublished: 2025-06-02 09:00 UTC\n"
HALF = "---\ntitle: Rewritten\n"


def setup(tmp_path: Path):
    (tmp_path / "articles").mkdir()
    data = {
        "site": {"title": "Example News", "url": "https://news.example.org/"},
        "articles": {"dir": "articles"},
        "feeds": {"output": "public"},
    }
    return config_from_dict(data, tmp_path), tmp_path / "articles" / "story.md"


def built_good(tmp_path: Path) -> tuple[Config, Path, Catalog]:
    """The story published once, in a catalog that the next builds keep using."""
    config, path = setup(tmp_path)
    catalog = Catalog(config)
    path.write_text(GOOD)
    build(config, catalog=catalog)
    return config, path, catalog


def titles(tmp_path: Path) -> list[str]:
    feed = feedparser.parse((tmp_path / "public" / "rss.xml").read_bytes())
    return [entry.title for entry in feed.entries]


def rewrite(path: Path, text: str) -> None:
    """Change the file so its stat key changes even within one mtime tick."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_failing_file_keeps_last_good_version_and_reports_error(tmp_path: Path) -> None:
    config, path, catalog = built_good(tmp_path)
    rewrite(path, HALF)
    result = build(config, catalog=catalog)
    assert titles(tmp_path) == ["Good title"]
    assert [error.path for error in result.rejected] == [path]
    assert result.stale == (path,)
    assert result.written == ()


def test_last_good_version_survives_repeated_failures_until_it_parses(tmp_path: Path) -> None:
    config, path, catalog = built_good(tmp_path)
    rewrite(path, HALF)
    build(config, catalog=catalog)
    rewrite(path, HALF + "date: 2025-06-02\n")
    build(config, catalog=catalog)
    assert titles(tmp_path) == ["Good title"]
    rewrite(path, HALF + "date: 2025-06-02T09:00:00Z\n---\n\nNew text.\n")
    result = build(config, catalog=catalog)
    assert titles(tmp_path) == ["Rewritten"]
    assert result.rejected == () and result.stale == ()


def test_deleted_failing_file_leaves_the_feeds(tmp_path: Path) -> None:
    config, path, catalog = built_good(tmp_path)
    rewrite(path, HALF)
    build(config, catalog=catalog)
    path.unlink()
    with pytest.raises(EmptyFeedRefused):
        build(config, catalog=catalog)
    assert titles(tmp_path) == ["Good title"]  # emptying the feeds is refused...
    build(config, catalog=catalog, allow_empty=True)
    assert titles(tmp_path) == []  # ...unless asked for


def test_one_off_builds_keep_the_last_good_version_in_the_state_directory(
    tmp_path: Path,
) -> None:
    """Each CLI build is a new process: the parse and render caches carry the last good
    version (its rendered entry, as its file no longer holds it) to the next one."""
    config, path = setup(tmp_path)
    path.write_text(GOOD)
    build(config)
    rewrite(path, HALF)
    result = build(config)
    assert titles(tmp_path) == ["Good title"]
    assert result.stale == (path,) and len(result.rejected) == 1


def test_without_its_state_a_one_off_build_has_no_last_good_version(tmp_path: Path) -> None:
    config, path = setup(tmp_path)
    path.write_text(GOOD)
    build(config)
    rewrite(path, HALF)
    for name in ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm"):
        (tmp_path / ".feedsvc" / name).unlink(missing_ok=True)
    result = build(config, allow_empty=True)
    assert titles(tmp_path) == []
    assert result.stale == () and len(result.rejected) == 1


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    config, path, catalog = built_good(tmp_path)
    first = catalog.parsed[path]
    build(config, catalog=catalog)
    assert catalog.parsed[path] is first


def test_a_catalog_given_another_configuration_starts_afresh_in_place_and_stays_warm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, path, catalog = built_good(tmp_path)
    renamed = replace(config, site=replace(config.site, title="Another Title"))
    with caplog.at_level("INFO", logger="feedsvc.catalog"):
        build(renamed, catalog=catalog)
    assert catalog.config == renamed  # the caller's catalog is the one carried on
    assert "the configuration changed" in caplog.text
    first = catalog.parsed[path]
    build(renamed, catalog=catalog)
    assert catalog.parsed[path] is first  # warm again: nothing read twice
