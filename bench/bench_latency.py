#!/usr/bin/env python3
"""Latency of `feedsvc run`: from an article file's close() to the new feed being in place.

Starts the daemon over a copy of a 1,000-article corpus (bench/out/corpus-1000, made with the
shared gen_corpus.py when absent, unless --corpus names another), then drops 50 new articles
one at a time. For each, the clock runs from the moment the writer closes the file until
rss.xml (replaced atomically by the daemon) holds the new entry. The watcher's quiet window,
[watch] debounce_ms, is the floor.

usage: bench_latency.py [--corpus DIR] [--drops 50] [--debounce-ms 300] [--poll] [--shared DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import REPO, ensure_corpus

ARTICLE = """# Latency drop {number}

A new article dropped into a directory of a thousand, to time the trip into the feeds.

---

**META_DESCRIPTION:** Drop {number} of the latency benchmark.

Published: {published}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="a gen_corpus.py output directory")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--drops", type=int, default=50)
    parser.add_argument("--debounce-ms", type=int, default=300)
    parser.add_argument("--poll", action="store_true", help="watch by polling")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="feedsvc-latency-") as scratch:
        root = Path(scratch)
        corpus = args.corpus or ensure_corpus(args.shared, 1000)
        articles = root / "articles"
        shutil.copytree(corpus / "project", articles)
        config = root / "feedsvc.toml"
        config.write_text(
            '[site]\ntitle = "Latency"\nurl = "https://news.example.org/"\n'
            '[articles]\ndir = "articles"\n[feeds]\noutput = "public"\n'
            f"[watch]\ndebounce_ms = {args.debounce_ms}\npoll = {str(args.poll).lower()}\n"
            '[state]\ndir = "state"\n'
        )
        log = (root / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "feedsvc", "run", "--config", str(config)],
            cwd=root,
            stderr=log,
            stdout=log,
        )
        try:
            rss = root / "public" / "rss.xml"
            wait_for(lambda: rss.exists(), 60)
            time.sleep(0.5)
            latencies = [drop(articles, rss, number) for number in range(args.drops)]
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(10)
            log.close()
        files = len(list(articles.iterdir()))

    latencies.sort()
    median = statistics.median(latencies)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    polling = " (polling)" if args.poll else ""
    existing = files - len(latencies)
    print(
        f"{len(latencies)} drops into {existing} articles, debounce {args.debounce_ms} ms{polling}"
    )
    print(
        f"close() -> new rss.xml in place: median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"min {latencies[0] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    print(
        f"above the debounce floor: median {median * 1000 - args.debounce_ms:.0f} ms, "
        f"p95 {p95 * 1000 - args.debounce_ms:.0f} ms"
    )


def drop(articles: Path, rss: Path, number: int) -> float:
    """Write one new article; seconds from its close() until rss.xml carries it."""
    published = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M UTC")
    slug = f"latency-drop-{number:02}"
    with (articles / f"{slug}.txt").open("w", encoding="utf-8") as handle:
        handle.write(ARTICLE.format(number=number, published=published))
    closed = time.perf_counter()
    marker = slug.encode()
    wait_for(lambda: marker in rss.read_bytes(), 30)
    latency = time.perf_counter() - closed
    time.sleep(0.3)  # separate the drops: each is its own burst
    return latency


def wait_for(condition, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the feed did not follow in time")
        time.sleep(0.001)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
