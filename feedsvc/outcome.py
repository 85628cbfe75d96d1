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
from feedsvc.model import NO_KEY, FileKey, Parsed, Source, file_key
from feedsvc.normalise import normalise
from feedsvc.render import Renderer

log = logging.getLogger("feedsvc.scan")


class Seen(NamedTuple):
    """What the catalog knew of a file's last version: its digest, when the file was first
    seen and when its content last changed, and the content fingerprint of the last version
    that parsed (b"": none did)."""

    digest: bytes
    first_seen: datetime | None
    changed: datetime | None
    fingerprint: bytes = b""


def seen(parsed: Parsed | None) -> Seen | None:
    """What ``parsed`` tells of its file's history (None for a file never seen)."""
    if parsed is None:
        return None
    article = parsed.published_article
    fingerprint = article.fingerprint if article is not None else b""
    return Seen(parsed.digest, parsed.first_seen, parsed.changed, fingerprint)


def outcome(
    path: Path, root: Path, config: Config, renderer: Renderer, before: Seen | None, now: datetime
) -> Parsed:
    """The outcome of the file at ``path`` read ``now``. A file whose bytes differ from the
    version seen ``before`` changed now, unless the edit was a minor one (see ``_moved``):
    with no ``updated`` of its own, that is its updated date (kept by the catalog, so later
    builds agree)."""
    quiet = config.articles.quiet_minor_edits
    try:
        source = read_source(path, root)
    except ArticleError as error:
        return Parsed(_stat_key(path), None, error, **_history(before, None, quiet, now))
    except Exception as exc:  # noqa: BLE001 (a bug, but one article's: reported, with its cause)
        log.exception("unexpected error reading %s", display_path(path))
        error = ArticleError(path, f"cannot read the article ({exc!r})")
        return Parsed(_stat_key(path), None, error, **_history(before, None, quiet, now))
    key, digest = source.key, source.digest
    history = _history(before, source, quiet, now)
    try:
        article = normalise(source, config, renderer, changed=history["changed"])
    except ArticleError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001
        log.exception("unexpected error understanding %s", display_path(path))
        error = ArticleError(path, f"cannot understand the article ({exc!r})")
    else:
        return Parsed(key, article, None, source.warnings, digest=digest, **history)
    # A version that cannot be understood moves nothing: the next good one is compared with
    # the last good one, the version readers saw.
    history = _history(before, None, quiet, now)
    return Parsed(key, None, error, source.warnings, digest=digest, **history)


def _history(
    before: Seen | None, source: Source | None, quiet: bool, now: datetime
) -> dict[str, datetime | None]:
    """first_seen and changed for the version ``source`` holds (None: one that could not be
    read or understood, which changes nothing)."""
    if before is None:
        return {"first_seen": now, "changed": None}
    moved = _moved(before, source, quiet)
    return {"first_seen": before.first_seen or now, "changed": now if moved else before.changed}


def _moved(before: Seen, source: Source | None, quiet: bool) -> bool:
    """True when ``source`` is a version readers should see again: its bytes differ from the
    version seen ``before`` and, with ``quiet`` minor edits, it is not marked ``minor_edit``
    and its content differs beyond whitespace and typography from the last that parsed."""
    if source is None or not before.digest or source.digest == before.digest:
        return False
    if not quiet:
        return True
    return not source.minor_edit and source.fingerprint != before.fingerprint


def _stat_key(path: Path) -> FileKey:
    try:
        status = os.stat(path)
    except OSError:
        return NO_KEY
    return file_key(status)
