"""`feedsvc run`: one asyncio process that keeps the feeds current.

The watcher and the scheduler only decide *when* to build; `build()` decides how, one build
at a time in a worker thread so the event loop stays free for signals, pings and systemd.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Collection
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.build import Catalog, build
from feedsvc.config import Config
from feedsvc.errors import FeedsvcError, display_path
from feedsvc.model import BuildResult
from feedsvc.notify import Notifier
from feedsvc.ping import Outcome, Pinger, feed_urls, remember
from feedsvc.schedule import Schedule
from feedsvc.state import record_build
from feedsvc.watch import watch_articles

# systemd's default stop timeout is 90 s; we promise 5.
STOP_TIMEOUT_S = 4.5
WATCH_RETRY_S = 5.0
log = logging.getLogger("feedsvc.daemon")


class Daemon:
    """The long-lived process: first build, then builds on changes, schedule and reload."""

    def __init__(
        self, config: Config, load_config: Callable[[], Config], notifier: Notifier
    ) -> None:
        self.config = config
        self._load_config = load_config
        self._notifier = notifier
        self._catalog = Catalog(config)
        self._stop = asyncio.Event()
        self._wanted = asyncio.Event()
        self._reasons: list[str] = []
        self._changed: set[Path] | None = None  # None: the next build scans every file
        self._reload_wanted = False
        self._rejected: set[str] = set()
        self._warned: set[str] = set()  # rejections and warnings are logged once, when new
        self._stale: set[Path] = set()
        self._status = "starting"
        self._schedule = Schedule(self.request_build)
        self._pinger: Pinger | None = None
        self._watch_stop = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._exit_code = 0

    async def run(self) -> int:
        """Run until SIGTERM or SIGINT; returns the exit code."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum.name)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self._pinger = Pinger(self.config, self._remember_ping)
        await self._pinger.resume_pending()  # what a stop or a kill left unsent
        tasks: list[asyncio.Task[None]] = []
        try:
            log.info(
                "starting: watching %s, publishing into %s",
                display_path(self.config.articles.dir),
                display_path(self.config.feeds.output),
            )
            self._start_watcher()
            self._schedule.start(self.config)
            await self._build("first build", first=True)
            if self._stop.is_set():
                return 0
            self._notifier.ready(self._status)
            tasks.append(asyncio.create_task(self._builder()))
            if self.config.serve.bind:
                tasks.append(asyncio.create_task(self._serve(self.config)))
            if self._notifier.watchdog_s:
                tasks.append(asyncio.create_task(self._keep_watchdog(self._notifier.watchdog_s)))
            await self._stop.wait()
        finally:
            await self._shut_down(tasks)
        return self._exit_code

    def request_build(self, reason: str, paths: Collection[Path] | None = None) -> None:
        """Ask for a build; requests made while one runs make one more build after it.

        ``paths`` are the files a watcher saw change: a build that only has those to look at
        reads only them. Without paths the build looks at every file.
        """
        if not self._reasons:
            self._changed = set()
        self._reasons.append(reason)
        if paths is None or self._changed is None:
            self._changed = None
        else:
            self._changed.update(paths)
        self._wanted.set()

    def request_reload(self) -> None:
        """SIGHUP: reload the configuration before the next build."""
        log.info("SIGHUP received: reloading the configuration")
        self._reload_wanted = True
        self._wanted.set()

    def stop(self, why: str = "stop") -> None:
        """SIGTERM/SIGINT: finish the build in progress, then exit."""
        if not self._stop.is_set():
            log.info("%s received: stopping", why)
            self._notifier.stopping()
        self._stop.set()
        self._wanted.set()

    async def _builder(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            if self._stop.is_set():
                return
            if self._reload_wanted:
                self._reload_wanted = False
                self._reload()
            if self._reasons:
                reasons = list(dict.fromkeys(self._reasons))
                changed, self._changed = self._changed, None
                self._reasons.clear()
                await self._build("; ".join(reasons), changed=changed)

    async def _build(
        self, reason: str, first: bool = False, changed: set[Path] | None = None
    ) -> None:
        log.info("build started: %s", reason)
        config, catalog = self.config, self._catalog
        started = time.monotonic()
        try:
            result = await asyncio.to_thread(_build_and_record, config, catalog, changed)
        except FeedsvcError as error:
            if first:
                raise
            log.error("build failed: %s", error)
            self._set_status(f"last build failed: {error}")
            return
        except Exception as exc:  # noqa: BLE001 (a bug: logged whole; the daemon keeps going)
            if first:
                raise
            log.exception("build failed unexpectedly")
            self._set_status(f"last build failed: {exc!r}")
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        self._report(result, elapsed_ms)
        if self._stop.is_set():
            return
        self._schedule.plan(result.scheduled)
        if result.written and self._pinger is not None:
            self._pinger.notify(feed_urls(config, [path.name for path in result.written]))

    def _report(self, result: BuildResult, elapsed_ms: float) -> None:
        rejected = {str(error) for error in result.rejected}
        for line in sorted(rejected - self._rejected):
            log.warning("rejected %s", line)
        self._rejected = rejected
        for warning in sorted(set(result.warnings) - self._warned):
            log.warning("%s", warning)
        self._warned = set(result.warnings)
        for path in sorted(set(result.stale) - self._stale):
            log.warning("kept the last good version of %s until it parses", display_path(path))
        self._stale = set(result.stale)
        written = ", ".join(path.name for path in result.written) or "nothing (feeds unchanged)"
        log.info(
            "built %d entries from %d files in %.0f ms (%d rejected, %d scheduled): wrote %s",
            result.entries,
            result.articles,
            elapsed_ms,
            len(result.rejected),
            len(result.scheduled),
            written,
        )
        moment = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        self._set_status(
            f"last build {moment}: {result.entries} entries from {result.articles} files, "
            f"{len(result.rejected)} rejected"
        )

    def _reload(self) -> None:
        self._notifier.reloading()
        try:
            config = self._load_config()
        except FeedsvcError as error:
            log.error("reload failed, keeping the old configuration: %s", error)
            self._notifier.ready(self._status)
            return
        if config == self.config:
            log.info("configuration reloaded: unchanged")
            self._notifier.ready(self._status)
            return
        old, self.config = self.config, config
        self._catalog = Catalog(config)
        self._rejected, self._warned, self._stale = set(), set(), set()
        if self._pinger is not None:
            self._pinger.config = config
        self._schedule.configure(config)
        if (old.articles.dir, old.watch) != (config.articles.dir, config.watch):
            self._restart_watcher()
        served = (old.serve, old.feeds.output, old.site, old.ping.websub_hubs)
        if old.serve.bind and served != (
            config.serve,
            config.feeds.output,
            config.site,
            config.ping.websub_hubs,
        ):
            log.warning(
                "the server keeps its [serve], [site], output and hubs until the next restart"
            )
        log.info("configuration reloaded")
        self.request_build("configuration reloaded")
        self._notifier.ready(self._status)

    def _start_watcher(self) -> None:
        self._watch_stop = asyncio.Event()
        self._watcher = asyncio.create_task(self._watch(self.config, self._watch_stop))

    def _restart_watcher(self) -> None:
        self._watch_stop.set()
        self._start_watcher()

    async def _watch(self, config: Config, stop: asyncio.Event) -> None:
        root = config.articles.dir
        while not stop.is_set():
            try:
                async for paths in watch_articles(root, config.watch, stop):
                    names = sorted(display_path(path) for path in paths)
                    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
                    self.request_build(f"changed {', '.join(names[:3])}{more}", paths)
            except (OSError, RuntimeError) as exc:
                log.error("cannot watch %s (%s); retrying in %g s", root, exc, WATCH_RETRY_S)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), WATCH_RETRY_S)

    async def _serve(self, config: Config) -> None:
        # Imported here: serving needs its own dependencies, only when [serve] bind is set.
        from feedsvc.serve import serve_feeds

        try:
            await serve_feeds(config, self._stop)
        except (OSError, FeedsvcError) as exc:
            log.error("cannot serve at %s: %s", config.serve.bind, exc)
            self._exit_code = 1
            self.stop("serve failure")

    async def _keep_watchdog(self, interval_s: float) -> None:
        while not self._stop.is_set():
            self._notifier.watchdog()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s / 2)

    def _set_status(self, status: str) -> None:
        self._status = status
        self._notifier.status(status)

    def _remember_ping(self, outcome: Outcome) -> None:
        remember(self.config.state.path, outcome)  # the state file of the config now in force

    async def _shut_down(self, tasks: list[asyncio.Task[None]]) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        self._schedule.shutdown()
        self._watch_stop.set()
        self._stop.set()
        self._wanted.set()
        waiting = [task for task in [*tasks, self._watcher] if task is not None]
        if waiting:
            _done, late = await asyncio.wait(waiting, timeout=deadline - time.monotonic())
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._pinger is not None:
            await self._pinger.close()
        log.info("stopped")


def _build_and_record(
    config: Config, catalog: Catalog, changed: set[Path] | None = None
) -> BuildResult:
    """One build, and its record in the state file (a worker thread runs this)."""
    result = build(config, catalog=catalog, changed=changed)
    try:
        record_build(config.state.path, result, datetime.now(UTC))
    except FeedsvcError as error:
        log.warning("cannot record the build: %s", error)
    return result
