"""`feedsvc run` through many builds while every WebSub hub it pings misbehaves for real on
127.0.0.1: one refuses connections, one accepts and never answers, one answers 500 and one
429 forever. Builds go on at their usual pace, each ping gives up within its attempts and
time, at most one notification per hub and feed is pending, and the process does not grow
(memory, threads, open files)."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedsvc.catalog.records import read_pending
from tests.daemon_process import DaemonProcess, article, toml
from tests.peers import Recorder, Silent, endpoint, refused_url, silent_endpoint

TIMEOUT_S, MAX_ATTEMPTS, BACKOFF_S = 2.0, 3, 0.05
WARM_UP, BUILDS = 10, 40
# Python's allocator moves a little from build to build (~600 KiB over 40 builds here); a
# leak of 64 KiB per build (tasks, connections or notifications kept) fails this.
RSS_TOLERANCE_KIB = 2048
TOPICS = [f"https://news.example.org/{name}" for name in ("rss.xml", "atom.xml", "feed.json")]
OUTCOME = re.compile(r"ping websub (\S+) about (\S+): failed, (.*) after (\d+) attempts?$")
BUILT = re.compile(r"built \d+ entries from \d+ files in (\d+) ms")


@dataclass
class Hubs:
    refused: str
    silent: Silent
    failing: Recorder
    failing_url: str
    limiting: Recorder
    limiting_url: str

    def urls(self) -> list[str]:
        return [self.refused, self.silent.url, self.failing_url, self.limiting_url]


@pytest.fixture
def hubs() -> Iterator[Hubs]:
    failing = Recorder(answers=[(500, {}, b"")])
    limiting = Recorder(answers=[(429, {"Retry-After": "1"}, b"")])
    with ExitStack() as stack:
        silent = stack.enter_context(silent_endpoint())
        failing_url = stack.enter_context(endpoint(failing))
        limiting_url = stack.enter_context(endpoint(limiting))
        yield Hubs(refused_url(), silent, failing, failing_url, limiting, limiting_url)


def usage(pid: int) -> dict[str, int]:
    """The process's resident memory (KiB), threads and open file descriptors."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
    }


def test_builds_go_on_and_stay_small_while_every_hub_misbehaves(tmp_path: Path, hubs: Hubs) -> None:
    listed = ", ".join(f'"{url}"' for url in hubs.urls())
    ping = (
        f"[ping]\nwebsub_hubs = [{listed}]\ntimeout_s = {TIMEOUT_S}\n"
        f"max_attempts = {MAX_ATTEMPTS}\nbackoff_s = {BACKOFF_S}\n"
    )
    process = DaemonProcess(tmp_path, toml(extra=ping))
    story = process.articles / "story.md"
    story.write_text(article("Edit 0"))
    process.start()
    try:
        assert process.process is not None
        pid = process.process.pid
        latencies = []
        for n in range(1, WARM_UP + BUILDS + 1):
            if n == WARM_UP + 1:
                warm = usage(pid)
            started = time.monotonic()
            story.write_text(article(f"Edit {n}", body=f"Text of edit {n}."))
            process.wait_titles(lambda titles, n=n: titles == [f"Edit {n}"])
            latencies.append(time.monotonic() - started)
        after = usage(pid)
        pending = read_pending(tmp_path / "state.sqlite")
        assert process.stop() == 0
        assert process.stop_took < 5  # pings in flight do not hold the exit
    finally:
        process.kill()
    lines = process.lines()
    built_ms = [int(match[1]) for line in lines if (match := BUILT.search(line))]
    outcomes = [match.groups() for line in lines if (match := OUTCOME.search(line))]
    # A build that waited on a ping would take a timeout (2 s); a whole send, three.
    assert max(latencies) < TIMEOUT_S and statistics.median(latencies) < TIMEOUT_S / 4
    assert max(built_ms) < TIMEOUT_S * 1000
    expected = {
        hubs.refused: "ConnectError",
        hubs.silent.url: f"no answer within {TIMEOUT_S:g} s",
        hubs.failing_url: "HTTP 500",
        hubs.limiting_url: "HTTP 429",
    }
    for hub, _topic, detail, attempts in outcomes:
        assert expected[hub] in detail and int(attempts) == MAX_ATTEMPTS, (hub, detail)
    # Every send ends (each hub heard of each feed and gave up), within its attempts.
    every = {(hub, topic) for hub in hubs.urls() for topic in TOPICS}
    assert {(hub, topic) for hub, topic, *_ in outcomes} == every
    sent = {hub: sum(o[0] == hub for o in outcomes) + len(TOPICS) for hub in hubs.urls()}
    assert len(hubs.silent.accepted) <= MAX_ATTEMPTS * sent[hubs.silent.url]
    assert len(hubs.failing.requests) <= MAX_ATTEMPTS * sent[hubs.failing_url]
    assert len(hubs.limiting.requests) <= MAX_ATTEMPTS * sent[hubs.limiting_url]
    # At most one notification pending per hub and feed, however many builds asked for one.
    assert len(pending) == len({(p.endpoint, p.topic) for p in pending})
    assert {(p.endpoint, p.topic) for p in pending} <= every
    # A leak of one connection or thread per build fails these: at most one connection per
    # hub and feed is open at a time, and asyncio's thread pool grows to a few threads at most.
    assert after["rss_kib"] - warm["rss_kib"] < RSS_TOLERANCE_KIB
    assert after["threads"] <= warm["threads"] + 8
    assert after["fds"] <= warm["fds"] + len(every)
    print(
        f"\nlatency median {statistics.median(latencies):.3f} s, max {max(latencies):.3f} s;"
        f" builds median {statistics.median(built_ms)} ms, max {max(built_ms)} ms;"
        f" {len(outcomes)} failed pings; warm {warm}, after {after};"
        f" silent {len(hubs.silent.accepted)}, 500 {len(hubs.failing.requests)},"
        f" 429 {len(hubs.limiting.requests)}; pending {len(pending)}"
    )
