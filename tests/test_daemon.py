"""`feedsvc run` as a real process: files dropped, edited, renamed and deleted, signals sent,
pings and systemd notifications received by real sockets on this machine."""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from feedsvc.catalog.records import read_state
from tests.daemon_process import DaemonProcess, article, toml
from tests.peers import Recorder, endpoint, refused_url, wait_until


def test_drop_edit_rename_and_delete_reach_the_feeds(daemon: DaemonProcess) -> None:
    assert daemon.titles() == ["First story"]
    (daemon.articles / "second.md").write_text(article("Second story", "2025-06-03 09:00 UTC"))
    daemon.wait_titles(lambda titles: titles == ["Second story", "First story"])

    (daemon.articles / "second.md").write_text(article("Second story, updated", "2025-06-03"))
    daemon.wait_titles(lambda titles: "Second story, updated" in titles)

    (daemon.articles / "first.md").unlink()
    daemon.wait_titles(lambda titles: titles == ["Second story, updated"])
    assert daemon.stop() == 0


def test_renamed_file_with_front_matter_id_keeps_its_entry(daemon: DaemonProcess) -> None:
    text = (
        "---\ntitle: Kept\ndate: 2025-06-04T09:00:00Z\n"
        "id: urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427\n---\n\nBody.\n"
    )
    (daemon.articles / "kept.md").write_text(text)
    daemon.wait_titles(lambda titles: "Kept" in titles)
    (daemon.articles / "kept.md").rename(daemon.articles / "renamed.md")
    daemon.wait_log("changed articles/", count=2)
    daemon.wait_log("built ", count=3)
    rss = (daemon.public / "rss.xml").read_text()
    assert rss.count("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427") == 1
    assert "renamed/" in rss and "kept/" not in rss


def test_burst_of_200_files_gives_a_handful_of_builds(daemon: DaemonProcess) -> None:
    for number in range(200):
        (daemon.articles / f"burst-{number:03}.md").write_text(article(f"Burst {number}"))
    daemon.wait_log("from 201 files")
    time.sleep(0.5)  # let any straggling batch show itself before counting
    builds = daemon.count("build started") - 1
    assert 1 <= builds <= 5, daemon.lines()


def test_half_written_file_never_reaches_the_feeds(daemon: DaemonProcess) -> None:
    path = daemon.articles / "slow.md"
    with path.open("w") as handle:
        handle.write("---\ntitle: Slow story\n")
        handle.flush()
        daemon.wait_log("rejected articles/slow.md")
        assert daemon.titles() == ["First story"]
        handle.write("date: 2025-06-05T09:00:00Z\n---\n\nThe whole text.\n")
    daemon.wait_titles(lambda titles: "Slow story" in titles)


def test_half_written_edit_keeps_the_last_good_version(daemon: DaemonProcess) -> None:
    path = daemon.articles / "first.md"
    with path.open("w") as handle:
        handle.write("---\ntitle: First story, rewritten\n")
        handle.flush()
        daemon.wait_log("kept the last good version of articles/first.md")
        assert daemon.titles() == ["First story"]
        handle.write("date: 2025-06-02T09:00:00Z\n---\n\nNew text.\n")
    daemon.wait_titles(lambda titles: titles == ["First story, rewritten"])


def test_editor_leftovers_and_hidden_files_never_trigger_a_build(daemon: DaemonProcess) -> None:
    for name in (".first.md.swp", "first.md~", "#first.md#", ".hidden.md", "notes.rst"):
        (daemon.articles / name).write_text(article("Leftover"))
    (daemon.articles / "real.md").write_text(article("Real story", "2025-06-06"))
    daemon.wait_titles(lambda titles: "Real story" in titles)
    assert daemon.count("build started") == 2
    assert "Leftover" not in daemon.titles()


def test_future_article_appears_at_its_time(daemon: DaemonProcess) -> None:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    (daemon.articles / "later.md").write_text(article("Later story", due.isoformat()))
    daemon.wait_log("scheduled articles/later.md")
    assert "Later story" not in daemon.titles()
    daemon.wait_titles(lambda titles: "Later story" in titles, timeout=10)
    late = datetime.now(UTC) - due
    assert timedelta(0) <= late < timedelta(seconds=1.5)


def test_sighup_reloads_and_a_broken_config_keeps_the_old_one(daemon: DaemonProcess) -> None:
    daemon.config.write_text(daemon.config.read_text().replace("Example News", "Renamed News"))
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: "Renamed News" in (daemon.public / "rss.xml").read_text())

    daemon.config.write_text("[site]\nurl = 'not a url'\n")
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload failed, keeping the old configuration")
    (daemon.articles / "after.md").write_text(article("After reload", "2025-06-07"))
    daemon.wait_titles(lambda titles: "After reload" in titles)
    assert "Renamed News" in (daemon.public / "rss.xml").read_text()
    assert daemon.stop() == 0


def test_status_reports_the_last_build(daemon: DaemonProcess) -> None:
    (daemon.articles / "bad.md").write_text("# No date here\n\nText.\n")
    daemon.wait_log("rejected articles/bad.md")
    build = read_state(daemon.root / "state.sqlite").build
    assert build is not None and build.entries == 1 and build.articles == 2
    assert any("bad.md" in line for line in build.rejected)


def test_changed_feeds_are_pinged_and_unchanged_ones_not(tmp_path: Path) -> None:
    recorder = Recorder()
    with endpoint(recorder) as hub:
        extra = f'[ping]\nwebsub_hubs = ["{hub}"]\ntimeout_s = 1\nbackoff_s = 0.01\n'
        process = DaemonProcess(tmp_path, toml(extra=extra))
        (process.articles / "first.md").write_text(article("First story"))
        process.start()
        try:
            wait_until(lambda: len(recorder.requests) == 3)
            (process.articles / "first.md").touch()
            process.wait_log("wrote nothing (feeds unchanged)")
            (process.articles / "second.md").write_text(article("Second story", "2025-06-08"))
            wait_until(lambda: len(recorder.requests) == 6)
            assert process.stop() == 0
        finally:
            process.kill()
    topics = sorted(request["form"]["hub.topic"][0] for request in recorder.requests)
    base = "https://news.example.org/"
    assert topics == sorted([base + "atom.xml", base + "feed.json", base + "rss.xml"] * 2)
    pings = read_state(tmp_path / "state.sqlite").pings
    assert len(pings) == 3 and all(ping.ok for ping in pings)


def test_failing_hub_never_delays_a_build(tmp_path: Path) -> None:
    recorder = Recorder(hang_s=5)
    with endpoint(recorder) as hub:
        extra = f'[ping]\nwebsub_hubs = ["{hub}"]\ntimeout_s = 2\nmax_attempts = 2\n'
        process = DaemonProcess(tmp_path, toml(extra=extra))
        process.start()
        try:
            (process.articles / "first.md").write_text(article("First story"))
            process.wait_titles(lambda titles: titles == ["First story"], timeout=3)
            assert process.stop() == 0
            assert process.stop_took < 5
        finally:
            process.kill()


def test_systemd_hears_ready_status_and_watchdog(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        sock.settimeout(10)
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}
        process = DaemonProcess(tmp_path, toml(), env=env)
        (process.articles / "first.md").write_text(article("First story"))
        process.start(wait_ready=False)
        try:
            messages: list[str] = []
            while messages.count("WATCHDOG=1") < 2:
                messages.extend(sock.recv(4096).decode().split("\n"))
            process.signal(signal.SIGTERM)
            while "STOPPING=1" not in messages:
                messages.extend(sock.recv(4096).decode().split("\n"))
            assert process.stop() == 0
        finally:
            process.kill()
    assert "READY=1" in messages
    ready = messages.index("READY=1")
    assert messages[ready + 1].startswith("STATUS=last build ")
    assert "1 entries from 1 files" in messages[ready + 1]
    assert os.path.exists(address)


def test_serve_bind_makes_run_serve_the_feeds_too(tmp_path: Path) -> None:
    import httpx

    address = refused_url().removeprefix("http://").rstrip("/")
    process = DaemonProcess(tmp_path, toml(extra=f'[serve]\nbind = "{address}"\n'))
    (process.articles / "first.md").write_text(article("First story"))
    process.start()
    try:
        response = wait_until(lambda: _get(httpx, f"http://{address}/rss.xml"))
        assert b"First story" in response.content
        (process.articles / "second.md").write_text(article("Second story", "2025-06-09"))
        wait_until(lambda: b"Second story" in _get(httpx, f"http://{address}/rss.xml").content)
        assert process.stop() == 0
    finally:
        process.kill()


def _get(httpx, url: str):  # noqa: ANN001, ANN202
    try:
        response = httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
    return response if response.status_code == 200 else None


def test_a_warning_is_logged_once_not_at_every_build(daemon: DaemonProcess) -> None:
    legacy = "# Caf\u00e9 \u201cnews\u201d\n\nText.\n\n---\n\nPublished: 2025-06-05\n"
    (daemon.articles / "legacy.md").write_bytes(legacy.encode("cp1252"))
    daemon.wait_titles(lambda titles: "Café “news”" in titles)
    (daemon.articles / "third.md").write_text(article("Third story", "2025-06-06 09:00 UTC"))
    daemon.wait_titles(lambda titles: "Third story" in titles)
    assert daemon.count("legacy.md: not valid UTF-8, read as Windows-1252") == 1
    assert daemon.stop() == 0


def test_a_reload_applies_the_new_ping_timeout(tmp_path: Path) -> None:
    """The hub answers in 1.5 s: too slow for timeout_s = 0.5, in time for 5 after SIGHUP."""
    recorder = Recorder(hang_s=1.5)
    with endpoint(recorder) as hub:
        ping = f'[ping]\nwebsub_hubs = ["{hub}"]\nmax_attempts = 1\ntimeout_s = '
        process = DaemonProcess(tmp_path, toml(extra=ping + "0.5\n"))
        (process.articles / "first.md").write_text(article("First story"))
        process.start()
        try:
            process.wait_log(": failed, no answer within 0.5 s", count=3)
            process.config.write_text(toml(extra=ping + "5\n"))
            process.signal(signal.SIGHUP)
            process.wait_log("INFO configuration reloaded")
            (process.articles / "second.md").write_text(article("Second story", "2025-06-08"))
            process.wait_log(": ok, HTTP 202 after 1 attempt", count=3)
            assert process.stop() == 0
        finally:
            process.kill()
    assert len(recorder.requests) == 6
