"""Noticing changed article files (watchfiles: inotify, or polling for network filesystems).

The watcher only says *that* articles changed, one batch per burst; the build decides what.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

import watchfiles
from watchfiles import Change

from feedsvc.articles.discover import RootKey, is_article_file, is_visible, root_key
from feedsvc.config import WatchConfig
from feedsvc.errors import display_path

# A burst that never pauses (a long rsync) is still built every so often.
MAX_BURST_MS = 5_000
NOTICE_STEP_MS = 50
POLL_DELAY_MS = 300
# How often the watcher checks that the articles root still names the directory it watches.
ROOT_CHECK_S = 0.5
log = logging.getLogger("feedsvc.watch")


def is_relevant(change: Change, path: str, root: Path) -> bool:
    """True for an event that may change the feeds: on an article file, or on a directory
    that may hold some (added, or deleted or renamed away). Hidden paths never count."""
    target = Path(path)
    if not is_visible(target, root):
        return False
    if is_article_file(target):
        return True
    if change == Change.deleted:
        # A deleted directory can no longer be told from a file: anything suffix-less counts.
        return not target.suffix
    return change == Change.added and target.is_dir()


async def watch_articles(
    root: Path, config: WatchConfig, stop: asyncio.Event
) -> AsyncIterator[set[Path] | None]:
    """Yield the changed paths once per burst, until ``stop`` is set; None when every file
    must be looked at again because the directory ``root`` names was replaced.

    ``root`` is resolved whenever watching (re)starts, and paths are yielded below the
    resolved directory. Watching follows ``root``: when its directory is deleted and made
    again (a re-clone) or a symlinked ``root`` is switched (``ln -sfn releases/2 articles``),
    the new directory is watched once it exists, and None says so.
    """
    again = False
    while not stop.is_set():
        watched = root_key(root)
        if watched is None:
            log.warning("the articles directory %s is gone: waiting for it", display_path(root))
            while (watched := root_key(root)) is None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), ROOT_CHECK_S)
                if stop.is_set():
                    return
            again = True
        if again:
            log.warning(
                "watching the articles directory %s again: %s", display_path(root), watched.real
            )
        async for burst in _bursts(root, watched, config, stop, announce=again):
            yield burst
        if not stop.is_set() and root_key(root) is not None:
            log.warning("the articles directory %s was replaced", display_path(root))
        again = True


async def _bursts(
    root: Path, watched: RootKey, config: WatchConfig, stop: asyncio.Event, announce: bool
) -> AsyncIterator[set[Path] | None]:
    """Watch the directory ``watched`` until ``stop``, or until ``root`` names another
    directory or none (checked every ``ROOT_CHECK_S``, and on the directory's own deletion).

    With ``announce``, None comes first, once the watch is set up: files may have changed
    while nothing watched them.

    A burst ends after ``debounce_ms`` without events (or ``MAX_BURST_MS`` into a burst that
    never pauses). watchfiles reports events every ``NOTICE_STEP_MS``; the quiet window is ours,
    not watchfiles' ``step``: a burst ends at the first ``step`` that saw no event, anywhere from
    one to two ``step`` after the last one, which with ``step = debounce_ms`` put a dropped file
    in the feeds ~150 ms later (599 against 448 ms median, bench/bench_latency.py).
    """
    directory = Path(watched.real)
    ended = asyncio.Event()  # stop, or the directory is no longer ``root``'s
    batches: asyncio.Queue[set[Path]] = asyncio.Queue()

    def wanted(change: Change, path: str) -> bool:
        return path == watched.real or is_relevant(change, path, directory)

    async def notice() -> None:
        async for changes in watchfiles.awatch(
            directory,
            watch_filter=wanted,
            step=NOTICE_STEP_MS,
            debounce=MAX_BURST_MS,
            stop_event=ended,
            force_polling=config.poll,
            poll_delay_ms=POLL_DELAY_MS,
        ):
            if (Change.deleted, watched.real) in changes:
                ended.set()
                return
            batches.put_nowait({Path(path) for _, path in changes if path != watched.real})

    async def follow_root() -> None:
        while not ended.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ROOT_CHECK_S)
            if stop.is_set() or root_key(root) != watched:
                ended.set()

    noticing = asyncio.create_task(notice())
    following = asyncio.create_task(follow_root())
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(0)  # let the watch start before saying that it has
        if announce:
            yield None
        while True:
            first = asyncio.create_task(batches.get())
            await asyncio.wait({first, noticing}, return_when=asyncio.FIRST_COMPLETED)
            if not first.done():
                first.cancel()
                noticing.result()  # the watch ended: stopped, or failed and raises here
                return
            burst = first.result()
            ends = loop.time() + MAX_BURST_MS / 1000
            while (quiet := min(config.debounce_ms / 1000, ends - loop.time())) > 0:
                try:
                    burst |= await asyncio.wait_for(batches.get(), quiet)
                except TimeoutError:
                    break
            if ended.is_set():
                return  # what changed in a directory that is no longer the root is moot
            if burst:
                yield burst
    finally:
        ended.set()
        for task in (noticing, following):
            task.cancel()
        await asyncio.gather(noticing, following, return_exceptions=True)
