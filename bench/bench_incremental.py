"""Republishing one changed article in a large archive: the daemon's path, in one process.

Builds the corpus once (cold, into a Catalog), then edits one article N times and times:
- the incremental build the daemon runs, told which file changed;
- a full rescan of the same catalog (every file stat'ed, only the changed one read), as baseline.
Prints medians and their ratio.

    .venv/bin/python bench/bench_incremental.py [--n 10000] [--edits 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import config_from_dict

REPO = Path(__file__).resolve().parent.parent


def corpus(n: int, shared: Path) -> Path:
    """The generated corpus's feedsvc-format directory, made once and cached in bench/out."""
    directory = REPO / "bench" / "out" / f"corpus-{n}"
    if not (directory / "project").is_dir():
        subprocess.run(
            [sys.executable, str(shared / "bench" / "gen_corpus.py"), str(n), str(directory)],
            check=True,
        )
    return directory / "project"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()

    articles = corpus(args.n, args.shared)
    with tempfile.TemporaryDirectory() as scratch:
        config = config_from_dict(
            {"articles": {"dir": str(articles)}, "feeds": {"output": scratch}}, Path(scratch)
        )
        catalog = Catalog(config)
        started = time.perf_counter()
        build(config, catalog=catalog)
        cold = time.perf_counter() - started
        target = catalog.files[len(catalog.files) // 2]
        original = target.read_bytes()
        incremental: list[float] = []
        rescan: list[float] = []
        try:
            for edit in range(args.edits):
                for timings, changed in ((incremental, {target}), (rescan, None)):
                    target.write_bytes(original + f"\nEdit {edit} {len(timings)}.\n".encode())
                    started = time.perf_counter()
                    result = build(config, catalog=catalog, changed=changed)
                    timings.append(time.perf_counter() - started)
                    assert result.entries == config.feeds.max_items
        finally:
            target.write_bytes(original)
    fast, slow = statistics.median(incremental), statistics.median(rescan)
    print(f"{args.n} articles: cold build {cold:.3f} s (in process)")
    print(f"one article changed, told which: median {fast * 1000:.1f} ms")
    print(f"one article changed, full rescan: median {slow * 1000:.1f} ms")
    print(f"incremental / rescan: {fast / slow:.3f}")


if __name__ == "__main__":
    main()
