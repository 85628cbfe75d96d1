"""The articles directory vanishing under a publisher, caused for real: renamed away, emptied,
or a share unmounted (a tmpfs mounted over it, then unmounted). No build empties the feeds:
each is refused with a clear message, the daemon stays up and serves the last good feeds, and
it publishes again once the articles are back."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess, article, served, serving_daemon

FEEDS = ("rss.xml", "atom.xml", "feed.json")
SITE = ("--site-url", "https://news.example.org/", "--title", "Example News")


def snapshot(output: Path) -> dict[str, bytes]:
    """Every file in the output directory, dot files and temporaries included."""
    return {path.name: path.read_bytes() for path in sorted(output.iterdir())}


@contextmanager
def tmpfs_at(directory: Path) -> Iterator[Callable[[], None]]:
    """A tmpfs mounted over ``directory`` (skipped where none can be); yields the unmount,
    which the block may call itself (a share going away)."""
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")

    def unmount() -> None:
        subprocess.run(["umount", str(directory)], check=True)

    try:
        yield unmount
    finally:
        if directory.is_mount():
            unmount()


def test_a_cli_build_with_the_articles_directory_gone_fails_and_keeps_the_feeds(
    tmp_path: Path,
) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "first.md").write_text(article("First story"))
    assert run_feedsvc("build", *SITE, cwd=tmp_path).returncode == 0
    before = snapshot(tmp_path / "public")
    (tmp_path / "articles").rename(tmp_path / "away")
    gone = run_feedsvc("build", *SITE, cwd=tmp_path)
    assert gone.returncode == 2
    assert gone.stderr == "feedsvc: error: articles.dir: no such directory: articles\n"
    assert snapshot(tmp_path / "public") == before
    (tmp_path / "away").rename(tmp_path / "articles")
    back = run_feedsvc("build", *SITE, cwd=tmp_path)
    assert back.returncode == 0 and snapshot(tmp_path / "public") == before


def test_a_cli_build_over_an_unmounted_share_refuses_to_empty_the_feeds(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    with tmpfs_at(articles) as unmount:
        for number in range(1, 4):
            (articles / f"s{number}.md").write_text(article(f"Story {number}"))
        assert run_feedsvc("build", *SITE, cwd=tmp_path).returncode == 0
        before = snapshot(tmp_path / "public")
        unmount()
        refused = run_feedsvc("build", *SITE, cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "refusing" in refused.stderr and "rss.xml" in refused.stderr
    assert snapshot(tmp_path / "public") == before


def outage(
    process: DaemonProcess,
    port: int,
    go: Callable[[], None],
    because: str,
    come_back: Callable[[], None],
) -> None:
    """The articles ``go``: builds fail saying ``because`` and the feeds stay as they were
    and are served; once they ``come_back`` (with a new story), that story is published."""
    before = snapshot(process.public)
    go()
    process.wait_log("retrying the build", count=2)
    failures = [line for line in process.lines() if "build failed" in line]
    assert failures and all(because in line for line in failures), failures
    assert snapshot(process.public) == before
    assert {name: served(port, name) for name in FEEDS} == {name: before[name] for name in FEEDS}
    come_back()
    process.wait_titles(lambda titles: titles == ["Second story", "First story"])
    assert process.stop() == 0


def test_the_daemon_with_its_articles_renamed_away_serves_the_last_feeds(
    tmp_path: Path,
) -> None:
    """A build asked for while the directory is gone (a reload here; a rescan alike) fails
    and is retried; the directory renamed back is watched and published again."""
    away = tmp_path / "away"
    with serving_daemon(tmp_path) as (process, port):

        def go() -> None:
            process.articles.rename(away)
            process.wait_log("the articles directory articles is gone")
            process.config.write_text(process.config.read_text().replace("100", "150"))
            process.signal(signal.SIGHUP)

        def come_back() -> None:
            (away / "second.md").write_text(article("Second story", "2025-06-03"))
            away.rename(process.articles)

        outage(process, port, go, "articles.dir: no such directory: articles", come_back)


def test_the_daemon_with_its_articles_emptied_serves_the_last_feeds(tmp_path: Path) -> None:
    """rm articles/*, an rsync --delete gone wrong; then the files are restored."""
    kept = tmp_path / "kept"
    kept.mkdir()
    with serving_daemon(tmp_path) as (process, port):

        def go() -> None:
            shutil.move(process.articles / "first.md", kept / "first.md")

        def come_back() -> None:
            (kept / "second.md").write_text(article("Second story", "2025-06-03"))
            for path in kept.iterdir():
                shutil.move(path, process.articles / path.name)

        outage(process, port, go, "refusing", come_back)


def test_the_daemon_over_an_unmounted_share_serves_the_last_feeds(tmp_path: Path) -> None:
    """The articles on a share (a tmpfs) that is unmounted under the daemon, then mounted
    again with the articles on it."""
    articles = tmp_path / "articles"
    articles.mkdir()
    with tmpfs_at(articles) as unmount:
        with serving_daemon(tmp_path) as (process, port):

            def come_back() -> None:
                subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(articles)], check=True)
                (articles / "first.md").write_text(article("First story"))
                (articles / "second.md").write_text(article("Second story", "2025-06-03"))

            outage(process, port, unmount, "refusing", come_back)
