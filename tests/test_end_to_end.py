"""The real CLI as a subprocess, as a user runs it."""

from __future__ import annotations

import shutil
from pathlib import Path

import feedparser
import pytest

from tests.conftest import FIXTURES, SEED, article, run_feedsvc
from tests.feedcheck import check_atom, check_json, check_rss

REPO = Path(__file__).parent.parent


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles")
    (tmp_path / "feedsvc.toml").write_text(
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        'author = "Desk"\n[articles]\ndir = "articles"\n[feeds]\noutput = "public"\n'
    )
    return tmp_path


def test_build_with_the_config_in_the_working_directory(site: Path) -> None:
    done = run_feedsvc("build", cwd=site)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    public = site / "public"
    check_rss((public / "rss.xml").read_bytes(), "https://news.example.org/rss.xml")
    check_atom((public / "atom.xml").read_bytes(), "https://news.example.org/atom.xml")
    check_json((public / "feed.json").read_bytes(), "https://news.example.org/feed.json")


def test_flags_override_the_config(site: Path, tmp_path: Path) -> None:
    done = run_feedsvc(
        "build", "--output", "elsewhere", "--site-url", "https://other.example/",
        "--title", "Other", cwd=site,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    feed = feedparser.parse((site / "elsewhere" / "atom.xml").read_bytes())
    assert feed.feed.title == "Other"
    assert feed.entries[0].link.startswith("https://other.example/")


def test_rejected_articles_are_one_line_each_and_the_rest_publish(site: Path) -> None:
    (site / "articles" / "bad-date.md").write_text(
        "# Bad\n\nBody.\n\n---\n\nPublished: the day after tomorrow-ish\n"
    )
    (site / "articles" / "empty.md").write_text("")
    done = run_feedsvc("build", cwd=site)
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "articles/bad-date.md:7: cannot understand the date 'the day after tomorrow-ish'",
        "articles/empty.md: empty file",
    ]
    assert len(feedparser.parse((site / "public" / "rss.xml").read_bytes()).entries) == 1
    assert run_feedsvc("build", "--strict", cwd=site).returncode == 1


def test_verbose_says_what_was_built(site: Path) -> None:
    done = run_feedsvc("build", "-v", cwd=site)
    assert "built 1 entries from 1 files" in done.stderr
    again = run_feedsvc("-v", "build", cwd=site)  # before the command, as after it
    assert "feeds unchanged" in again.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[site]\ntitel = "x"\n', "site.titel: unknown key"),
        ("[sites]\n", "sites: unknown table"),
        ('[articles]\ndefault_timezone = "Nowhere/Land"\n', "articles.default_timezone"),
        ('[site]\nurl = "news.example.org"\n', "site.url"),
    ],
)
def test_bad_config_exits_2_naming_the_key(site: Path, config: str, message: str) -> None:
    (site / "feedsvc.toml").write_text(config)
    done = run_feedsvc("build", cwd=site)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_articles_or_unwritable_output_exit_2_and_keep_feeds(site: Path) -> None:
    assert run_feedsvc("build", cwd=site).returncode == 0
    before = (site / "public" / "rss.xml").read_bytes()
    missing = run_feedsvc("build", "--articles", "nowhere", cwd=site)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    (site / "blocker").write_text("a file")
    blocked = run_feedsvc("build", "--output", "blocker/public", cwd=site)
    assert blocked.returncode == 2 and "blocker" in blocked.stderr
    assert (site / "public" / "rss.xml").read_bytes() == before


def test_bad_command_line_exits_2(site: Path) -> None:
    assert run_feedsvc("build", "--no-such-flag", cwd=site).returncode == 2
    assert run_feedsvc(cwd=site).returncode == 2


def test_check_lists_everything_and_writes_nothing(site: Path) -> None:
    shutil.copytree(FIXTURES / "dirty", site / "articles", dirs_exist_ok=True)
    done = run_feedsvc("check", cwd=site)
    assert done.returncode == 0
    assert not (site / "public").exists()
    assert "0 scheduled for later" in done.stdout
    assert "10 rejected, 1 drafts" in done.stdout
    assert "articles/future-2099.md: its date 2099-01-01 is more than a year ahead" in done.stderr
    assert "articles/binary.md: not a text file (binary data)" in done.stderr
    assert "not valid UTF-8" in done.stderr


def test_help_and_version() -> None:
    for args in (["--help"], ["build", "--help"], ["check", "--help"]):
        done = run_feedsvc(*args, cwd=REPO)
        assert done.returncode == 0 and "usage: feedsvc" in done.stdout
    assert run_feedsvc("--version", cwd=REPO).stdout.startswith("feedsvc ")


def test_the_bundled_articles_build_cleanly(tmp_path: Path) -> None:
    # A copy of the bundled site, so the build's state file is not written into the checkout.
    shutil.copy(REPO / "feedsvc.toml", tmp_path / "feedsvc.toml")
    shutil.copytree(REPO / "articles", tmp_path / "articles")
    done = run_feedsvc("build", "--strict", "--config", str(tmp_path / "feedsvc.toml"),
                   "--output", str(tmp_path / "out"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    feed = feedparser.parse((tmp_path / "out" / "atom.xml").read_bytes())
    assert len(feed.entries) == len(list((REPO / "articles").iterdir()))


def test_edit_keeps_ids_across_runs(site: Path) -> None:
    story = site / "articles" / "story.md"
    story.write_text(article("Story", "First.", "2025-05-01"))
    run_feedsvc("build", cwd=site)
    ids = [e.id for e in feedparser.parse((site / "public" / "atom.xml").read_bytes()).entries]
    story.write_text(article("Story, retitled", "Second.", "2025-05-01"))
    run_feedsvc("build", cwd=site)
    after = feedparser.parse((site / "public" / "atom.xml").read_bytes()).entries
    assert [e.id for e in after] == ids
    assert "Story, retitled" in [e.title for e in after]
