#!/usr/bin/env python3
"""Time and peak memory of one build per hostile article (issue 7, section 2).

Each case writes one pathological article beside a good one and runs ``feedsvc.build.build``
in a child process under a timeout and an address-space limit, so that a checkout which
still takes hours or gigabytes on it cannot take the machine with it. ``--repo`` picks the
checkout whose ``feedsvc`` is imported (for "before" figures, a ``git worktree`` of an older
commit); the interpreter stays this venv's.

usage: .venv/bin/python bench/bench_hostile.py [--repo DIR] [--timeout 60] [--limit-mb 4096]
                                               [--case NAME ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FOOT = "\n\n---\n\nPublished: 2025-01-01\n"
GOOD = "# Good\n\nA good article.\n\n---\n\nPublished: 2025-01-02\n"


def alias_bomb(field: str) -> str:
    """The 382-byte billion-laughs document: nine levels of nine aliases each."""
    names = "abcdefghi"
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for previous, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    return "---\n" + "\n".join(lines) + f"\n{field}: *i\ndate: 2025-01-01\n---\nbody\n"


def table(size: int) -> str:
    header = "|" + "|".join("h" * 1 for _ in range(10)) + "|\n|" + "-|" * 10 + "\n"
    row = "|" + "x|" * 10 + "\n"
    return "# Table\n\n" + header + row * (size // len(row)) + FOOT


def nested_div(size: int) -> str:
    depth = size // len("<div></div>")
    return "# Divs\n\n" + "<div>" * depth + "x" + "</div>" * depth + FOOT


def paragraphs(size: int) -> str:
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8 + "\n\n"
    return "# Long\n\n" + paragraph * (size // len(paragraph)) + FOOT


CASES: dict[str, Callable[[], str]] = {
    "heading-40k-spaces": lambda: "# a" + " " * 40_000 + "b\n\nbody" + FOOT,
    "heading-1MB-spaces": lambda: "# a" + " " * 1_000_000 + "b\n\nbody" + FOOT,
    "yaml-alias-bomb-title": lambda: alias_bomb("title"),
    "yaml-alias-bomb-tags": lambda: "---\ntitle: T" + alias_bomb("tags")[3:],
    "table-1MB": lambda: table(1_000_000),
    "nested-div-1.1MB": lambda: nested_div(1_100_000),
    "emphasis-1MB": lambda: "# Stars\n\n" + "*" * 500_000 + "a" + "*" * 500_000 + FOOT,
    "body-10MB": lambda: paragraphs(10_000_000),
    # Under the body's size limit, so that the limits on tables, nesting and work per
    # character are what is measured.
    "table-450KB": lambda: table(450_000),
    "nested-div-450KB": lambda: nested_div(450_000),
    "emphasis-450KB": lambda: "# Stars\n\n" + "*" * 225_000 + "a" + "*" * 225_000 + FOOT,
    "brackets-450KB": lambda: "# Brackets\n\n" + "[" * 450_000 + FOOT,
    "prose-450KB": lambda: paragraphs(450_000),
}

CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from feedsvc.build import build
from feedsvc.config import config_from_dict
work = Path(sys.argv[2])
config = config_from_dict({
    "site": {"title": "T", "url": "https://x.example/"},
    "articles": {"dir": str(work / "articles")},
    "feeds": {"output": str(work / "out")},
}, work)
start = time.perf_counter()
result = build(config)
took = time.perf_counter() - start
reasons = "; ".join(str(e).split(": ", 1)[-1][:70] for e in result.rejected) or "-"
print(f"{took:.2f}\\t{result.entries} published\\t{reasons}")
"""


def run_case(name: str, repo: Path, timeout: float, limit_mb: int) -> str:
    """One case in a fresh directory and a fresh child: its time, peak RSS and outcome."""
    with tempfile.TemporaryDirectory() as work:
        articles = Path(work, "articles")
        articles.mkdir()
        (articles / "good.md").write_text(GOOD, encoding="utf-8")
        (articles / "hostile.md").write_text(CASES[name](), encoding="utf-8")
        limit = limit_mb * 2**20

        def limit_memory() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        with open(Path(work, "stdout"), "w+") as out, open(Path(work, "stderr"), "w+") as err:
            start = time.perf_counter()
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(repo), work],
                cwd=work,
                stdout=out,
                stderr=err,
                text=True,
                preexec_fn=limit_memory,
            )
            status, usage = _wait(child, start + timeout)
            wall = time.perf_counter() - start
            if usage is None:
                return f"{name:24} > {timeout:.0f} s (killed)"
            rss = usage.ru_maxrss / 1024  # KiB on Linux
            out.seek(0)
            err.seek(0)
            if status != 0:
                last = (err.read().strip().splitlines() or ["?"])[-1][:90]
                return f"{name:24} {wall:7.2f} s {rss:8.0f} MB  failed: {last}"
            took, published, reasons = out.read().strip().split("\t")
        return f"{name:24} {float(took):7.2f} s {rss:8.0f} MB  {published}; rejected: {reasons}"


def _wait(
    child: subprocess.Popen[str], deadline: float
) -> tuple[int, resource.struct_rusage | None]:
    """The child's exit status and resource usage, or (-9, None) once killed at the deadline."""
    while time.perf_counter() < deadline:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode, usage
        time.sleep(0.05)
    child.kill()
    os.wait4(child.pid, 0)
    child.returncode = -9
    return -9, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--limit-mb", type=int, default=4096)
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    args = parser.parse_args()
    print(f"repo {args.repo.resolve()}  timeout {args.timeout:.0f} s  RLIMIT_AS {args.limit_mb} MB")
    for name in args.case or CASES:
        print(run_case(name, args.repo.resolve(), args.timeout, args.limit_mb), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
