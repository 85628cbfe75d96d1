"""The command line: parse arguments, call the library, print, pick the exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from feedsvc import __version__
from feedsvc.build import build
from feedsvc.config import Config, load_config
from feedsvc.diff import describe_diff, diff_to_dict, summarise
from feedsvc.errors import FeedsvcError, display_path, refusal
from feedsvc.model import BuildResult
from feedsvc.outputs.targets import describe_outputs
from feedsvc.preview import Preview, preview

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
EXIT_WOULD_CHANGE = 1  # `feedsvc diff`: a build now would write or delete some file
Command = Callable[[argparse.Namespace, Config], int]
PROGRESS_THRESHOLD = 200
log = logging.getLogger("feedsvc")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    # The daemon's log is its record: it says what it does unless told to be quiet.
    _configure_logging(args.verbose - args.quiet + (args.command is run_daemon))
    try:
        config = load_config(args.config, _overrides(args))
        return args.command(args, config)
    except FeedsvcError as error:
        print(f"feedsvc: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def run_build(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc build``: write the feeds."""
    if args.dry_run:
        return run_diff(args, config)
    if args.json:
        raise FeedsvcError("--json goes with --dry-run")
    result = build(
        config,
        progress=_progress(args),
        allow_empty=args.allow_empty,
        accept_changes=args.accept_changes,
    )
    _report(result)
    changed = ", ".join(path.name for path in result.written) or "nothing (feeds unchanged)"
    log.info(
        "built %d entries from %d files into %s: wrote %s",
        result.entries,
        result.articles,
        describe_outputs(config),
        changed,
    )
    return EXIT_REJECTED if args.strict and result.rejected else EXIT_OK


def run_publish(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc publish``: bring every output ``[outputs]`` lists up to date once (build what
    changed; a file a bucket missed is caught up) and send the pings owed; for cron and CI.
    Exits as ``build`` does, and 1 when a ping finally failed."""
    code = run_build(args, config)
    if args.dry_run or (not config.ping.websub_hubs and not config.ping.xmlrpc):
        return code
    return max(code, _send_owed(config, every_feed=False))


def run_check(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc check``: read and report everything, write nothing; exit 1 when the lint
    would refuse a build."""
    result = build(config, write=False, progress=_progress(args))
    _report(result)
    if result.refused:
        print(f"a build would be refused: {refusal(result.refused)}", file=sys.stderr)
    published = result.articles - len(result.rejected) - len(result.drafts) - len(result.scheduled)
    print(f"{result.articles} article files: {published} published, {result.entries} in the feeds")
    print(f"{len(result.rejected)} rejected, {len(result.drafts)} drafts")
    print(f"{len(result.scheduled)} scheduled for later" + (":" if result.scheduled else ""))
    for article in result.scheduled:
        print(f"  {article.published.isoformat()}  {display_path(article.path)}  {article.title}")
    return EXIT_REJECTED if result.refused or (args.strict and result.rejected) else EXIT_OK


def run_diff(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc diff``: what subscribers would see if the feeds were built now (new, updated,
    removed entries and id changes, per feed), writing nothing; exit 1 when a build would
    change any file (or, with ``--strict``, an article is rejected), 0 when none."""
    dry = preview(config, progress=_progress(args), allow_empty=args.allow_empty)
    _report(dry.result)
    if args.json:
        print(json.dumps(_preview_to_dict(dry), indent=2, ensure_ascii=False))
    else:
        _print_preview(dry)
    rejected = args.strict and dry.result.rejected
    return EXIT_WOULD_CHANGE if dry.changed or rejected else EXIT_OK


def run_serve(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc serve``: serve the output directory over HTTP until SIGINT or SIGTERM."""
    from feedsvc.serve.server import serve_until_signalled

    if not args.quiet:
        logging.getLogger("feedsvc.serve").setLevel(logging.INFO)
        logging.getLogger("feedsvc.access").setLevel(logging.INFO)
    serve_until_signalled(config)
    return EXIT_OK


def run_daemon(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc run``: build, then keep the feeds current until stopped."""
    import asyncio

    from feedsvc.daemon.run import Daemon  # the daemon's libraries load only for `run`
    from feedsvc.daemon.systemd import SystemdNotifier

    overrides = _overrides(args)
    notifier = SystemdNotifier.from_environment(os.environ)
    daemon = Daemon(config, lambda: load_config(args.config, overrides), notifier)
    return asyncio.run(daemon.run())


def run_ping(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc ping``: send the notifications the builds since the last ping owe (with
    ``--all``, about every feed); exit 1 if any finally failed."""
    if not config.ping.websub_hubs and not config.ping.xmlrpc:
        print("nothing to ping: [ping] names no websub_hubs and no xmlrpc services")
        return EXIT_OK
    return _send_owed(config, every_feed=args.all)


def _send_owed(config: Config, *, every_feed: bool) -> int:
    """Send the notifications owed (with ``every_feed``, about every feed); exit 1 if any
    finally failed."""
    import asyncio

    from feedsvc.ping import owed, send_all, settle

    messages = owed(config, every_feed=every_feed)
    if not messages:
        print("nothing to ping: no feed changed since the last ping (--all pings about every feed)")
        return EXIT_OK
    outcomes = asyncio.run(send_all(config, messages))
    settle(config, outcomes)
    failed = [outcome for outcome in outcomes if not outcome.ok]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} notifications delivered")
    return EXIT_REJECTED if failed else EXIT_OK


def run_status(args: argparse.Namespace, config: Config) -> int:
    """``feedsvc status``: the last build and the last ping outcome per endpoint."""
    from feedsvc.catalog.records import read_state

    last_build, pings, failure = read_state(config.state_path)
    if failure is not None:
        when = failure.finished.astimezone().isoformat(timespec="seconds")
        print(f"last build FAILED at {when}: {failure.error}")
    if last_build is None:
        print(f"no build recorded yet in {display_path(config.state_path)}")
    else:
        written = ", ".join(last_build.written) or "nothing (feeds unchanged)"
        print(f"last build: {last_build.finished.astimezone().isoformat(timespec='seconds')}")
        print(f"  {last_build.entries} entries from {last_build.articles} files; wrote {written}")
        print(f"  {len(last_build.rejected)} rejected")
        for line in last_build.rejected:
            print(f"    {line}")
    if pings:
        print("last pings:")
    for ping in pings:
        result = "ok" if ping.ok else "FAILED"
        when = ping.finished.astimezone().isoformat(timespec="seconds")
        message = ping.notification
        print(f"  {result:6} {message.endpoint} about {message.topic} at {when}: {ping.detail}")
    return EXIT_OK


def _print_preview(dry: Preview) -> None:
    """Each document a build would change, with its entries' changes, then a summary."""
    for diff in dry.diffs:
        for line in describe_diff(diff):
            print(line)
    print(summarise(dry.diffs))
    if dry.result.refusal:
        print("`feedsvc build` would refuse this (`--accept-changes` publishes it):")
        print(dry.result.refusal)


def _preview_to_dict(dry: Preview) -> dict[str, object]:
    """The preview as JSON data: the same as ``_print_preview`` says, and the build's
    warnings and rejections."""
    return {
        "changed": dry.changed,
        "documents": [diff_to_dict(diff) for diff in dry.diffs],
        "summary": summarise(dry.diffs),
        "warnings": list(dry.result.warnings),
        "rejected": [str(error) for error in dry.result.rejected],
        "refusal": dry.result.refusal,
    }


def _report(result: BuildResult) -> None:
    for warning in result.warnings:
        log.warning("%s", warning)
    for error in result.rejected:
        print(error.describe(), file=sys.stderr)


def _progress(args: argparse.Namespace):  # noqa: ANN202 (a callable or None)
    if args.quiet or not sys.stderr.isatty():
        return None

    def track(paths: Sequence[Path]) -> Iterable[Path]:
        if len(paths) < PROGRESS_THRESHOLD:
            return paths
        from tqdm import tqdm

        return tqdm(paths, desc="reading", unit="file", leave=False, file=sys.stderr)

    return track


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    return {
        "articles": {"dir": getattr(args, "articles", None)},
        "feeds": {"output": getattr(args, "output", None)},
        "site": {"url": getattr(args, "site_url", None), "title": getattr(args, "title", None)},
        "watch": {"poll": True if getattr(args, "poll", False) else None},
        "serve": {"bind": getattr(args, "bind", None)},
        "state": {"dir": getattr(args, "state_dir", None)},
    }


def _configure_logging(verbosity: int) -> None:
    level = logging.INFO if verbosity > 0 else logging.WARNING if verbosity == 0 else logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    # These narrate every job and batch at INFO; the daemon logs what it does with them.
    for chatty in ("apscheduler", "watchfiles"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbosity > 1 else logging.WARNING)


def _parser() -> argparse.ArgumentParser:
    # The options every command takes, before or after its name: a subcommand's parser sets
    # only what it is given (SUPPRESS), so `feedsvc -v build` keeps the -v.
    common = _common_options(argparse.SUPPRESS)
    sources = argparse.ArgumentParser(add_help=False)
    sources.add_argument("--articles", metavar="DIR", help="the articles directory")
    sources.add_argument("--site-url", metavar="URL", help="the site's absolute URL")
    sources.add_argument("--title", help="the feeds' title")
    sources.add_argument(
        "--strict", action="store_true", help="exit 1 when any article is rejected"
    )

    parser = argparse.ArgumentParser(
        prog="feedsvc",
        description="Publish valid RSS 2.0, Atom 1.0 and JSON Feed files from article files.",
        parents=[_common_options(None)],
    )
    parser.set_defaults(verbose=0, quiet=0)
    parser.add_argument("--version", action="version", version=f"feedsvc {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    def command(
        name: str, run: Command, summary: str, *parents: argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[common, *parents], help=summary, description=run.__doc__
        )
        sub.set_defaults(command=run)
        return sub

    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument("--output", metavar="DIR", help="where the feeds are written")
    writes.add_argument(
        "--allow-empty",
        action="store_true",
        help="publish empty feeds even over feeds that hold entries (refused otherwise)",
    )
    writes.add_argument(
        "--accept-changes",
        action="store_true",
        help="publish changes the drift guard refuses: ids of published entries changed,"
        " more entries removed than [guard] allows",
    )
    writes.add_argument(
        "--dry-run", action="store_true", help="write nothing: show what would change (as diff)"
    )
    writes.add_argument("--json", action="store_true", help="with --dry-run: as JSON")
    command("build", run_build, "write the feeds", sources, writes)
    command(
        "publish",
        run_publish,
        "bring every configured output up to date and send the pings owed",
        sources,
        writes,
    )
    diff = command("diff", run_diff, "show what a build would change for subscribers", sources)
    diff.add_argument("--output", metavar="DIR", help="where the feeds are published")
    diff.add_argument(
        "--allow-empty",
        action="store_true",
        help="show the build that would empty feeds holding entries (refused otherwise)",
    )
    diff.add_argument("--json", action="store_true", help="print the changes as JSON")
    command("check", run_check, "read and report every article, write nothing", sources)
    serve = command("serve", run_serve, "serve the feeds over HTTP")
    serve.add_argument(
        "--bind",
        metavar="HOST:PORT",
        help="where to listen (default: [serve] bind, else 127.0.0.1:8080)",
    )
    serve.add_argument("--output", metavar="DIR", help="the directory of feeds to serve")
    command("run", run_daemon, "keep the feeds current until stopped").add_argument(
        "--poll", action="store_true", help="poll for changes (for network filesystems)"
    )
    command(
        "ping", run_ping, "notify hubs and ping services of the feeds that changed"
    ).add_argument("--all", action="store_true", help="notify them of every feed, changed or not")
    command("status", run_status, "show the daemon's last build and pings")
    return parser


def _common_options(default: object) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, metavar="PATH", default=default, help="feedsvc.toml to read"
    )
    common.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        default=default,
        help="the state directory (default: [state] dir, else .feedsvc/ beside the output)",
    )
    common.add_argument("-v", "--verbose", action="count", default=default, help="say more")
    common.add_argument("-q", "--quiet", action="count", default=default, help="say only errors")
    return common
