#!/usr/bin/env python3
"""Scale benchmark (issue 9): feedsvc as the archive grows, beside Hugo and Pelican.

For each corpus size N (``shared/bench/gen_corpus.py N``) and two variants, the newest 50
items and every item with full content (feedsvc: RFC 5005 archive pages of 100; Hugo:
rssLimit = -1; Pelican: PERF_MAXITEMS=all), it measures:

- feedsvc's CLI (``feedsvc build --config``): a cold build (state and output deleted), a
  no-op rebuild (both kept), and a rebuild after a sentence is added to the newest article;
- the running daemon's build for that change: ``build(config, catalog=..., changed=[path])``
  on a warm in-memory Catalog in a child process (bench_incremental.py), median of --edits;
- Hugo and Pelican, cold, on the same articles.

Each figure is the median of --repeat runs with the peak RSS of the largest process in its
tree; every build's feeds are parsed back and their items counted. Prints a table per N,
the ratios to the peers and the issue's targets, met or not; --json writes it all.

usage: .venv/bin/python bench/bench_scale.py [--sizes 1000,10000] [--repeat 3] [--edits 10]
                                             [--pelican-max-n 10000] [--shared DIR]
                                             [--json PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

from common import (
    ATOM,
    HUGO,
    ITEMS,
    PELICAN,
    REPO,
    SITE_URL,
    TITLE,
    BenchError,
    Run,
    Tool,
    add_sentence,
    build_once,
    check_outputs,
    count_atom_entries,
    count_json_feed_items,
    count_rss_items,
    ensure_corpus,
    hugo_tool,
    log,
    median,
    pelican_tool,
    timed_run,
    tool_version,
    venv_executable,
)
from lxml import etree

FEEDSVC = "feedsvc"
NEWEST, ALL = "newest 50", "all items"
VARIANTS = (NEWEST, ALL)
PAGE_SIZE = 100
COLD, NOOP, CHANGE_CLI, CHANGE_DAEMON = (
    "feedsvc cold",
    "feedsvc no-op rebuild",
    "feedsvc one file changed, CLI",
    "feedsvc one file changed, daemon build",
)
HUGO_COLD, PELICAN_COLD = "Hugo cold", "Pelican cold"
ROWS = (COLD, NOOP, CHANGE_CLI, CHANGE_DAEMON, HUGO_COLD, PELICAN_COLD)
UNSUPPORTED = "not supported by this build"
SUBSCRIPTION = {
    "rss.xml": count_rss_items,
    "atom.xml": count_atom_entries,
    "feed.json": count_json_feed_items,
}
PROBE_ARTICLE = "# Probe\n\nOne article.\n\n---\n\nPublished: 2025-01-01\n"


@dataclass
class Figure:
    """One measured quantity in one variant: its runs, or why there are none."""

    status: str = "ok"
    runs: list[Run] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        """Median seconds, or None without runs."""
        return median(run.seconds for run in self.runs) if self.status == "ok" else None

    @property
    def peak_rss_mb(self) -> float | None:
        """Largest peak RSS of one process over the runs, or None without runs."""
        return max((run.peak_rss_mb for run in self.runs), default=None)

    @property
    def tree_mb(self) -> float | None:
        """The most the process tree held at once over the runs (PSS summed), or None."""
        return max((run.tree_mb for run in self.runs), default=None)

    def to_json(self) -> dict[str, object]:
        """The figure for --json."""
        return {
            "status": self.status,
            "runs_s": [run.seconds for run in self.runs],
            "median_s": self.seconds,
            "peak_rss_mb": self.peak_rss_mb,
            "tree_mb": self.tree_mb,
        }


Table = dict[tuple[str, str], Figure]  # (row, variant) -> figure


@dataclass(frozen=True)
class Features:
    """Which of the configuration keys being added by issue 9 this feedsvc accepts."""

    state_dir: bool
    archives: bool


# --- feedsvc ------------------------------------------------------------------


def probe_features(feedsvc: str) -> Features:
    """Ask `feedsvc check` on a one-article project whether it knows ``[state] dir`` and
    ``[feeds] archives``: an unknown key is exit 2 with "unknown key"."""

    def accepts(table: str) -> bool:
        with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
            root = Path(tmp)
            (root / "articles").mkdir()
            (root / "articles" / "probe.txt").write_text(PROBE_ARTICLE)
            (root / "feedsvc.toml").write_text(
                f'[site]\ntitle = "Probe"\nurl = "{SITE_URL}"\n'
                f'[articles]\ndir = "articles"\n{table}'
            )
            proc = subprocess.run(
                [feedsvc, "-q", "check", "--config", str(root / "feedsvc.toml")],
                capture_output=True,
                text=True,
            )
        return not (proc.returncode == 2 and "unknown key" in proc.stderr)

    archives = f'[feeds]\noutput = "out"\narchives = true\narchive_page_size = {PAGE_SIZE}\n'
    return Features(accepts('[state]\ndir = "state"\n'), accepts(archives))


class Project:
    """A temporary feedsvc project over the corpus: feedsvc.toml, its output and its state,
    all in ``root``."""

    def __init__(self, root: Path, articles: Path, features: Features, archives: bool) -> None:
        self.root = root
        self.features = features
        self.config = root / "feedsvc.toml"
        self.output = root / "out"
        self.state = root / "state"
        feeds = f'output = "out"\nmax_items = {ITEMS}\n'
        if features.archives:
            feeds += f"archives = {str(archives).lower()}\n"
            feeds += f"archive_page_size = {PAGE_SIZE}\n" if archives else ""
        state = 'dir = "state"' if features.state_dir else 'path = "state/state.sqlite"'
        root.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f'[site]\ntitle = "{TITLE}"\nurl = "{SITE_URL}"\n'
            f'[articles]\ndir = "{articles}"\n[feeds]\n{feeds}[state]\n{state}\n'
        )

    def forget(self) -> None:
        """Delete the output and the state (everything but feedsvc.toml): the next build is
        cold."""
        for path in self.root.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path != self.config:
                path.unlink()
        if not self.features.state_dir:
            self.state.mkdir()  # the old [state] path needs its directory

    def build(self, feedsvc: str) -> Run:
        """One `feedsvc build` of this project."""
        argv = [feedsvc, "-q", "build", "--config", str(self.config)]
        return timed_run(argv, self.root, dict(os.environ), self.root.parent / "build.log")


Page = Callable[[Path], tuple[int, str | None]]  # a feed document -> (items, previous page)


def xml_page(items: str) -> Page:
    """Reads an RSS or Atom document: its ``items`` (an XPath) and its prev-archive link."""

    def read(path: Path) -> tuple[int, str | None]:
        root = etree.parse(str(path)).getroot()
        prev = [
            link.get("href")
            for link in root.iter(f"{ATOM}link")
            if link.get("rel") == "prev-archive"
        ]
        return len(root.findall(items)), prev[0] if prev else None

    return read


def json_page(path: Path) -> tuple[int, str | None]:
    """Reads a JSON Feed document: its items and its next_url (the older page)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    return len(document["items"]), document.get("next_url")


ARCHIVED: dict[str, Page] = {
    "rss.xml": xml_page("./channel/item"),
    "atom.xml": xml_page(f"{ATOM}entry"),
    "feed.json": json_page,
}


def archived_items(out: Path, feed: str, page: Page) -> int:
    """Items in the subscription feed ``feed`` and in every archive page reached from it
    (RFC 5005 prev-archive; JSON Feed next_url), each page visited once."""
    url: str | None = urljoin(SITE_URL, feed)
    total, seen = 0, set()
    while url:
        if url in seen or not url.startswith(SITE_URL):
            raise BenchError(f"{feed}: the archive chain loops or leaves the site at {url}")
        seen.add(url)
        path = out / url.removeprefix(SITE_URL)
        try:
            items, older = page(path)
        except (OSError, ValueError, KeyError, etree.XMLSyntaxError) as exc:
            raise BenchError(f"{feed}: cannot read archive page {path}: {exc}") from exc
        total += items
        url = urljoin(url, older) if older else None
    return total


def check_feedsvc(out: Path, n: int, archives: bool) -> None:
    """The subscription feeds hold the newest 50; with archives, each feed and the archive
    pages reached from it hold all N articles."""
    check_outputs(out, SUBSCRIPTION)
    if not archives:
        return
    for feed, page in ARCHIVED.items():
        found = archived_items(out, feed, page)
        if found != n:
            raise BenchError(f"{feed} and its archive pages hold {found} items, expected {n}")


def newest_article(corpus: Path) -> Path:
    """The corpus's newest article (by manifest.tsv): the one a correction is likeliest to."""
    with (corpus / "manifest.tsv").open(newline="", encoding="utf-8") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    newest = max(rows, key=lambda row: row["datetime_utc"])
    return corpus / "project" / f"{newest['slug']}.txt"


def bench_feedsvc_cli(
    feedsvc: str, project: Project, target: Path, n: int, archives: bool, repeat: int
) -> dict[str, Figure]:
    """Cold, no-op and one-file-changed CLI builds, ``repeat`` times each."""
    figures = {COLD: Figure(), NOOP: Figure(), CHANGE_CLI: Figure()}
    original = target.read_bytes()
    try:
        for i in range(1, repeat + 1):
            project.forget()
            for row in (COLD, NOOP, CHANGE_CLI):
                if row == CHANGE_CLI:
                    before = (project.output / "rss.xml").read_bytes()
                    target.write_bytes(add_sentence(original, f"A correction, run {i}."))
                run = project.build(feedsvc)
                check_feedsvc(project.output, n, archives)
                if row == CHANGE_CLI and (project.output / "rss.xml").read_bytes() == before:
                    raise BenchError("the changed article did not reach rss.xml")
                figures[row].runs.append(run)
                log(f"  {row} {i}/{repeat}: {run.seconds:.3f} s, {run.peak_rss_mb:.0f} MB")
            target.write_bytes(original)
    except BenchError as exc:
        for figure in figures.values():
            figure.status = f"failed: {exc}"
    finally:
        target.write_bytes(original)
    return figures


def bench_feedsvc_daemon(
    project: Project, target: Path, n: int, archives: bool, edits: int
) -> Figure:
    """The daemon's build for one changed file on a warm catalog (bench_incremental.py in a
    child process, so its peak RSS is its own), then the check of the feeds it left."""
    project.forget()
    report = project.root.parent / "daemon.json"
    argv = [
        sys.executable,
        str(Path(__file__).with_name("bench_incremental.py")),
        "--config",
        str(project.config),
        "--target",
        str(target),
        "--edits",
        str(edits),
        "--no-rescan",
        "--json",
        str(report),
    ]
    try:
        run = timed_run(argv, project.root, dict(os.environ), project.root.parent / "daemon.log")
        check_feedsvc(project.output, n, archives)
    except BenchError as exc:
        return Figure(f"failed: {exc}")
    timings = json.loads(report.read_text())["incremental_s"]
    log(f"  {CHANGE_DAEMON}: median {median(timings):.4f} s, process {run.peak_rss_mb:.0f} MB")
    return Figure(runs=[Run(t, run.peak_rss_mb, run.tree_mb) for t in timings])


# --- the peers ----------------------------------------------------------------


def bench_peer(tool: Tool, corpus: Path, expected: int, repeat: int) -> Figure:
    """``repeat`` cold builds with one peer."""
    if tool.exe is None:
        return Figure("not installed")
    figure = Figure()
    for i in range(1, repeat + 1):
        try:
            run = build_once(tool, tool.exe, corpus, expected)
        except BenchError as exc:
            return Figure(f"failed: {exc}")
        figure.runs.append(run)
        log(f"  {tool.name} {i}/{repeat}: {run.seconds:.2f} s, {run.peak_rss_mb:.0f} MB")
    return figure


# --- one size -----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What every size is run with."""

    feedsvc: str
    features: Features
    shared: Path
    repeat: int
    edits: int
    pelican_max_n: int


def bench_size(n: int, settings: Settings) -> Table:
    """Every figure for a corpus of n articles."""
    corpus = ensure_corpus(settings.shared, n)
    target = newest_article(corpus)
    table: Table = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-scale-{n}-") as tmp:
        for variant in VARIANTS:
            archives = variant == ALL
            if archives and not settings.features.archives:
                for row in (COLD, NOOP, CHANGE_CLI, CHANGE_DAEMON):
                    table[row, variant] = Figure(UNSUPPORTED)
                continue
            log(f"N={n}, {variant}: feedsvc")
            project = Project(
                Path(tmp) / variant.replace(" ", "-"),
                corpus / "project",
                settings.features,
                archives,
            )
            cli = bench_feedsvc_cli(settings.feedsvc, project, target, n, archives, settings.repeat)
            for row, figure in cli.items():
                table[row, variant] = figure
            table[CHANGE_DAEMON, variant] = bench_feedsvc_daemon(
                project, target, n, archives, settings.edits
            )
    bench = settings.shared / "bench"
    for variant in VARIANTS:
        items = ITEMS if variant == NEWEST else None
        expected = ITEMS if variant == NEWEST else n
        log(f"N={n}, {variant}: Hugo")
        table[HUGO_COLD, variant] = bench_peer(
            hugo_tool(bench, items), corpus, expected, settings.repeat
        )
        if n > settings.pelican_max_n:
            table[PELICAN_COLD, variant] = Figure(
                f"skipped above N={settings.pelican_max_n:,} (--pelican-max-n): its time "
                "grows linearly, minutes per run at 100,000"
            )
            continue
        log(f"N={n}, {variant}: Pelican")
        table[PELICAN_COLD, variant] = bench_peer(
            pelican_tool(bench, items), corpus, expected, settings.repeat
        )
    return table


# --- reporting ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: ``value`` must stay below ``limit``."""

    name: str
    value: float | None
    limit: float | None
    unit: str

    @property
    def met(self) -> bool | None:
        """Met, not met, or None when either side was not measured."""
        if self.value is None or self.limit is None:
            return None
        return self.value < self.limit


def peak(table: Table, rows: tuple[str, ...], variants: tuple[str, ...]) -> float | None:
    """Largest peak RSS over the given figures, None if none was measured."""
    peaks = [table[row, v].peak_rss_mb for row in rows for v in variants]
    return max((p for p in peaks if p is not None), default=None)


def targets(n: int, table: Table) -> list[Target]:
    """Issue 9's targets that apply at this size (10,000 and 100,000 articles)."""
    cli = (COLD, NOOP, CHANGE_CLI)
    if n == 10_000:
        return [
            Target(
                "cold build, newest 50, under Hugo's",
                table[COLD, NEWEST].seconds,
                table[HUGO_COLD, NEWEST].seconds,
                "s",
            ),
            Target(
                "one file changed, CLI with state", table[CHANGE_CLI, NEWEST].seconds, 0.15, "s"
            ),
            Target(
                "one file changed, daemon build", table[CHANGE_DAEMON, NEWEST].seconds, 0.020, "s"
            ),
            Target("peak RSS, CLI builds, newest 50", peak(table, cli, (NEWEST,)), 100, "MB"),
            Target(
                "peak RSS, daemon process, newest 50",
                peak(table, (CHANGE_DAEMON,), (NEWEST,)),
                100,
                "MB",
            ),
            Target("all items in archives, cold", table[COLD, ALL].seconds, 3.0, "s"),
        ]
    if n == 100_000:
        return [
            Target("peak RSS, CLI builds", peak(table, cli, VARIANTS), 600, "MB"),
            Target("peak RSS, daemon process", peak(table, (CHANGE_DAEMON,), VARIANTS), 600, "MB"),
        ]
    return []


def format_seconds(seconds: float | None) -> str:
    """Seconds, or milliseconds below a tenth of a second."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds:.3f} s"


def format_ratio(value: float | None, peer: float | None) -> str:
    """value / peer as '0.87x', '-' when either is missing."""
    return f"{value / peer:.2f}x" if value is not None and peer else "-"


def format_table(n: int, table: Table, versions: dict[str, str | None], repeat: int) -> str:
    """One size's figures: a row per measurement, a column pair per variant, then the ratios
    to the peers and the targets."""
    tools = ", ".join(f"{name} {version or '?'}" for name, version in versions.items())
    width, cell = 40, 32
    lines = [
        f"N={n:,}: median of {repeat} runs ({platform.system()}, {os.cpu_count()} CPUs; {tools})",
        f"{'':<{width}} {NEWEST:^{cell}} {ALL + ' (archives)':^{cell}}",
        f"{'':<{width}}" + f" {'time':>10} {'peak RSS':>10} {'tree':>10}" * 2,
    ]
    notes: list[str] = []  # statuses too long for a cell
    for row in ROWS:
        cells = []
        for variant in VARIANTS:
            figure = table[row, variant]
            if figure.status == "ok":
                seconds = format_seconds(figure.seconds)
                rss, tree = figure.peak_rss_mb, figure.tree_mb
                cells.append(f" {seconds:>10} {rss:>7.0f} MB {tree:>7.0f} MB")
                continue
            if figure.status not in notes:
                notes.append(figure.status)
            cells.append(f" {'(' + str(notes.index(figure.status) + 1) + ')':>{cell}}")
        lines.append(f"{row:<{width}}" + "".join(cells))
    for peer in (HUGO_COLD, PELICAN_COLD):
        cells = []
        for variant in VARIANTS:
            ours, theirs = table[COLD, variant], table[peer, variant]
            cells.append(
                f" {format_ratio(ours.seconds, theirs.seconds):>10}"
                f" {format_ratio(ours.peak_rss_mb, theirs.peak_rss_mb):>10}"
                f" {format_ratio(ours.tree_mb, theirs.tree_mb):>10}"
            )
        lines.append(f"{'feedsvc cold / ' + peer:<{width}}" + "".join(cells))
    lines.append(
        "(peak RSS: the largest process of the tool's tree; tree: the most the tree held "
        "at once, its processes' PSS summed every 50 ms, at least the child's own peak)"
    )
    daemon = table[CHANGE_DAEMON, NEWEST]
    if daemon.status == "ok":
        lines.append(
            f"(daemon: median of {len(daemon.runs)} changes in one process; its peak RSS is "
            "that process's, warm catalog and first build included)"
        )
    lines.extend(f"({number}) {note}" for number, note in enumerate(notes, start=1))
    goals = targets(n, table)
    if goals:
        lines.append(f"Targets at N={n:,}:")
    for goal in goals:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[goal.met]
        if goal.unit == "s":
            value, limit = format_seconds(goal.value), format_seconds(goal.limit)
        else:
            value = "-" if goal.value is None else f"{goal.value:.0f} MB"
            limit = f"{goal.limit:.0f} MB"
        lines.append(f"  {goal.name:<{width - 2}} {value:>11} < {limit:<10} {verdict}")
    return "\n".join(lines)


def results_json(
    tables: dict[int, Table], versions: dict[str, str | None], settings: Settings
) -> dict[str, object]:
    """Every figure, for --json."""
    return {
        "benchmark": "scale",
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "repeat": settings.repeat,
        "daemon_edits": settings.edits,
        "versions": versions,
        "features": {
            "state_dir": settings.features.state_dir,
            "archives": settings.features.archives,
        },
        "sizes": {
            str(n): {
                "figures": {
                    variant: {row: table[row, variant].to_json() for row in ROWS}
                    for variant in VARIANTS
                },
                "targets": [
                    {
                        "name": g.name,
                        "value": g.value,
                        "limit": g.limit,
                        "unit": g.unit,
                        "met": g.met,
                    }
                    for g in targets(n, table)
                ],
            }
            for n, table in tables.items()
        },
    }


# --- the command --------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(size) for size in text.split(",")],
        default=[1_000, 10_000],
        help="corpus sizes, comma-separated (default 1000,10000; add 100000 for issue 9's)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--edits", type=int, default=10, help="daemon changes timed (default 10)")
    parser.add_argument(
        "--pelican-max-n",
        type=int,
        default=10_000,
        help="skip Pelican above this size (it takes ~3 min per run at 100,000)",
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared",
        help="dir holding bench/gen_corpus.py, bench/hugo, bench/pelican (default ../shared)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if min(args.sizes) <= ITEMS or args.repeat < 1 or args.edits < 1:
        parser.error(f"sizes must exceed {ITEMS}; --repeat and --edits must be at least 1")
    if not (args.shared / "bench" / "gen_corpus.py").is_file():
        parser.error(f"no bench/gen_corpus.py under --shared {args.shared}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every size; exit 1 if a feedsvc build or an installed peer failed."""
    args = parse_args(argv)
    feedsvc = venv_executable("feedsvc")
    if feedsvc is None:
        log(f"no feedsvc beside {sys.executable}: run this with the project's venv")
        return 1
    shared = args.shared.resolve()
    settings = Settings(
        feedsvc, probe_features(feedsvc), shared, args.repeat, args.edits, args.pelican_max_n
    )
    log(
        f"feedsvc accepts [state] dir: {settings.features.state_dir}; "
        f"[feeds] archives: {settings.features.archives}"
    )
    bench = shared / "bench"
    versions = {
        FEEDSVC: tool_version(feedsvc, ["--version"]),
        HUGO: None,
        PELICAN: None,
    }
    for tool in (hugo_tool(bench), pelican_tool(bench)):
        if tool.exe is not None:
            versions[tool.name] = tool_version(tool.exe, tool.version_args)
    tables: dict[int, Table] = {}
    for n in args.sizes:
        tables[n] = bench_size(n, settings)
        print(format_table(n, tables[n], versions, args.repeat) + "\n", flush=True)
        if args.json:  # written after every size, so a long run leaves what it measured
            report = results_json(tables, versions, settings)
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = [
        f"{row}, {variant}, N={n}: {figure.status}"
        for n, table in tables.items()
        for (row, variant), figure in table.items()
        if figure.status.startswith("failed")
    ]
    for failure in failed:
        log(failure)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
