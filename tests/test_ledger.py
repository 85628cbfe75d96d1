"""The id ledger and the drift guard: a published id stays with its article through renames,
date corrections, a new site URL and a lost state directory; the first publisher of an id
keeps it; a build that would change a published id or remove too much is refused unless
accepted, and writes nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import feedparser
import pytest

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config, config_from_dict
from feedsvc.errors import DriftRefused
from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess
from tests.daemon_process import article as daemon_article

SITE = {"title": "Example News", "url": "https://news.example.org/"}


def make(root: Path, site: dict[str, str] | None = None, **tables: dict[str, object]) -> Config:
    (root / "articles").mkdir(exist_ok=True)
    data: dict[str, dict[str, object]] = {
        "site": {**SITE, **(site or {})},
        "articles": {"dir": "articles"},
        "feeds": {"output": "public"},
        **tables,
    }
    return config_from_dict(data, root)


def story(title: str, day: int, body: str = "Body.", front: str = "") -> str:
    return f"---\ntitle: {title}\ndate: 2025-06-{day:02d}T09:00:00Z\n{front}---\n\n{body}\n"


def write(root: Path, name: str, text: str) -> Path:
    path = root / "articles" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def ids(root: Path) -> dict[str, str]:
    """The published Atom feed's entries: title -> id (read with feedparser)."""
    feed = feedparser.parse((root / "public" / "atom.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    return {entry.title: entry.id for entry in feed.entries}


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "public").iterdir()) if p.is_file()}


def test_new_ids_use_the_site_tag_date_so_a_corrected_date_keeps_the_id(tmp_path: Path) -> None:
    config = make(tmp_path)
    path = write(tmp_path, "talks.md", story("Talks", 2))
    build(config)
    assert ids(tmp_path) == {"Talks": "tag:news.example.org,2000-01-01:talks"}
    path.write_text(story("Talks", 12), encoding="utf-8")
    build(config)
    assert ids(tmp_path) == {"Talks": "tag:news.example.org,2000-01-01:talks"}


def test_a_published_id_survives_a_new_site_url_a_new_tag_date_and_a_new_slug_rule(
    tmp_path: Path,
) -> None:
    write(tmp_path, "talks.md", story("Talks", 2))
    build(make(tmp_path))
    before = ids(tmp_path)
    moved = make(
        tmp_path,
        site={"url": "https://elsewhere.example.net/", "tag_date": "2026"},
        feeds={"output": "public", "article_url": "{site_url}{year}/{slug}.html"},
    )
    build(moved)
    assert ids(tmp_path) == before
    feed = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes())
    assert feed.entries[0].link == "https://elsewhere.example.net/2025/talks.html"
    # An article first published now takes the new rule's id.
    write(tmp_path, "new.md", story("New", 3))
    build(moved)
    assert ids(tmp_path)["New"] == "tag:elsewhere.example.net,2026:new"


def test_a_renamed_or_moved_file_keeps_its_id(tmp_path: Path) -> None:
    config = make(tmp_path)
    write(tmp_path, "draft-name.md", story("Talks", 2))
    write(tmp_path, "other.md", story("Other", 3))
    build(config)
    before = ids(tmp_path)
    (tmp_path / "articles" / "2025").mkdir()
    (tmp_path / "articles" / "draft-name.md").rename(tmp_path / "articles" / "2025" / "talks.md")
    result = build(config)
    assert not result.rejected
    assert ids(tmp_path) == before
    feed = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes())
    links = {entry.title: entry.link for entry in feed.entries}
    assert links["Talks"] == "https://news.example.org/2025/talks/"  # the link follows the slug


def test_the_first_publisher_keeps_an_id_and_the_newcomer_is_rejected_by_name(
    tmp_path: Path,
) -> None:
    config = make(tmp_path)
    write(tmp_path, "zebra.md", story("Zebra", 2, front="id: urn:x-news:42\n"))
    build(config)
    # A newcomer whose path sorts first claims the same id: the published article stays.
    write(tmp_path, "aardvark.md", story("Aardvark", 3, front="id: urn:x-news:42\n"))
    result = build(config)
    assert ids(tmp_path) == {"Zebra": "urn:x-news:42"}
    [error] = result.rejected
    assert error.path.name == "aardvark.md"
    assert "was first published by" in str(error) and "zebra.md" in str(error)
    # In a new process too (the ledger is in the state database).
    listed = run_feedsvc("build", cwd=tmp_path, env=_env(tmp_path))
    assert "aardvark.md" in listed.stderr and "zebra.md" in listed.stderr
    assert ids(tmp_path) == {"Zebra": "urn:x-news:42"}


def _env(root: Path) -> dict[str, str]:
    """A CLI run over the same site: a feedsvc.toml like ``make``'s."""
    (root / "feedsvc.toml").write_text(
        f'[site]\ntitle = "{SITE["title"]}"\nurl = "{SITE["url"]}"\n'
        '[articles]\ndir = "articles"\n[feeds]\noutput = "public"\n',
        encoding="utf-8",
    )
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}


def test_a_lost_state_directory_reads_the_ids_back_from_the_published_feeds(
    tmp_path: Path,
) -> None:
    write(tmp_path, "talks.md", story("Talks", 2))
    write(tmp_path, "rates.md", story("Rates", 3))
    build(make(tmp_path, site={"tag_date": "2019-01-01"}))
    before = ids(tmp_path)
    shutil.rmtree(tmp_path / ".feedsvc")
    # The new tag date would give every article another id: the published feeds say which
    # id each link had.
    result = build(make(tmp_path))
    assert ids(tmp_path) == before
    assert any("read back" in warning for warning in result.warnings)


def test_an_id_change_of_a_published_entry_is_refused_and_writes_nothing(
    tmp_path: Path,
) -> None:
    config = make(tmp_path)
    path = write(tmp_path, "talks.md", story("Talks", 2))
    build(config)
    published = snapshot(tmp_path)
    path.write_text(story("Talks", 2, front="id: urn:x-news:talks\n"), encoding="utf-8")
    with pytest.raises(DriftRefused) as refused:
        build(config)
    message = str(refused.value)
    assert "tag:news.example.org,2000-01-01:talks" in message
    assert "urn:x-news:talks" in message and "front matter" in message
    assert "--accept-changes" in message
    assert snapshot(tmp_path) == published
    result = build(config, accept_changes=True)
    assert result.refusal is not None
    assert ids(tmp_path) == {"Talks": "urn:x-news:talks"}
    assert build(config).refusal is None  # accepted once, it is the published id now


def test_a_file_renamed_and_edited_at_once_is_refused_as_an_id_change(tmp_path: Path) -> None:
    config = make(tmp_path)
    write(tmp_path, "old-name.md", story("Talks", 2))
    build(config)
    (tmp_path / "articles" / "old-name.md").unlink()
    write(tmp_path, "new-name.md", story("Talks", 2, body="Body, edited."))
    with pytest.raises(DriftRefused, match="renamed and edited"):
        build(config)
    # Giving it its old id in the front matter publishes it as the same entry.
    old = "tag:news.example.org,2000-01-01:old-name"
    write(tmp_path, "new-name.md", story("Talks", 2, "Body, edited.", front=f"id: {old}\n"))
    build(config)
    assert ids(tmp_path) == {"Talks": old}


def test_removing_more_than_max_removed_is_refused_until_accepted(tmp_path: Path) -> None:
    config = make(tmp_path)
    for n in range(20):
        write(tmp_path, f"s{n:02d}.md", story(f"Story {n}", 1 + n))
    build(config)
    published = snapshot(tmp_path)
    for n in range(11):  # 11 > max(10, 20 % of 20)
        (tmp_path / "articles" / f"s{n:02d}.md").unlink()
    with pytest.raises(DriftRefused) as refused:
        build(config)
    assert "11 of 20 published entries would be removed" in str(refused.value)
    assert "s00.md" in str(refused.value)
    assert snapshot(tmp_path) == published
    # Ten removals are an ordinary day's publishing.
    write(tmp_path, "s00.md", story("Story 0", 1))
    assert build(config).refusal is None
    assert len(ids(tmp_path)) == 10


def test_the_removal_limit_is_a_share_of_a_large_feed(tmp_path: Path) -> None:
    config = make(tmp_path, guard={"max_removed": 2, "max_removed_percent": 25.0})
    for n in range(40):
        write(tmp_path, f"s{n:02d}.md", story(f"Story {n}", 1 + n % 28))
    build(config)
    for n in range(10):  # 10 = 25 % of 40: allowed
        (tmp_path / "articles" / f"s{n:02d}.md").unlink()
    build(config)
    for n in range(10, 19):  # 9 > 25 % of 30
        (tmp_path / "articles" / f"s{n:02d}.md").unlink()
    with pytest.raises(DriftRefused):
        build(config)


def test_the_cli_refuses_with_exit_2_and_accepts_on_purpose(tmp_path: Path) -> None:
    env = _env(tmp_path)
    path = write(tmp_path, "talks.md", story("Talks", 2))
    assert run_feedsvc("build", cwd=tmp_path, env=env).returncode == 0
    path.write_text(story("Talks", 2, front="id: urn:x-news:talks\n"), encoding="utf-8")
    refused = run_feedsvc("build", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "refusing to publish" in refused.stderr and "talks.md" in refused.stderr
    status = run_feedsvc("status", cwd=tmp_path, env=env)
    assert "last build FAILED" in status.stdout
    accepted = run_feedsvc("build", "--accept-changes", cwd=tmp_path, env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert ids(tmp_path) == {"Talks": "urn:x-news:talks"}


def test_a_process_sees_the_ledger_another_process_accepted(tmp_path: Path) -> None:
    """The daemon keeps its catalog between builds: a change accepted by `feedsvc build
    --accept-changes` meanwhile is not refused again."""
    config = make(tmp_path)
    daemon = Catalog(config)
    path = write(tmp_path, "talks.md", story("Talks", 2))
    build(config, catalog=daemon)
    path.write_text(story("Talks", 2, front="id: urn:x-news:talks\n"), encoding="utf-8")
    with pytest.raises(DriftRefused):
        build(config, catalog=daemon)
    build(config, accept_changes=True)  # another process, its own catalog
    assert build(config, catalog=daemon).refusal is None
    assert ids(tmp_path) == {"Talks": "urn:x-news:talks"}


def test_the_daemon_logs_a_refusal_keeps_serving_and_takes_an_accepted_change(
    daemon: DaemonProcess,
) -> None:
    published = (daemon.public / "atom.xml").read_bytes()
    first = daemon.articles / "first.md"
    first.write_text("---\nid: urn:x-news:first\n---\n" + first.read_text(), encoding="utf-8")
    daemon.wait_log("refusing to publish")
    assert (daemon.public / "atom.xml").read_bytes() == published
    accepted = run_feedsvc(
        "build", "--config", str(daemon.config), "--accept-changes", cwd=daemon.root
    )
    assert accepted.returncode == 0, accepted.stderr
    (daemon.articles / "second.md").write_text(daemon_article("Second story", "2025-06-03"))
    daemon.wait_titles(lambda titles: "Second story" in titles)
    assert ids(daemon.root)["First story"] == "urn:x-news:first"
    assert daemon.process is not None and daemon.process.poll() is None
    assert daemon.stop() == 0


def test_diff_shows_what_the_guard_would_refuse_and_writes_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path)
    path = write(tmp_path, "talks.md", story("Talks", 2))
    assert run_feedsvc("build", cwd=tmp_path, env=env).returncode == 0
    state = (tmp_path / ".feedsvc" / "state.sqlite").read_bytes()
    path.write_text(story("Talks", 2, front="id: urn:x-news:talks\n"), encoding="utf-8")
    shown = run_feedsvc("diff", cwd=tmp_path, env=env)
    assert shown.returncode == 1, shown.stderr
    assert "would refuse" in shown.stdout and "urn:x-news:talks" in shown.stdout
    assert "tag:news.example.org,2000-01-01:talks" in shown.stdout
    assert ids(tmp_path) == {"Talks": "tag:news.example.org,2000-01-01:talks"}
    assert (tmp_path / ".feedsvc" / "state.sqlite").read_bytes() == state
