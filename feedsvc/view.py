"""How new a publisher's view of the articles is: one number that grows whenever the articles
it sees change, on which publishers fed the same articles agree.

It is the newest of: every article file's modification time, every directory's holding them
or a file that went since the last build (a file added, removed or renamed moves it), and
the publish time of the newest due article (a scheduled article coming due changes the feeds
without touching a file). Publishers
sharing a volume read the same times; publishers on separate checkouts read the times of their
last update, which a publisher lagging behind has not reached.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from feedsvc.catalog.memory import Catalog
from feedsvc.model import Article


def went(catalog: Catalog) -> list[Path]:
    """The files the last scan found gone (before the catalog's outcomes are saved)."""
    return [path for path, parsed in catalog.unsaved.items() if parsed is None]


def generation(catalog: Catalog, gone: Iterable[Path], due: Iterable[Article]) -> int:
    """The view ``catalog`` holds, with the files ``gone`` since the last build and ``due``
    (the articles it shows), in nanoseconds since the epoch."""
    files = catalog.files or []
    newest = max((parsed.key[1] for parsed in catalog.parsed.values()), default=0)
    directories = {os.path.dirname(path) for path in [*files, *gone]}
    if catalog.root is not None:
        directories.add(catalog.root.real)
    for directory in directories:
        try:
            newest = max(newest, os.stat(directory).st_mtime_ns)
        except OSError:
            continue  # gone since the scan: the next build sees its parent move
    published = max((article.published for article in due), default=None)
    if published is not None:
        newest = max(newest, int(published.timestamp()) * 1_000_000_000)
    return newest
