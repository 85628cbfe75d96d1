"""What the benchmarks share: the corpus, the peers (Hugo, Pelican), timing a child process
with its peak RSS, and counting the items of the feeds it wrote."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

ITEMS = 50
SITE_URL = "https://example.com/"
TITLE = "Perf Feed"
REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "bench" / "out"
PEERS_VENV = OUT_DIR / "venv"  # install_peers.sh puts Pelican here
ATOM = "{http://www.w3.org/2005/Atom}"
HUGO, PELICAN = "hugo", "pelican"
SAMPLE_S = 0.05  # how often the process tree is walked for the peak RSS of its members

ItemCounter = Callable[[Path], int]
Setup = Callable[[Path, Path], list[str]]


class BenchError(Exception):
    """A build failed or produced output that does not pass the sanity check."""


@dataclass(frozen=True)
class Run:
    """One timed process: wall-clock seconds and the peak RSS of the largest process in its
    tree (``peak_rss_mb``) beside the most the whole tree held at once (``tree_mb``: the
    sum of its processes' PSS, sampled; it tells a pool's total, never less than the peak of
    the child itself)."""

    seconds: float
    peak_rss_mb: float
    tree_mb: float = 0.0


@dataclass(frozen=True)
class Tool:
    """How to build a feed with one peer.

    ``setup(site, corpus)`` lays out the files the tool needs in the empty directory ``site``
    and returns the arguments to run there; the tool writes into ``site/out``, where
    ``checks`` maps each expected file to a function counting its items.
    """

    name: str
    exe: str | None
    version_args: list[str]
    setup: Setup
    checks: dict[str, ItemCounter]
    env: dict[str, str] = field(default_factory=dict)


# --- output sanity checks ---------------------------------------------------


def count_rss_items(path: Path) -> int:
    """Number of <item> elements in an RSS 2.0 channel."""
    return len(etree.parse(str(path)).findall("./channel/item"))


def count_atom_entries(path: Path) -> int:
    """Number of <entry> elements in an Atom feed."""
    return len(etree.parse(str(path)).findall(f"{ATOM}entry"))


def count_json_feed_items(path: Path) -> int:
    """Number of items in a JSON Feed."""
    return len(json.loads(path.read_text(encoding="utf-8"))["items"])


def check_outputs(out: Path, checks: dict[str, ItemCounter], expected: int = ITEMS) -> None:
    """Raise BenchError unless every expected feed exists and holds ``expected`` items."""
    for name, count in checks.items():
        path = out / name
        if not path.is_file():
            raise BenchError(f"missing {name}")
        try:
            found = count(path)
        except (etree.XMLSyntaxError, ValueError, KeyError) as exc:
            raise BenchError(f"cannot parse {name}: {exc}") from exc
        if found != expected:
            raise BenchError(f"{name} has {found} items, expected {expected}")


# --- the peers ----------------------------------------------------------------


def venv_executable(name: str, venv_bin: Path | None = None) -> str | None:
    """Path of ``name`` in ``venv_bin`` (default: beside this interpreter), or None."""
    path = (venv_bin or Path(sys.executable).parent) / name
    return str(path) if os.access(path, os.X_OK) else None


def hugo_tool(bench: Path, items: int | None = ITEMS) -> Tool:
    """Hugo with the shared feed-only config and full-content RSS template; ``items`` None
    lists every article (rssLimit = -1)."""
    limit = -1 if items is None else items

    def setup(site: Path, corpus: Path) -> list[str]:
        config = (bench / "hugo" / "config.toml").read_text(encoding="utf-8")
        config, found = re.subn(r"(?m)^rssLimit\s*=\s*-?\d+", f"rssLimit = {limit}", config)
        if found != 1:
            raise BenchError("no rssLimit line in the shared hugo/config.toml")
        (site / "config.toml").write_text(config, encoding="utf-8")
        (site / "layouts").symlink_to(bench / "hugo" / "layouts")
        (site / "content").symlink_to(corpus / "hugo" / "content")
        return ["--quiet", "-d", "out"]

    return Tool(HUGO, shutil.which("hugo"), ["version"], setup, {"index.xml": count_rss_items})


def pelican_tool(bench: Path, items: int | None = ITEMS) -> Tool:
    """Pelican with the shared feed-only settings, content cache off; ``items`` None puts
    every article in its feeds (PERF_MAXITEMS=all)."""

    def setup(site: Path, corpus: Path) -> list[str]:
        shutil.copy(bench / "pelican" / "conf.py", site)
        (site / "content").symlink_to(corpus / "pelican")
        return ["content", "-s", "conf.py", "-o", "out"]

    checks = {"feeds/all.rss.xml": count_rss_items, "feeds/all.atom.xml": count_atom_entries}
    exe = (
        venv_executable("pelican", PEERS_VENV / "bin")
        or venv_executable("pelican")
        or shutil.which("pelican")
    )
    env = {"PERF_MAXITEMS": "all" if items is None else str(items), "PERF_CACHE": "0"}
    return Tool(PELICAN, exe, ["--version"], setup, checks, env)


def tool_version(exe: str, version_args: list[str]) -> str | None:
    """Version number the tool reports, or None if it reports none."""
    try:
        proc = subprocess.run([exe, *version_args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"\d+(?:\.\d+)+", proc.stdout)
    return match.group() if proc.returncode == 0 and match else None


# --- measuring ----------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    """pid and every process below it, from /proc/<pid>/task/<tid>/children."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.scandir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task.name}/children") as children:
                    queue.extend(int(child) for child in children.read().split())
        except OSError:
            continue  # it ended meanwhile
    return found


def _memory_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, Pss) of one process in KiB: its own high-water mark, and its proportional share
    of the pages it maps now (pages shared with a forked worker count half to each); zeros
    once it has ended."""
    hwm = pss = 0
    try:
        with open(f"/proc/{pid}/status") as status:
            hwm = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            pss = next((int(line.split()[1]) for line in rollup if line.startswith("Pss:")), 0)
    except (OSError, ValueError, IndexError):
        pass
    return hwm, pss


class _TreeSampler(threading.Thread):
    """Walks a process tree every SAMPLE_S seconds: the largest member's high-water mark, and
    the largest sum of PSS (what the tree holds at once, shared pages counted once). Catches
    members that wait4 cannot (workers that are never reaped by the child)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.tree_kib = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            readings = [_memory_kib(pid) for pid in _descendants(self.pid)]
            self.peak_kib = max([self.peak_kib, *(hwm for hwm, _ in readings)])
            self.tree_kib = max(self.tree_kib, sum(pss for _, pss in readings))


def timed_run(argv: list[str], cwd: Path, env: dict[str, str], log_path: Path) -> Run:
    """Run argv to completion; its wall-clock time and peak RSS (see Run).

    ``os.wait4`` reports this one child's usage, including its reaped descendants, so runs
    do not mask each other's peak; a sampler adds members that are never reaped.
    """
    with log_path.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"exit status {proc.returncode}: " + " | ".join(tail))
    peak_kib = max(usage.ru_maxrss, sampler.peak_kib)  # ru_maxrss is in KiB on Linux
    return Run(seconds, peak_kib / 1024, max(sampler.tree_kib, usage.ru_maxrss) / 1024)


def build_once(tool: Tool, exe: str, corpus: Path, expected: int = ITEMS) -> Run:
    """One cold build with ``exe`` in a fresh directory and an empty XDG cache, then the
    output check."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{tool.name}-") as tmp:
        site = Path(tmp) / "site"
        site.mkdir()
        argv = [exe, *tool.setup(site, corpus)]
        env = {**os.environ, **tool.env, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        run = timed_run(argv, site, env, Path(tmp) / "build.log")
        check_outputs(site / "out", tool.checks, expected)
    return run


def ensure_corpus(shared: Path, n: int) -> Path:
    """The cached corpus of n articles (bench/out/corpus-N), generated first if needed."""
    corpus = OUT_DIR / f"corpus-{n}"
    if corpus.is_dir():
        return corpus
    partial = OUT_DIR / f"corpus-{n}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    log(f"generating corpus of {n} articles in {corpus}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(shared / "bench" / "gen_corpus.py"), str(n), str(partial)],
        check=True,
        stdout=sys.stderr,
    )
    partial.rename(corpus)  # only complete corpora carry the final name
    return corpus


def add_sentence(article: bytes, sentence: str) -> bytes:
    """The article with ``sentence`` added to the end of its body (before the ``---`` that
    opens the metadata), as an editor's correction would be."""
    body_end = article.rfind(b"\n\n---\n")
    if body_end < 0:
        raise BenchError("no metadata separator in the article to edit")
    return article[:body_end] + b" " + sentence.encode() + article[body_end:]


def median(values: Iterable[float]) -> float | None:
    """Median, or None when there are no values."""
    values = list(values)
    return statistics.median(values) if values else None


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only the results."""
    print(message, file=sys.stderr, flush=True)
