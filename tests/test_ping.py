"""Pings against real endpoints on 127.0.0.1: a flask-websub hub with a subscriber, a stdlib
XML-RPC ping service, and endpoints that fail, hang, refuse or answer flerror."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feedsvc.build import build
from feedsvc.catalog.records import read_pending, read_state
from feedsvc.config import Config, config_from_dict
from feedsvc.model import Notification
from feedsvc.notifications import feed_urls, notifications_for
from feedsvc.ping import Pinger, send, send_all
from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess
from tests.daemon_process import article as daemon_article
from tests.daemon_process import toml as daemon_toml
from tests.peers import (
    Recorder,
    endpoint,
    feed_server,
    ping_service,
    refused_url,
    wait_until,
    websub,
    xmlrpc_answer,
)

ARTICLE = "# A story\n\nIt happened.\n\n---\n\nPublished: 2025-06-02 09:00 UTC\n"


def make_config(tmp_path: Path, site_url: str = "https://news.example.org/", **ping: object):
    (tmp_path / "articles").mkdir(exist_ok=True)
    data = {
        "site": {"title": "Example News", "url": site_url},
        "articles": {"dir": "articles"},
        "feeds": {"output": "public"},
        "ping": {"timeout_s": 1.0, "max_attempts": 3, "backoff_s": 0.01, **ping},
        "state": {"dir": "."},
    }
    return config_from_dict(data, tmp_path)


def deliver(config: Config, kind: str, url: str, topic: str | None = None):
    message = Notification(kind, url, topic or feed_urls(config, ["rss.xml"])[0])
    return asyncio.run(send_all(config, [message]))[0]


def test_websub_publish_sends_mode_url_and_topic(tmp_path: Path) -> None:
    recorder = Recorder()
    with endpoint(recorder) as hub:
        config = make_config(tmp_path)
        outcome = deliver(config, "websub", hub)
    assert outcome.ok and outcome.attempts == 1
    form = recorder.requests[0]["form"]
    topic = "https://news.example.org/rss.xml"
    assert form == {"hub.mode": ["publish"], "hub.url": [topic], "hub.topic": [topic]}


def test_hub_pushes_new_content_to_subscriber_after_publish(tmp_path: Path) -> None:
    with websub(tmp_path) as peer:
        with feed_server(tmp_path / "public", peer.hub_url) as site:
            config = make_config(tmp_path, site_url=site, websub_hubs=[peer.hub_url])
            (tmp_path / "articles" / "story.md").write_text(ARTICLE)
            build(config)
            topic = site + "atom.xml"
            peer.subscribe(topic)
            outcome = deliver(config, "websub", peer.hub_url, topic)
            assert outcome.ok, outcome.detail
            wait_until(lambda: peer.received.get(topic))
    pushed = peer.received[topic][0]
    assert pushed == (tmp_path / "public" / "atom.xml").read_bytes()
    assert b"A story" in pushed


def test_xmlrpc_extended_ping_names_site_and_feed(tmp_path: Path) -> None:
    calls: list[tuple[str, tuple]] = []
    with ping_service(calls) as server:
        config = make_config(tmp_path)
        outcome = deliver(config, "xmlrpc", server)
    assert outcome.ok, outcome.detail
    site = "https://news.example.org/"
    assert calls == [("weblogUpdates.extendedPing", ("Example News", site, site, site + "rss.xml"))]


def test_xmlrpc_falls_back_to_plain_ping(tmp_path: Path) -> None:
    calls: list[tuple[str, tuple]] = []
    with ping_service(calls, extended=False) as server:
        outcome = deliver(make_config(tmp_path), "xmlrpc", server)
    assert outcome.ok, outcome.detail
    assert calls == [("weblogUpdates.ping", ("Example News", "https://news.example.org/"))]


def test_xmlrpc_flerror_true_is_a_failure_despite_http_200(tmp_path: Path) -> None:
    recorder = Recorder(answers=[(200, {}, xmlrpc_answer(True, "Go away"))])
    with endpoint(recorder) as server:
        outcome = deliver(make_config(tmp_path), "xmlrpc", server)
    assert not outcome.ok
    assert "flerror" in outcome.detail and "Go away" in outcome.detail
    assert recorder.requests[0]["headers"]["Content-Type"] == "text/xml"


def test_server_error_twice_then_success_is_retried(tmp_path: Path) -> None:
    recorder = Recorder(answers=[(500, {}, b""), (503, {}, b""), (202, {}, b"")])
    with endpoint(recorder) as hub:
        outcome = deliver(make_config(tmp_path, max_attempts=5), "websub", hub)
    assert outcome.ok and outcome.attempts == 3


def test_retries_stop_at_max_attempts(tmp_path: Path) -> None:
    recorder = Recorder(answers=[(500, {}, b"")])
    with endpoint(recorder) as hub:
        outcome = deliver(make_config(tmp_path, max_attempts=3), "websub", hub)
    assert not outcome.ok and outcome.attempts == 3 == len(recorder.requests)
    assert "HTTP 500" in outcome.detail


def test_client_error_is_not_retried(tmp_path: Path) -> None:
    recorder = Recorder(answers=[(400, {}, b"")])
    with endpoint(recorder) as hub:
        outcome = deliver(make_config(tmp_path), "websub", hub)
    assert not outcome.ok and len(recorder.requests) == 1


def test_too_many_requests_waits_for_retry_after(tmp_path: Path) -> None:
    recorder = Recorder(answers=[(429, {"Retry-After": "1"}, b""), (202, {}, b"")])
    with endpoint(recorder) as hub:
        outcome = deliver(make_config(tmp_path), "websub", hub)
    assert outcome.ok and outcome.attempts == 2
    first, second = recorder.requests
    assert second["at"] - first["at"] >= 0.95


def test_hanging_endpoint_times_out(tmp_path: Path) -> None:
    recorder = Recorder(hang_s=3.0)
    with endpoint(recorder) as hub:
        started = time.monotonic()
        outcome = deliver(make_config(tmp_path, timeout_s=0.3, max_attempts=2), "websub", hub)
        elapsed = time.monotonic() - started
    assert not outcome.ok and outcome.attempts == 2
    assert elapsed < 1.5
    assert "no answer within 0.3 s" in outcome.detail


def test_refused_connection_fails_after_bounded_attempts(tmp_path: Path) -> None:
    outcome = deliver(make_config(tmp_path, max_attempts=3), "websub", refused_url())
    assert not outcome.ok and outcome.attempts == 3
    assert "ConnectError" in outcome.detail


def test_notifications_cover_each_hub_and_changed_feed(tmp_path: Path) -> None:
    config = make_config(tmp_path, websub_hubs=["http://a/", "http://b/"], xmlrpc=["http://c/"])
    changed = feed_urls(config, ["atom.xml", "feed.json"])
    messages = notifications_for(config, changed)
    assert {(m.kind, m.endpoint, m.topic) for m in messages} == {
        ("websub", "http://a/", "https://news.example.org/atom.xml"),
        ("websub", "http://a/", "https://news.example.org/feed.json"),
        ("websub", "http://b/", "https://news.example.org/atom.xml"),
        ("websub", "http://b/", "https://news.example.org/feed.json"),
        ("xmlrpc", "http://c/", "https://news.example.org/rss.xml"),
    }
    assert notifications_for(config, []) == []


def test_burst_while_pending_sends_one_more_ping_not_many(tmp_path: Path) -> None:
    recorder = Recorder(hang_s=0.3)
    with endpoint(recorder) as hub:
        config = make_config(tmp_path, websub_hubs=[hub])
        outcomes = []

        async def burst() -> None:
            pinger = Pinger(config, outcomes.append)
            for _ in range(20):
                pinger.notify(feed_urls(config, ["rss.xml"]))
                await asyncio.sleep(0.01)
            while len(outcomes) < 2:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.4)
            await pinger.close()

        asyncio.run(burst())
    assert len(recorder.requests) == 2
    assert all(outcome.ok for outcome in outcomes)


def test_ping_command_exits_1_when_an_endpoint_fails_and_records_outcomes(tmp_path: Path) -> None:
    calls: list[tuple[str, tuple]] = []
    with ping_service(calls) as good:
        bad = refused_url()
        toml = (
            '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
            f'[ping]\nxmlrpc = ["{good}", "{bad}"]\ntimeout_s = 1\nmax_attempts = 2\n'
            'backoff_s = 0.01\n[state]\ndir = "."\n'
        )
        (tmp_path / "feedsvc.toml").write_text(toml)
        command = [sys.executable, "-m", "feedsvc", "ping", "--all", "--config", "feedsvc.toml"]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1, done.stderr
    assert "1 of 2 notifications delivered" in done.stdout
    assert len(calls) == 1
    pings = read_state(tmp_path / "state.sqlite").pings
    assert {(p.notification.endpoint, p.ok) for p in pings} == {(good, True), (bad, False)}
    status = run_feedsvc("status", "--config", "feedsvc.toml", cwd=tmp_path, timeout=30)
    assert status.returncode == 0
    assert f"FAILED {bad}" in status.stdout and f"ok     {good}" in status.stdout


@pytest.mark.parametrize("kind", ["websub", "xmlrpc"])
def test_send_logs_endpoint_and_result(
    tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = refused_url()
    config = make_config(tmp_path, max_attempts=1)

    async def once():
        import httpx

        async with httpx.AsyncClient() as client:
            return await send(
                client, Notification(kind, url, feed_urls(config, ["rss.xml"])[0]), config
            )

    caplog.set_level("INFO", logger="feedsvc.ping")
    outcome = asyncio.run(once())
    assert not outcome.ok
    assert any(url in r.message and "failed" in r.message for r in caplog.records)


def test_ping_pending_at_a_kill_is_sent_after_restart(tmp_path: Path) -> None:
    hub = refused_url()
    ping = f'[ping]\nwebsub_hubs = ["{hub}"]\ntimeout_s = 1\nmax_attempts = 100\nbackoff_s = 0.2\n'
    daemon = DaemonProcess(tmp_path, daemon_toml(extra=ping))
    (daemon.articles / "story.md").write_text(daemon_article("A story"))
    daemon.start()
    try:
        daemon.wait_log(f"ping {hub}: ConnectError", count=3)
    finally:
        daemon.kill()
    assert read_pending(tmp_path / "state.sqlite")
    recorder = Recorder()
    with endpoint(recorder, port=int(hub.rsplit(":", 1)[1].rstrip("/"))):
        daemon.start()
        try:
            wait_until(lambda: len(recorder.requests) >= 3)
            wait_until(lambda: not read_pending(tmp_path / "state.sqlite"))
        finally:
            assert daemon.stop() == 0
    topics = sorted(request["form"]["hub.topic"][0] for request in recorder.requests)
    base = "https://news.example.org/"
    assert topics == [base + "atom.xml", base + "feed.json", base + "rss.xml"]
    assert daemon.count("resumed") == 3


def ping_site(tmp_path: Path, hub: str, service: str) -> Path:
    """A site whose builds owe pings to ``hub`` and ``service``, with one article."""
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "story.md").write_text(ARTICLE)
    (tmp_path / "feedsvc.toml").write_text(
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        f'[ping]\nwebsub_hubs = ["{hub}"]\nxmlrpc = ["{service}"]\n'
        'timeout_s = 1\nmax_attempts = 2\nbackoff_s = 0.01\n[state]\ndir = "."\n'
    )
    return tmp_path


def test_ping_command_sends_what_the_builds_since_the_last_ping_changed(tmp_path: Path) -> None:
    recorder = Recorder()
    calls: list[tuple[str, tuple]] = []
    base = "https://news.example.org/"
    with endpoint(recorder) as hub, ping_service(calls) as service:
        site = ping_site(tmp_path, hub, service)
        assert run_feedsvc("build", cwd=site).returncode == 0
        first = run_feedsvc("ping", cwd=site)
        assert first.returncode == 0, first.stderr
        assert "4 of 4 notifications delivered" in first.stdout
        topics = sorted(r["form"]["hub.topic"][0] for r in recorder.requests)
        assert topics == [base + "atom.xml", base + "feed.json", base + "rss.xml"]
        assert [call[1][3] for call in calls] == [base + "rss.xml"]

        again = run_feedsvc("ping", cwd=site)  # nothing changed since: nothing owed
        assert again.returncode == 0 and "nothing to ping" in again.stdout
        assert len(recorder.requests) == 3 and len(calls) == 1

        everything = run_feedsvc("ping", "--all", cwd=site)
        assert "4 of 4 notifications delivered" in everything.stdout
        assert len(recorder.requests) == 6 and len(calls) == 2
    assert read_pending(site / "state.sqlite") == []


def test_a_build_the_cli_runs_is_shown_by_status(tmp_path: Path) -> None:
    site = ping_site(tmp_path, refused_url(), refused_url())
    assert run_feedsvc("build", cwd=site).returncode == 0
    status = run_feedsvc("status", cwd=site)
    assert status.returncode == 0
    assert "1 entries from 1 files; wrote rss.xml, atom.xml, feed.json" in status.stdout
    owed = read_pending(site / "state.sqlite")
    assert sorted(message.kind for message in owed) == ["websub"] * 3 + ["xmlrpc"]
