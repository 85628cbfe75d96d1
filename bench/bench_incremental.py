"""Republishing one changed article in a large archive: the daemon's path, in one process.

Builds the corpus once (cold, into a warm in-memory Catalog, as `feedsvc run` does), then
adds a sentence to one article's body ``--edits`` times and times:
- the incremental build the daemon runs when its watcher names the changed file
  (``build(config, catalog=catalog, changed=[path])``);
- unless --no-rescan, a full rescan of the same catalog (every file stat'ed, only the
  changed one read), as baseline.
Prints medians and their ratio, or with --json PATH (``-``: stdout) writes the timings.

    .venv/bin/python bench/bench_incremental.py [--n 10000] [--edits 30]
    .venv/bin/python bench/bench_incremental.py --config feedsvc.toml --target FILE --json -
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

from common import REPO, add_sentence, ensure_corpus

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config, config_from_dict, load_config


def time_edits(config: Config, target: Path | None, edits: int, rescan: bool) -> dict[str, object]:
    """Cold build into a Catalog, then ``edits`` sentences added to ``target`` (default: the middle
    file), each built as the daemon would; the file is restored afterwards."""
    catalog = Catalog(config)
    started = time.perf_counter()
    build(config, catalog=catalog)
    cold = time.perf_counter() - started
    if target is None:
        assert catalog.files is not None
        target = catalog.files[len(catalog.files) // 2]
    original = target.read_bytes()
    timings: dict[str, list[float]] = {"incremental_s": [], "rescan_s": []}
    modes: list[tuple[str, Collection[Path] | None]] = [("incremental_s", [target])]
    if rescan:
        modes.append(("rescan_s", None))
    try:
        for edit in range(edits):
            for key, changed in modes:
                target.write_bytes(add_sentence(original, f"Edit {edit} of the {key[:-2]} run."))
                started = time.perf_counter()
                result = build(config, catalog=catalog, changed=changed)
                timings[key].append(time.perf_counter() - started)
                assert not result.rejected, result.rejected[0]
    finally:
        target.write_bytes(original)
    return {"cold_s": cold, "target": str(target), **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="articles in the corpus")
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--config", type=Path, help="a feedsvc.toml to build (instead of --n)")
    parser.add_argument("--target", type=Path, help="the article to edit (default: middle)")
    parser.add_argument("--no-rescan", dest="rescan", action="store_false")
    parser.add_argument("--json", help="write the timings here as JSON (- for stdout)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        if args.config:
            config = load_config(args.config)
        else:
            articles = ensure_corpus(args.shared, args.n) / "project"
            config = config_from_dict(
                {
                    "articles": {"dir": str(articles)},
                    "feeds": {"output": f"{scratch}/public"},
                    "state": {"dir": f"{scratch}/state"},
                },
                Path(scratch),
            )
        figures = time_edits(config, args.target, args.edits, args.rescan)
    if args.json:
        text = json.dumps(figures, indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text)
        return
    fast = statistics.median(figures["incremental_s"])  # type: ignore[arg-type]
    print(f"{config.articles.dir}: cold build {figures['cold_s']:.3f} s (in process)")
    print(f"one article changed, told which: median {fast * 1000:.1f} ms")
    if args.rescan:
        slow = statistics.median(figures["rescan_s"])  # type: ignore[arg-type]
        print(f"one article changed, full rescan: median {slow * 1000:.1f} ms")
        print(f"incremental / rescan: {fast / slow:.3f}")


if __name__ == "__main__":
    main()
