"""Noticing changed article files (watchfiles: inotify, or polling for network filesystems).

The watcher only says *that* articles changed, one batch per burst; the build decides what.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from pathlib import Path

import watchfiles
from watchfiles import Change

from feedsvc.articles import is_article_file
from feedsvc.config import WatchConfig

# A burst that never pauses (a long rsync) is still built every so often.
MAX_BURST_MS = 5_000
NOTICE_STEP_MS = 50
POLL_DELAY_MS = 300


def is_relevant(change: Change, path: str, root: Path) -> bool:
    """True for an event that may change the feeds: on an article file, or on a directory
    that may hold some (added, or deleted or renamed away). Hidden paths never count."""
    target = Path(path)
    try:
        parts = target.relative_to(root).parts
    except ValueError:
        return False
    if not parts or any(part.startswith(".") for part in parts):
        return False
    if is_article_file(target):
        return True
    if change == Change.deleted:
        # A deleted directory can no longer be told from a file: anything suffix-less counts.
        return not target.suffix
    return change == Change.added and target.is_dir()


async def watch_articles(
    root: Path, config: WatchConfig, stop: asyncio.Event
) -> AsyncIterator[set[Path]]:
    """Yield the changed paths below ``root`` once per burst, until ``stop`` is set.

    A burst ends after ``debounce_ms`` without events (or ``MAX_BURST_MS`` into a burst that
    never pauses). watchfiles reports events every ``NOTICE_STEP_MS``; the quiet window is ours.
    """
    root = root.resolve()
    batches: asyncio.Queue[set[Path]] = asyncio.Queue()

    async def notice() -> None:
        async for changes in watchfiles.awatch(
            root,
            watch_filter=lambda change, path: is_relevant(change, path, root),
            step=NOTICE_STEP_MS,
            debounce=MAX_BURST_MS,
            stop_event=stop,
            force_polling=config.poll,
            poll_delay_ms=POLL_DELAY_MS,
        ):
            batches.put_nowait({Path(path) for _, path in changes})

    noticing = asyncio.create_task(notice())
    loop = asyncio.get_running_loop()
    try:
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
            yield burst
    finally:
        noticing.cancel()
        with suppress(asyncio.CancelledError):
            await noticing
