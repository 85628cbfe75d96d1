"""`feedsvc run` under faults: values the scheduler cannot take, a build that cannot write,
a config that would rename every entry, an articles root deleted or switched, SIGTERM in a
long build, a restart catching a file half-written. Real processes, files and signals."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest

from feedsvc.catalog.records import read_state
from feedsvc.config import config_from_dict
from feedsvc.daemon.run import Daemon
from feedsvc.daemon.systemd import SystemdNotifier
from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess, article, toml
from tests.peers import wait_until

SITE = "https://news.example.org/"


def test_an_article_past_the_last_utc_date_is_its_own_error(daemon: DaemonProcess) -> None:
    """9999-12-31T23:59:59-12:00 overflowed inside APScheduler and killed the builder. Reading
    may reject it; if not, the scheduler must (tests/test_schedule.py holds it to that)."""
    (daemon.articles / "far.md").write_text(article("Far", "9999-12-31T23:59:59-12:00"))
    wait_until(
        lambda: daemon.count("rejected articles/far.md") + daemon.count("schedule articles/far.md")
    )
    (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03"))
    daemon.wait_titles(lambda titles: titles == ["Second story", "First story"])
    assert daemon.stop() == 0


def test_a_reload_with_a_rescan_the_scheduler_cannot_take_is_refused(
    daemon: DaemonProcess,
) -> None:
    daemon.config.write_text(toml().replace('rescan = "1h"', 'rescan = "99999999h"'))
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload failed, keeping the old configuration: schedule.rescan")
    (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03"))
    daemon.wait_titles(lambda titles: "Second story" in titles)
    daemon.config.write_text(toml().replace("Example News", "Renamed News"))
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: "Renamed News" in (daemon.public / "rss.xml").read_text())
    assert daemon.stop() == 0


def test_a_rescan_the_scheduler_cannot_take_exits_2_at_start(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "feedsvc.toml").write_text(toml().replace('"1h"', '"99999999h"'))
    done = run_feedsvc("run", "--config", "feedsvc.toml", cwd=tmp_path, timeout=30)
    assert done.returncode == 2
    assert "schedule.rescan" in done.stderr and "Traceback" not in done.stderr


def test_a_builder_that_dies_starves_the_watchdog_and_exits_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever kills the build loop (here a bug in reloading) must not leave a process that
    systemd thinks is healthy."""
    (tmp_path / "articles").mkdir()
    config = config_from_dict(
        {
            "site": {"title": "Example News", "url": SITE},
            "articles": {"dir": "articles"},
            "feeds": {"output": "public"},
            "state": {"dir": "."},
        },
        tmp_path,
    )
    address = str(tmp_path / "notify.sock")

    def broken_reload():  # noqa: ANN202
        raise RuntimeError("a bug in reloading")

    async def scenario(sock: socket.socket) -> tuple[int, list[str]]:
        loop = asyncio.get_running_loop()
        daemon = Daemon(config, broken_reload, SystemdNotifier(address, watchdog_s=0.1))
        running = asyncio.create_task(daemon.run())
        messages: list[str] = []
        while "WATCHDOG=1" not in messages:
            messages += (await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)).decode().split()
        daemon.request_reload()
        code = await asyncio.wait_for(running, 5)
        after: list[str] = []
        with pytest.raises(TimeoutError):  # the process would now exit; nothing is fed
            while True:
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.3)
                after += data.decode().split()
        return code, after

    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.setblocking(False)
        with caplog.at_level(logging.INFO, logger="feedsvc.daemon"):
            code, after = asyncio.run(scenario(sock))
    assert code == 1
    assert "the builder ended unexpectedly; exiting to be restarted" in caplog.text
    assert "a bug in reloading" in caplog.text
    assert "STOPPING=1" in after and after.count("WATCHDOG=1") <= 1


def test_a_failed_build_is_retried_until_the_output_is_writable(daemon: DaemonProcess) -> None:
    """A file where the output directory should be (as root, permissions would not stop us)."""
    shutil.rmtree(daemon.public)
    daemon.public.write_text("in the way")
    (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03"))
    daemon.wait_log("build failed")
    state = read_state(daemon.root / "state.sqlite")
    assert state.failure is not None and "public" in state.failure.error
    daemon.public.unlink()
    daemon.wait_titles(lambda titles: titles == ["Second story", "First story"], timeout=8)
    assert daemon.count("retrying the build in 1 s") == 1
    # The build is recorded once its feeds are in place, a moment after readers see them.
    wait_until(lambda: read_state(daemon.root / "state.sqlite").failure is None)
    assert daemon.stop() == 0


def test_an_output_unwritable_at_start_is_retried_and_the_daemon_serves_meanwhile(
    tmp_path: Path,
) -> None:
    process = DaemonProcess(tmp_path, toml())
    (process.articles / "first.md").write_text(article("First story"))
    process.public.write_text("in the way")  # where the output directory should be
    process.start(wait_ready=False)
    try:
        process.wait_log("build failed")
        process.wait_log("retrying the build in 1 s")
        process.public.unlink()
        process.wait_titles(lambda titles: titles == ["First story"], timeout=8)
        assert process.stop() == 0
    finally:
        process.kill()


def test_an_empty_config_file_on_reload_is_refused(daemon: DaemonProcess) -> None:
    """It used to turn every guid into tag:localhost,…"""
    daemon.config.write_text("# nothing here yet\n")
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload failed, keeping the old configuration: site.url")
    (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03"))
    daemon.wait_titles(lambda titles: "Second story" in titles)
    rss = (daemon.public / "rss.xml").read_text()
    assert "localhost" not in rss and "news.example.org" in rss
    assert daemon.stop() == 0


def test_a_reload_that_changes_the_site_url_is_refused(daemon: DaemonProcess) -> None:
    before = (daemon.public / "rss.xml").read_text()
    daemon.config.write_text(toml(site_url="https://elsewhere.example/"))
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload refused, keeping the old configuration: [site] url")
    (daemon.articles / "first.md").touch()
    daemon.wait_log("build started", count=2)
    daemon.wait_log("built ", count=2)
    assert (daemon.public / "rss.xml").read_text() == before
    assert daemon.stop() == 0


def test_a_recloned_articles_directory_is_published(daemon: DaemonProcess) -> None:
    shutil.rmtree(daemon.articles)
    daemon.wait_log("the articles directory articles is gone")
    daemon.articles.mkdir()
    (daemon.articles / "cloned.md").write_text(article("Cloned story", "2025-06-04"))
    daemon.wait_titles(lambda titles: titles == ["Cloned story"])
    (daemon.articles / "later.md").write_text(article("Later story", "2025-06-05"))
    daemon.wait_titles(lambda titles: titles == ["Later story", "Cloned story"])
    assert daemon.stop() == 0


def test_a_symlinked_root_switched_with_ln_sfn_is_published(tmp_path: Path) -> None:
    one, two = tmp_path / "releases" / "1", tmp_path / "releases" / "2"
    one.mkdir(parents=True)
    two.mkdir()
    (one / "first.md").write_text(article("First release"))
    (two / "second.md").write_text(article("Second release", "2025-06-03"))
    (tmp_path / "articles").symlink_to("releases/1")
    process = DaemonProcess(tmp_path, toml()).start()
    try:
        assert process.titles() == ["First release"]
        (tmp_path / "articles.new").symlink_to("releases/2")
        os.replace(tmp_path / "articles.new", tmp_path / "articles")  # ln -sfn releases/2
        process.wait_titles(lambda titles: titles == ["Second release"])
        (two / "third.md").write_text(article("Third release", "2025-06-04"))
        process.wait_titles(lambda titles: titles == ["Third release", "Second release"])
        assert process.stop() == 0
    finally:
        process.kill()


def test_sigterm_in_a_long_build_exits_0_within_5_s_and_writes_nothing(tmp_path: Path) -> None:
    process = DaemonProcess(tmp_path, toml())
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    for n in range(20_000):
        body = " ".join(words[(n + i) % 12] for i in range(60))
        published = f"2025-{1 + n % 12:02}-{1 + n % 28:02} 09:00 UTC"
        (process.articles / f"a{n:05}.md").write_text(article(f"Story {n}", published, body))
    process.start(wait_ready=False)
    try:
        process.wait_log("build started: first build")
        time.sleep(0.3)
        process.signal(signal.SIGTERM)
        assert process.stop() == 0
        assert process.stop_took < 5
        assert process.lines()[-1] == "INFO stopped"
        assert not list(process.public.glob("*")) if process.public.exists() else True
    finally:
        process.kill()


def test_the_last_good_version_survives_a_restart(tmp_path: Path) -> None:
    """A file caught half-written while the daemon restarts stays published as it was."""
    process = DaemonProcess(tmp_path, toml())
    (process.articles / "first.md").write_text(article("First story"))
    (process.articles / "second.md").write_text(article("Second story", "2025-06-03"))
    process.start()
    try:
        process.kill()
        (process.articles / "second.md").write_text("---\ntitle: [unclosed\n")
        process.start()
        process.wait_log("kept the last good version of articles/second.md")
        assert process.titles() == ["Second story", "First story"]
        assert process.stop() == 0
    finally:
        process.kill()


def test_a_reload_to_another_articles_directory_watches_it(daemon: DaemonProcess) -> None:
    """The old watcher ends on purpose: that is no failure of the daemon."""
    other = daemon.root / "other"
    other.mkdir()
    (other / "elsewhere.md").write_text(article("Elsewhere story", "2025-06-04"))
    daemon.config.write_text(toml().replace('dir = "articles"', 'dir = "other"'))
    daemon.signal(signal.SIGHUP)
    daemon.wait_titles(lambda titles: titles == ["Elsewhere story"])
    (other / "next.md").write_text(article("Next story", "2025-06-05"))
    daemon.wait_titles(lambda titles: titles == ["Next story", "Elsewhere story"])
    assert daemon.stop() == 0
