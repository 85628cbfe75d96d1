"""What subscribers will see: `feedsvc diff` and `feedsvc build --dry-run` over real builds of
real files, the diff of documents those builds made, and proof that a dry run writes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from feedsvc.build import build
from feedsvc.catalog.db import transact
from feedsvc.cli import main
from feedsvc.config import Config
from feedsvc.diff import DocumentChange, diff_build, diff_documents, read_entries
from feedsvc.model import ATOM_TYPE, JSON_TYPE, RSS_TYPE
from feedsvc.outputs.base import Put
from feedsvc.outputs.dryrun import DryRunSink
from feedsvc.outputs.localdir import LocalDirSink
from feedsvc.preview import preview
from tests.conftest import run_feedsvc

SITE = "https://news.example.org/"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SUBSCRIPTION = {"rss.xml": RSS_TYPE, "atom.xml": ATOM_TYPE, "feed.json": JSON_TYPE}
Snapshot = dict[str, tuple[str, int]]


def story(title: str, day: int, body: str = "", **front: str) -> str:
    """An article with front matter, published on ``day`` of January 2025."""
    head = "".join(f"{key}: {value}\n" for key, value in front.items())
    text = body or f"What happened on day {day}."
    return f"---\ntitle: {title}\ndate: 2025-01-{day:02d}\n{head}---\n\n{text}\n"


def tag(slug: str, day: int) -> str:
    """The id feedsvc gives the article ``slug`` (published on ``day``: the id does not say)."""
    del day
    return f"tag:news.example.org,2000-01-01:{slug}"


def snapshot(*roots: Path) -> Snapshot:
    """Every file and directory below ``roots`` (and each root's own entry): its digest (or
    "dir") and mtime, so a write, a touch, a new or vanished file all show."""
    found: Snapshot = {}
    for root in roots:
        if not root.exists():
            found[str(root)] = ("absent", 0)
            continue
        for directory, _, files in os.walk(root):
            found[directory] = ("dir", os.stat(directory).st_mtime_ns)
            for name in files:
                path = Path(directory, name)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[str(path)] = (digest, os.stat(path).st_mtime_ns)
    return found


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site of three articles; its feeds hold the newest three, archive pages two each."""
    root = tmp_path / "site"
    (root / "articles").mkdir(parents=True)
    (root / "feedsvc.toml").write_text(
        f'[site]\ntitle = "Example News"\nurl = "{SITE}"\n'
        '[articles]\ndir = "articles"\n'
        '[feeds]\noutput = "public"\nmax_items = 3\narchive_page_size = 2\n'
    )
    for day, slug in enumerate(("alpha", "bravo", "charlie"), start=1):
        (root / "articles" / f"{slug}.md").write_text(story(slug.title(), day))
    return root


def published(site: Path) -> Snapshot:
    """The output and state directories, and whether each exists."""
    return snapshot(site / "public", site / ".feedsvc")


Run = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    """The command line run in-process over a site: its exit code and what it printed."""

    def run(site: Path, *args: str) -> tuple[int, str]:
        code = main(["--config", str(site / "feedsvc.toml"), *args])
        return code, capsys.readouterr().out

    return run


def diff_json(cli: Run, site: Path, *command: str) -> tuple[int, dict]:
    """`feedsvc diff --json` (or ``command``) over ``site``: its exit code and report."""
    code, out = cli(site, *(command or ("diff", "--json")))
    return code, json.loads(out)


def built(cli: Run, site: Path) -> None:
    assert cli(site, "-q", "build")[0] == 0


def document(report: dict, path: str) -> dict:
    return next(d for d in report["documents"] if d["path"] == path)


def ids(entries: list[dict]) -> list[str]:
    return [entry["id"] for entry in entries]


# The CLI: exit codes, what it reports, and that it writes nothing.


def test_an_unchanged_site_would_change_nothing_exit_0(site: Path, cli: Run) -> None:
    built(cli, site)
    before = published(site)
    done = run_feedsvc("diff", cwd=site)
    assert (done.returncode, done.stdout, done.stderr) == (0, "nothing would change\n", "")
    assert published(site) == before


def test_edits_are_reported_per_feed_exit_1_and_nothing_is_written(site: Path, cli: Run) -> None:
    built(cli, site)
    articles = site / "articles"
    (articles / "delta.md").write_text(story("Delta", 4))
    (articles / "charlie.md").write_text(story("Charlie, retitled", 3))
    (articles / "bravo.md").write_text(story("Bravo", 2, body="A new body for bravo."))
    before = published(site)

    done = run_feedsvc("diff", "--json", cwd=site)

    assert done.returncode == 1, done.stderr
    assert published(site) == before
    report = json.loads(done.stdout)
    assert report["changed"] is True
    rss, atom = document(report, "rss.xml"), document(report, "atom.xml")
    for feed in (rss, atom, document(report, "feed.json")):
        assert feed["new"] == [{"id": tag("delta", 4), "title": "Delta"}]
        assert feed["size_before"] < feed["size_after"]
    # Delta pushed Alpha out of the feeds, into the first archive page: aged out, not removed.
    assert ids(atom["aged_out"]) == [tag("alpha", 1)] and atom["removed"] == []
    assert ids(document(report, "archive/atom/1.xml")["moved_in"]) == [tag("alpha", 1)]
    # RSS states no updated time: its readers do not resurface an edit; Atom's do.
    assert {u["id"]: (u["fields"], u["resurfaces"]) for u in rss["updated"]} == {
        tag("charlie", 3): (["title"], False),
        tag("bravo", 2): (["summary", "content"], False),
    }
    assert {u["id"]: (u["fields"], u["resurfaces"]) for u in atom["updated"]} == {
        tag("charlie", 3): (["title", "updated"], True),
        tag("bravo", 2): (["updated", "summary", "content"], True),
    }
    assert report["summary"] == (
        "6 documents would be written, 0 deleted; entries: 1 new, 2 updated (2 resurface),"
        " 0 removed, 1 aged out, 0 id changes"
    )


def test_the_text_report_names_each_change(site: Path, cli: Run) -> None:
    built(cli, site)
    (site / "articles" / "delta.md").write_text(story("Delta", 4))
    (site / "articles" / "bravo.md").write_text(story("Bravo, retitled", 2))

    done = run_feedsvc("diff", cwd=site)

    assert done.returncode == 1
    lines = done.stdout.splitlines()
    at = lines.index(next(line for line in lines if line.startswith("atom.xml: ")))
    assert lines[at + 1 : at + 4] == [
        f"  new       {tag('delta', 4)}  Delta",
        f"  updated   {tag('bravo', 2)}  Bravo, retitled  (title, updated; resurfaces)",
        "  aged out  1 (no longer here, still published)",
    ]
    assert lines[-1].startswith("6 documents would be written, 0 deleted; entries: 1 new,")


def test_build_dry_run_reports_as_diff_does_and_writes_nothing(site: Path, cli: Run) -> None:
    built(cli, site)
    (site / "articles" / "delta.md").write_text(story("Delta", 4))
    before = published(site)

    dry = run_feedsvc("build", "--dry-run", cwd=site)
    diff = run_feedsvc("diff", cwd=site)

    assert dry.returncode == diff.returncode == 1
    assert dry.stdout == diff.stdout and f"new       {tag('delta', 4)}  Delta" in dry.stdout
    assert published(site) == before
    assert len(feedparser.parse((site / "public" / "rss.xml").read_bytes()).entries) == 3


def test_a_deleted_article_is_removed_and_its_archive_page_deleted(site: Path, cli: Run) -> None:
    (site / "articles" / "delta.md").write_text(story("Delta", 4))
    built(cli, site)  # alpha on archive page 1
    (site / "articles" / "alpha.md").unlink()

    code, report = diff_json(cli, site)

    assert code == 1
    page = document(report, "archive/rss/1.xml")
    assert page["size_after"] is None and ids(page["removed"]) == [tag("alpha", 1)]
    assert document(report, "rss.xml")["removed"] == []  # it lost only its archive link
    assert report["summary"] == (
        "3 documents would be written, 3 deleted; entries: 0 new, 0 updated (0 resurface),"
        " 1 removed, 0 aged out, 0 id changes"
    )


def test_an_article_past_max_items_ages_out_without_archives(site: Path, cli: Run) -> None:
    toml = site / "feedsvc.toml"
    toml.write_text(toml.read_text().replace("archive_page_size = 2", "archives = false"))
    built(cli, site)
    (site / "articles" / "delta.md").write_text(story("Delta", 4))

    code, report = diff_json(cli, site)

    assert code == 1
    for path in SUBSCRIPTION:
        feed = document(report, path)
        assert (ids(feed["new"]), ids(feed["aged_out"]), feed["removed"]) == (
            [tag("delta", 4)],
            [tag("alpha", 1)],
            [],
        )


def test_a_front_matter_id_on_a_published_article_is_an_id_change(site: Path, cli: Run) -> None:
    built(cli, site)
    (site / "articles" / "bravo.md").write_text(story("Bravo", 2, id="urn:example:bravo"))

    code, report = diff_json(cli, site)

    assert code == 1
    for path in SUBSCRIPTION:
        feed = document(report, path)
        assert feed["id_changes"] == [
            {"old": tag("bravo", 2), "new": "urn:example:bravo", "title": "Bravo",
             "matched_by": "link"}
        ]  # fmt: skip
        assert (feed["new"], feed["removed"]) == ([], [])
    assert report["summary"].endswith("0 removed, 0 aged out, 1 id changes")


def test_a_renamed_and_edited_file_is_an_id_change_by_title(site: Path, cli: Run) -> None:
    built(cli, site)
    articles = site / "articles"
    (articles / "bravo.md").unlink()
    (articles / "bravo-renamed.md").write_text(story("Bravo", 2, body="Bravo, edited."))

    code, report = diff_json(cli, site, "build", "--dry-run", "--json")

    assert code == 1
    change = {"old": tag("bravo", 2), "new": tag("bravo-renamed", 2), "title": "Bravo"}
    assert document(report, "atom.xml")["id_changes"] == [{**change, "matched_by": "title"}]


def test_a_first_dry_run_creates_neither_output_nor_state(site: Path, cli: Run) -> None:
    before = snapshot(site)

    code, report = diff_json(cli, site)

    assert code == 1
    assert snapshot(site) == before  # no public/, no .feedsvc/, the articles untouched
    rss = document(report, "rss.xml")
    assert rss["size_before"] is None
    assert ids(rss["new"]) == [tag("charlie", 3), tag("bravo", 2), tag("alpha", 1)]


def test_a_dry_run_records_no_failure_and_owes_no_pings(site: Path, cli: Run) -> None:
    toml = site / "feedsvc.toml"
    toml.write_text(toml.read_text() + '[ping]\nwebsub_hubs = ["http://127.0.0.1:9/hub"]\n')
    built(cli, site)
    (site / "articles" / "delta.md").write_text(story("Delta", 4))
    before = published(site)

    assert diff_json(cli, site)[0] == 1
    (site / "articles").rename(site / "gone")
    assert cli(site, "diff")[0] == 2  # no articles: an error, as for build

    assert published(site) == before


def test_json_without_dry_run_is_a_usage_error(site: Path, cli: Run) -> None:
    done = run_feedsvc("build", "--json", cwd=site)
    assert done.returncode == 2 and "--dry-run" in done.stderr
    assert not (site / "public").exists()


# The dry run's sink and the library: what it would publish is what a build publishes.


def test_the_dry_run_puts_exactly_what_the_build_writes(make_config: Callable[..., Config]) -> None:
    config = make_config(feeds={"max_items": 2, "archive_page_size": 2})
    articles = config.articles.dir
    for day in range(1, 7):
        (articles / f"a{day}.md").write_text(story(f"A{day}", day))
    build(config, now=NOW)
    (articles / "a7.md").write_text(story("A7", 7))
    for day in (1, 2, 3):  # archive page 1 empties: a document to delete
        (articles / f"a{day}.md").unlink()
    before = snapshot(config.feeds.output, config.state_path.parent)

    shown = preview(config, now=NOW)
    assert snapshot(config.feeds.output, config.state_path.parent) == before
    sink = LocalDirSink(config.feeds.output)
    result = build(config, now=NOW, sink=sink)

    written = {str(path.relative_to(config.feeds.output)) for path in result.written}
    would = {d.path for d in shown.diffs if d.size_after is not None}
    assert would == written
    for diff in shown.diffs:
        assert (sink.read(diff.path) is None) == (diff.size_after is None)
        if diff.size_after is not None:
            assert len(sink.read(diff.path) or b"") == diff.size_after
    assert {d.path for d in shown.diffs if d.size_after is None} == {
        "archive/rss/2.xml", "archive/atom/2.xml", "archive/json/2.json"
    }  # fmt: skip


def test_the_dry_run_sink_overlays_and_never_commits(tmp_path: Path) -> None:
    base = LocalDirSink(tmp_path / "public")
    base.put([Put("rss.xml", b"<rss>1</rss>", RSS_TYPE), Put("atom.xml", b"<feed/>", ATOM_TYPE)])
    before = snapshot(tmp_path / "public")
    sink = DryRunSink(base)
    heard: list[list[str]] = []

    written = sink.put(
        [Put("rss.xml", b"<rss>2</rss>", RSS_TYPE), Put("atom.xml", b"<feed/>", ATOM_TYPE)],
        heard.append,
    )

    assert (written, heard) == (["rss.xml"], [])
    assert sink.read("rss.xml") == b"<rss>2</rss>" and base.read("rss.xml") == b"<rss>1</rss>"
    assert sink.delete(["atom.xml", "missing.xml"]) == ["atom.xml"]
    assert sink.read("atom.xml") is None and set(sink.list()) == {"rss.xml"}
    assert sink.put([Put("rss.xml", b"<rss>1</rss>", RSS_TYPE)]) == ["rss.xml"]
    assert (sink.puts, list(sink.deleted)) == ({}, ["atom.xml"])  # made again as published
    assert snapshot(tmp_path / "public") == before


def test_a_read_only_state_read_leaves_the_directory_as_it_was(
    make_config: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    config = make_config()
    write_article("one.md", story("One", 1))
    build(config, now=NOW)
    state = config.state_path
    before = snapshot(state.parent)
    time.sleep(0.05)  # past the file system's timestamp tick
    count = transact(state, lambda db: db.execute("SELECT COUNT(*) FROM article").fetchone()[0])
    assert snapshot(state.parent) != before  # an ordinary open makes and removes its log
    time.sleep(0.05)
    before = snapshot(state.parent)

    read = transact(
        state,
        lambda db: db.execute("SELECT COUNT(*) FROM article").fetchone()[0],
        read_only=True,
    )

    assert read == count == 1
    assert snapshot(state.parent) == before


def test_a_read_only_state_read_sees_commits_still_in_the_log(
    make_config: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    config = make_config()
    write_article("one.md", story("One", 1))
    build(config, now=NOW)
    writer = sqlite3.connect(config.state_path)  # another process, mid-way through its work
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("INSERT INTO meta VALUES ('probe', 'in the log')")
        writer.commit()
        read = transact(
            config.state_path,
            lambda db: db.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone(),
            read_only=True,
        )
    finally:
        writer.close()
    assert read == ("in the log",)


# diff_documents over documents real builds made, in every format.


FORMATS = pytest.mark.parametrize("path", list(SUBSCRIPTION))


def two_builds(
    make_config: Callable[..., Config], edit: Callable[[Path], None], **feeds: object
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Every document of a build of three articles, and of a build after ``edit``."""
    config = make_config(feeds={"max_items": 3, **feeds})
    for day, slug in enumerate(("alpha", "bravo", "charlie"), start=1):
        (config.articles.dir / f"{slug}.md").write_text(story(slug.title(), day))

    def documents() -> dict[str, bytes]:
        build(config, now=NOW)
        output = config.feeds.output
        return {
            str(path.relative_to(output)): path.read_bytes()
            for path in output.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        }

    first = documents()
    edit(config.articles.dir)
    return first, documents()


@FORMATS
def test_read_entries_reads_ids_titles_and_links_in_document_order(
    make_config: Callable[..., Config], path: str
) -> None:
    first, _ = two_builds(make_config, lambda articles: None)
    entries = read_entries(first[path], SUBSCRIPTION[path])
    assert [(e.entry_id, e.title, e.link) for e in entries] == [
        (tag(slug, day), slug.title(), f"{SITE}{slug}/")
        for day, slug in ((3, "charlie"), (2, "bravo"), (1, "alpha"))
    ]
    assert all(e.published and e.content and e.summary for e in entries)


@FORMATS
def test_identical_documents_differ_in_nothing(
    make_config: Callable[..., Config], path: str
) -> None:
    first, second = two_builds(make_config, lambda articles: None)
    diff = diff_documents(path, first[path], second[path], SUBSCRIPTION[path])
    assert (diff.new, diff.updated, diff.removed, diff.aged_out, diff.id_changes) == (
        (), (), (), (), ()
    )  # fmt: skip


@FORMATS
def test_an_explicit_updated_date_resurfaces_where_the_format_states_it(
    make_config: Callable[..., Config], path: str
) -> None:
    def edit(articles: Path) -> None:
        (articles / "bravo.md").write_text(story("Bravo", 2, updated="2025-02-01"))

    first, second = two_builds(make_config, edit)
    diff = diff_documents(path, first[path], second[path], SUBSCRIPTION[path])
    if path == "rss.xml":
        assert diff.updated == ()  # RSS states no updated time: nothing moved
    else:
        [update] = diff.updated
        assert (update.entry_id, update.fields, update.resurfaces) == (
            tag("bravo", 2), ("updated",), True
        )  # fmt: skip


@FORMATS
def test_a_deleted_entry_is_removed_unless_still_published(
    make_config: Callable[..., Config], path: str
) -> None:
    first, second = two_builds(make_config, lambda articles: (articles / "bravo.md").unlink())
    media_type = SUBSCRIPTION[path]
    removed = diff_documents(path, first[path], second[path], media_type)
    assert [e.entry_id for e in removed.removed] == [tag("bravo", 2)] and not removed.aged_out
    kept = diff_documents(path, first[path], second[path], media_type, {tag("bravo", 2)})
    assert [e.entry_id for e in kept.aged_out] == [tag("bravo", 2)] and not kept.removed


@FORMATS
def test_an_entry_found_in_another_document_aged_out(
    make_config: Callable[..., Config], path: str
) -> None:
    def edit(articles: Path) -> None:
        (articles / "delta.md").write_text(story("Delta", 4))

    first, second = two_builds(make_config, edit, archive_page_size=2)
    media_type = SUBSCRIPTION[path]
    page = {"rss.xml": "archive/rss/1.xml", "atom.xml": "archive/atom/1.xml"}.get(
        path, "archive/json/1.json"
    )
    feed, archive = diff_build(
        [
            DocumentChange(path, media_type, first[path], second[path]),
            DocumentChange(page, media_type, first.get(page), second[page]),
        ]
    )
    assert [e.entry_id for e in feed.new] == [tag("delta", 4)]
    assert [e.entry_id for e in feed.aged_out] == [tag("alpha", 1)] and not feed.removed
    assert [e.entry_id for e in archive.moved_in] == [tag("alpha", 1)] and not archive.new


@FORMATS
def test_an_unreadable_published_document_counts_every_entry_new(
    make_config: Callable[..., Config], path: str
) -> None:
    first, _ = two_builds(make_config, lambda articles: None)
    diff = diff_documents(path, first[path][:100], first[path], SUBSCRIPTION[path])
    assert diff.unreadable_before and len(diff.new) == 3
