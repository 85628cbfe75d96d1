"""One article file to its outcome (the Parsed): read, understood, and dated by what the
catalog saw of it before. Whatever goes wrong with one article stays that article's error."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from feedsvc.articles.read import read_source
from feedsvc.config import Config
from feedsvc.errors import ArticleError, display_path
from feedsvc.model import NO_KEY, FileKey, Parsed, file_key
from feedsvc.normalise import normalise
from feedsvc.render import Renderer

log = logging.getLogger("feedsvc.scan")


class Seen(NamedTuple):
    """What the catalog knew of a file's last version: its digest, when the file was first
    seen and when its content last changed."""

    digest: bytes
    first_seen: datetime | None
    changed: datetime | None


def seen(parsed: Parsed | None) -> Seen | None:
    """What ``parsed`` tells of its file's history (None for a file never seen)."""
    if parsed is None:
        return None
    return Seen(parsed.digest, parsed.first_seen, parsed.changed)


def outcome(
    path: Path, root: Path, config: Config, renderer: Renderer, before: Seen | None, now: datetime
) -> Parsed:
    """The outcome of the file at ``path`` read ``now``. A file whose bytes differ from the
    version seen ``before`` changed now: with no ``updated`` of its own, that is its
    updated date (kept by the catalog, so later builds agree)."""
    try:
        source = read_source(path, root)
    except ArticleError as error:
        return Parsed(_stat_key(path), None, error, **_history(before, b"", now))
    except Exception as exc:  # noqa: BLE001 (a bug, but one article's: reported, with its cause)
        log.exception("unexpected error reading %s", display_path(path))
        error = ArticleError(path, f"cannot read the article ({exc!r})")
        return Parsed(_stat_key(path), None, error, **_history(before, b"", now))
    key, digest = source.key, source.digest
    history = _history(before, digest, now)
    try:
        article = normalise(source, config, renderer, changed=history["changed"])
    except ArticleError as error:
        return Parsed(key, None, error, source.warnings, digest=digest, **history)
    except Exception as exc:  # noqa: BLE001
        log.exception("unexpected error understanding %s", display_path(path))
        error = ArticleError(path, f"cannot understand the article ({exc!r})")
        return Parsed(key, None, error, source.warnings, digest=digest, **history)
    return Parsed(key, article, None, source.warnings, digest=digest, **history)


def _history(before: Seen | None, digest: bytes, now: datetime) -> dict[str, datetime | None]:
    """first_seen and changed for a version with ``digest`` (b"": unreadable, unchanged)."""
    if before is None:
        return {"first_seen": now, "changed": None}
    moved = bool(digest) and bool(before.digest) and digest != before.digest
    return {"first_seen": before.first_seen or now, "changed": now if moved else before.changed}


def _stat_key(path: Path) -> FileKey:
    try:
        status = os.stat(path)
    except OSError:
        return NO_KEY
    return file_key(status)
