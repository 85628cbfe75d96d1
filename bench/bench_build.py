#!/usr/bin/env python3
"""Cold full-build benchmark: feedsvc vs Hugo vs Pelican on one shared corpus.

Every tool builds a feed of the newest 50 items from the same N synthetic
articles (``shared/bench/gen_corpus.py``), from scratch in a fresh temporary
directory each run, so no tool sees a cache or output of an earlier run (the
OS page cache stays warm).  For each tool the script reports the median
wall-clock time of ``--repeat`` runs, the peak RSS of the largest process in
its process tree, and its time relative to Hugo and to Pelican.  After every
run it checks that the expected feed files exist and hold 50 items.

Peers that are not installed are reported and skipped; see install_peers.sh.
Exits non-zero when feedsvc did not build, or an installed peer failed.

usage: .venv/bin/python bench/bench_build.py [--n 10000] [--repeat 3]
                                             [--shared DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    HUGO,
    ITEMS,
    PELICAN,
    REPO,
    SITE_URL,
    TITLE,
    BenchError,
    Run,
    Tool,
    build_once,
    count_atom_entries,
    count_json_feed_items,
    count_rss_items,
    ensure_corpus,
    hugo_tool,
    log,
    pelican_tool,
    tool_version,
    venv_executable,
)

FEEDSVC = "feedsvc"


@dataclass
class Result:
    """All runs of one tool, or why there are none."""

    tool: str
    status: str = "ok"
    version: str | None = None
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        """Median wall-clock seconds, or None when the tool did not build."""
        if self.status != "ok":
            return None
        return statistics.median(run.seconds for run in self.runs)

    @property
    def peak_rss_mb(self) -> float | None:
        """Largest peak RSS over all runs, or None when the tool did not build."""
        if self.status != "ok":
            return None
        return max(run.peak_rss_mb for run in self.runs)


# --- the tools ----------------------------------------------------------------


def feedsvc_tool() -> Tool:
    """feedsvc through its CLI, run in an empty directory so no config file is found."""

    def setup(site: Path, corpus: Path) -> list[str]:
        return [
            "build",
            "--articles",
            str(corpus / "project"),
            "--output",
            str(site / "out"),
            "--site-url",
            SITE_URL,
            "--title",
            TITLE,
        ]

    checks = {
        "rss.xml": count_rss_items,
        "atom.xml": count_atom_entries,
        "feed.json": count_json_feed_items,
    }
    return Tool(FEEDSVC, venv_executable("feedsvc"), ["--version"], setup, checks)


def bench_tool(tool: Tool, corpus: Path, repeat: int) -> Result:
    """Build ``repeat`` times with one tool; failures end up in the status."""
    exe = tool.exe
    if exe is None:
        return Result(tool.name, status="not installed")
    result = Result(tool.name, version=tool_version(exe, tool.version_args))
    for i in range(1, repeat + 1):
        try:
            run = build_once(tool, exe, corpus)
        except BenchError as exc:
            result.status = f"failed: {exc}"
            return result
        result.runs.append(run)
        log(f"{tool.name} run {i}/{repeat}: {run.seconds:.2f} s, {run.peak_rss_mb:.0f} MB")
    return result


# --- reporting ----------------------------------------------------------------


def ratio(result: Result, peer: Result | None) -> float | None:
    """result's median time divided by peer's, or None if either did not build."""
    if peer is None or result.median is None or peer.median is None:
        return None
    return result.median / peer.median


def format_table(results: list[Result], n: int, repeat: int) -> str:
    """Human-readable summary: one row per tool, times relative to each peer."""
    by_name = {r.tool: r for r in results}
    lines = [
        f"Cold full build, newest {ITEMS} items, N={n}, median of {repeat} "
        f"({platform.system()}, {os.cpu_count()} CPUs); vs = time / peer's time",
        f"{'tool':<9} {'version':<9} {'median s':>9} {'peak MB':>8} "
        f"{'vs Hugo':>8} {'vs Pelican':>11}",
    ]
    for r in results:
        if r.median is None:
            lines.append(f"{r.tool:<9} {r.version or '':<9} {r.status}")
            continue
        vs = [ratio(r, by_name.get(peer)) for peer in (HUGO, PELICAN)]
        hugo, pelican = (f"{v:.2f}x" if v is not None else "-" for v in vs)
        lines.append(
            f"{r.tool:<9} {r.version or '?':<9} {r.median:>9.3f} "
            f"{r.peak_rss_mb:>8.0f} {hugo:>8} {pelican:>11}"
        )
    return "\n".join(lines)


def results_json(results: list[Result], n: int, repeat: int) -> dict[str, object]:
    """Machine-readable results for --json."""
    by_name = {r.tool: r for r in results}
    return {
        "benchmark": "cold full build",
        "items": ITEMS,
        "n": n,
        "repeat": repeat,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "results": [
            {
                "tool": r.tool,
                "version": r.version,
                "status": r.status,
                "runs_s": [run.seconds for run in r.runs],
                "median_s": r.median,
                "peak_rss_mb": r.peak_rss_mb,
                "vs_hugo": ratio(r, by_name.get(HUGO)),
                "vs_pelican": ratio(r, by_name.get(PELICAN)),
            }
            for r in results
        ],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="articles in the corpus")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool")
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared",
        help="shared dir holding bench/gen_corpus.py, bench/hugo, bench/pelican",
    )
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    if args.n < ITEMS or args.repeat < 1:
        parser.error(f"--n must be at least {ITEMS} and --repeat at least 1")
    if not (args.shared / "bench" / "gen_corpus.py").is_file():
        parser.error(f"no bench/gen_corpus.py under --shared {args.shared}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; non-zero exit if feedsvc or an installed peer failed."""
    args = parse_args(argv)
    shared = args.shared.resolve()
    corpus = ensure_corpus(shared, args.n)
    tools = [feedsvc_tool(), hugo_tool(shared / "bench"), pelican_tool(shared / "bench")]
    results = [bench_tool(tool, corpus, args.repeat) for tool in tools]
    print(format_table(results, args.n, args.repeat))
    if args.json:
        report = results_json(results, args.n, args.repeat)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    feedsvc_ok = results[0].status == "ok"
    peers_ok = all(r.status in ("ok", "not installed") for r in results[1:])
    return 0 if feedsvc_ok and peers_ok else 1


if __name__ == "__main__":
    sys.exit(main())
