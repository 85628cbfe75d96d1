"""Noticing changed article files (watchfiles: inotify, or polling for network filesystems).

The watcher only says *that* articles changed, one batch per burst; the build decides what.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import watchfiles
from watchfiles import Change

from feedsvc.articles import is_article_file
from feedsvc.config import WatchConfig

# A burst that never pauses (a long rsync) is still built every so often.
MAX_BURST_MS = 5_000
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
    """Yield the changed paths below ``root`` once per burst: after ``debounce_ms`` of quiet
    (or ``MAX_BURST_MS`` into a burst that never pauses), until ``stop`` is set."""
    root = root.resolve()
    async for changes in watchfiles.awatch(
        root,
        watch_filter=lambda change, path: is_relevant(change, path, root),
        step=max(config.debounce_ms, 1),
        debounce=max(MAX_BURST_MS, config.debounce_ms),
        stop_event=stop,
        force_polling=config.poll,
        poll_delay_ms=POLL_DELAY_MS,
    ):
        yield {Path(path) for _, path in changes}
