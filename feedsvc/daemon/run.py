"""`feedsvc run`: one asyncio process that keeps the feeds current.

The watcher and the scheduler only decide *when* to build; `build()` decides how, one build
at a time in a worker thread so the event loop stays free for signals, pings and systemd.
A failed build is tried again with backoff. The builder or the watcher ending unexpectedly
ends the process with exit 1, for systemd to restart it; the watchdog is fed only while the
builder lives.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Coroutine
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.daemon.schedule import Schedule
from feedsvc.daemon.systemd import SystemdNotifier
from feedsvc.daemon.watch import watch_articles
from feedsvc.errors import BuildCancelled, FeedsvcError, PublishError, display_path
from feedsvc.model import BuildResult, Manifest, PingOutcome
from feedsvc.notifications import announced_paths, feed_urls
from feedsvc.outputs.base import Sink
from feedsvc.outputs.targets import describe_outputs, outputs
from feedsvc.ping import Pinger, remember

# systemd's default stop timeout is 90 s; we promise 5.
STOP_TIMEOUT_S = 4.5
WATCH_RETRY_S = 5.0
# A failed build is tried again after 1 s, then 2, 4, ... at most a minute apart.
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
T = TypeVar("T")
log = logging.getLogger("feedsvc.daemon")


class Daemon:
    """The long-lived process: first build, then builds on changes, schedule and reload."""

    def __init__(
        self, config: Config, load_config: Callable[[], Config], notifier: SystemdNotifier
    ) -> None:
        self.config = config
        self._load_config = load_config
        self._notifier = notifier
        self._catalog = Catalog(config)
        self._sink: Sink | None = None  # the outputs, made by the first build of a config
        self._stop = asyncio.Event()
        self._cancel = threading.Event()  # set on stop: the build in progress gives up
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
        self._builder_task: asyncio.Task[None] | None = None
        self._retry_s = RETRY_FIRST_S
        self._retry: asyncio.TimerHandle | None = None
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
                describe_outputs(self.config),
            )
            self._start_watcher()
            self._schedule.start(self.config)
            await self._build("first build", first=True)
            if self._stop.is_set():
                return self._exit_code
            self._notifier.ready(self._status)
            self._builder_task = self._essential(self._builder(), "the builder", self._stop)
            tasks.append(self._builder_task)
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
        self._queue(reason, paths)
        self._wanted.set()

    def request_reload(self) -> None:
        """SIGHUP: reload the configuration before the next build."""
        log.info("SIGHUP received: reloading the configuration")
        self._reload_wanted = True
        self._wanted.set()

    def stop(self, why: str = "stop") -> None:
        """SIGTERM/SIGINT: cancel the build in progress (it writes nothing), then exit."""
        if not self._stop.is_set():
            log.info("%s received: stopping", why)
            self._notifier.stopping()
        self._cancel.set()
        self._stop.set()
        self._wanted.set()

    def _queue(self, reason: str, paths: Collection[Path] | None) -> None:
        """Add to what the next build looks at, without waking the builder."""
        if not self._reasons:
            self._changed = set()
        self._reasons.append(reason)
        if paths is None or self._changed is None:
            self._changed = None
        else:
            self._changed.update(paths)

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
        config, catalog, cancel = self.config, self._catalog, self._cancel
        if self._retry is not None:
            self._retry.cancel()  # this build does what the retry was for
        started = time.monotonic()
        try:
            sink = self._outputs(config)
            result = await _in_thread(
                lambda: build(config, catalog=catalog, sink=sink, changed=changed, cancel=cancel)
            )
        except BuildCancelled:
            log.info("build cancelled: stopping")
            return
        except FeedsvcError as error:
            # A bad configuration or a missing articles directory at start is the operator's
            # to fix (exit 2); an output that cannot be written yet is retried like any build.
            if first and not isinstance(error, PublishError):
                raise
            log.error("build failed: %s", error)
            if isinstance(error, PublishError) and error.manifest is not None:
                self._announce(config, error.manifest)  # what it did write before failing
            self._retry_later(changed, f"last build failed: {error}")
            return
        except Exception as exc:  # noqa: BLE001 (a bug: logged whole; the daemon keeps going)
            if first:
                raise
            log.exception("build failed unexpectedly")
            self._retry_later(changed, f"last build failed: {exc!r}")
            return
        self._retry_s = RETRY_FIRST_S
        elapsed_ms = (time.monotonic() - started) * 1000
        self._report(result, elapsed_ms)
        if self._stop.is_set():
            return
        self._schedule.plan(result.scheduled)
        self._announce(config, result.manifest)

    def _announce(self, config: Config, manifest: Manifest) -> None:
        """Ping about the feeds a build changed."""
        if manifest.changed and self._pinger is not None:
            self._pinger.notify(feed_urls(config, announced_paths(manifest)))

    def _outputs(self, config: Config) -> Sink:
        """The outputs ``config`` lists, made once (a bucket's client is slow to make)."""
        if self._sink is None:
            self._sink = outputs(config)
        return self._sink

    def _retry_later(self, changed: set[Path] | None, status: str) -> None:
        """Build again after a backoff that doubles up to RETRY_MAX_S: a failed build (output
        unwritable, disk full) is not left failed until the next change or rescan."""
        delay, self._retry_s = self._retry_s, min(self._retry_s * 2, RETRY_MAX_S)
        log.info("retrying the build in %g s", delay)
        self._set_status(f"{status}; retrying in {delay:g} s")
        self._queue("retrying the failed build", changed)
        self._retry = asyncio.get_running_loop().call_later(delay, self._wanted.set)

    def _report(self, result: BuildResult, elapsed_ms: float) -> None:
        rejected = {error.describe() for error in result.rejected}
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
        if config.site.url != self.config.site.url:
            log.error(
                "reload refused, keeping the old configuration: [site] url %s would become %s,"
                " and with it every entry id (restart to change it on purpose)",
                self.config.site.url,
                config.site.url,
            )
            self._notifier.ready(self._status)
            return
        self._schedule.configure(config)
        old, self.config = self.config, config
        self._catalog = Catalog(config)  # warmed from the state file's parse cache
        self._sink = None
        self._rejected, self._warned, self._stale = set(), set(), set()
        if self._pinger is not None:
            self._pinger.reconfigure(config)
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

    def _essential(
        self, work: Coroutine[object, object, None], what: str, stop: asyncio.Event
    ) -> asyncio.Task[None]:
        """A task the daemon cannot do without: should it end before ``stop`` asked it to,
        that is logged and the daemon exits 1, for systemd to restart it."""

        def ended(task: asyncio.Task[None]) -> None:
            if task.cancelled():
                return
            error = task.exception()
            if error is None and stop.is_set():
                return
            log.critical("%s ended unexpectedly; exiting to be restarted", what, exc_info=error)
            self._exit_code = 1
            self.stop(f"{what} failure")

        task = asyncio.create_task(work)
        task.add_done_callback(ended)
        return task

    def _start_watcher(self) -> None:
        stop = self._watch_stop = asyncio.Event()
        self._watcher = self._essential(self._watch(self.config, stop), "the watcher", stop)

    def _restart_watcher(self) -> None:
        self._watch_stop.set()
        self._start_watcher()

    async def _watch(self, config: Config, stop: asyncio.Event) -> None:
        root = config.articles.dir
        while not stop.is_set():
            try:
                async for paths in watch_articles(root, config.watch, stop):
                    if paths is None:
                        self.request_build("the articles directory was replaced")
                        continue
                    names = sorted(display_path(path) for path in paths)
                    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
                    self.request_build(f"changed {', '.join(names[:3])}{more}", paths)
            except (OSError, RuntimeError) as exc:
                log.error("cannot watch %s (%s); retrying in %g s", root, exc, WATCH_RETRY_S)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), WATCH_RETRY_S)
                if not stop.is_set():
                    self.request_build("watching again after an error")

    async def _serve(self, config: Config) -> None:
        # Imported here: serving needs its own dependencies, only when [serve] bind is set.
        from feedsvc.serve.server import serve_feeds

        try:
            await serve_feeds(config, self._stop)
        except (OSError, FeedsvcError) as exc:
            log.error("cannot serve at %s: %s", config.serve.bind, exc)
            self._exit_code = 1
            self.stop("serve failure")

    async def _keep_watchdog(self, interval_s: float) -> None:
        # Fed only while the builder lives: a daemon that can no longer build is not healthy.
        while not self._stop.is_set():
            if self._builder_task is not None and not self._builder_task.done():
                self._notifier.watchdog()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s / 2)

    def _set_status(self, status: str) -> None:
        self._status = status
        self._notifier.status(status)

    def _remember_ping(self, outcome: PingOutcome) -> None:
        remember(self.config.state_path, outcome)  # the state file of the config now in force

    async def _shut_down(self, tasks: list[asyncio.Task[None]]) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT_S
        if self._retry is not None:
            self._retry.cancel()
        self._schedule.shutdown()
        self._watch_stop.set()
        self._stop.set()
        self._cancel.set()
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


async def _in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a daemon thread: should it outlive a stop (a build yet to reach its
    next cancel check), it does not hold the exiting process past the stop timeout, as a
    thread of the default executor would."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001 (handed to the awaiting coroutine)
            error = exc
        with suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="feedsvc-build", daemon=True).start()
    return await future
