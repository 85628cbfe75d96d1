"""The catalog's SQLite file: opened in WAL mode, migrated step by step (``user_version``),
each use one transaction. A corrupt file is moved aside and started afresh (it holds records
and caches, nothing worth stopping a publisher for); a file another process holds locked is
given up on after a short wait."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from feedsvc.errors import StateError, display_path

# Each step takes the schema from the version before it (its index) to the next one; a
# file is brought up to date in one transaction the first time it is opened.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS build (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        finished TEXT NOT NULL,
        entries INTEGER NOT NULL,
        articles INTEGER NOT NULL,
        written TEXT NOT NULL,
        rejected TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS ping (
        endpoint TEXT NOT NULL,
        topic TEXT NOT NULL,
        finished TEXT NOT NULL,
        ok INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (endpoint, topic)
    );
    CREATE TABLE IF NOT EXISTS failure (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        finished TEXT NOT NULL,
        error TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pending (
        kind TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        topic TEXT NOT NULL,
        PRIMARY KEY (kind, endpoint, topic)
    );
    CREATE TABLE IF NOT EXISTS last_good (
        path TEXT PRIMARY KEY,
        article TEXT NOT NULL
    );
    """,
    # The manifest of the last publish: what `feedsvc ping --all` and `status` read.
    "ALTER TABLE build ADD COLUMN manifest TEXT NOT NULL DEFAULT '';",
    # What kind of endpoint each ping outcome is from (rows from before say '').
    "ALTER TABLE ping ADD COLUMN kind TEXT NOT NULL DEFAULT '';",
    # The parse cache (catalog/cache.py): one row per article file, and what it was made under.
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS article (
        path BLOB PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        digest BLOB NOT NULL,
        first_seen TEXT,
        changed TEXT,
        error TEXT,
        error_line INTEGER,
        warnings TEXT,
        slug TEXT,
        entry_id TEXT,
        link TEXT,
        title TEXT,
        published TEXT,
        updated TEXT,
        article_digest BLOB,
        summary TEXT,
        tags TEXT,
        author TEXT,
        draft INTEGER
    );
    DROP TABLE IF EXISTS last_good;
    CREATE TABLE IF NOT EXISTS document (
        path TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        media_type TEXT NOT NULL,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS entry (
        path BLOB PRIMARY KEY,
        article_digest BLOB NOT NULL,
        link TEXT NOT NULL,
        summary TEXT NOT NULL,
        content_html TEXT NOT NULL
    );
    """,
    # The id ledger (feedsvc/ledger.py): every id ever published, and whether an article's
    # id is its own.
    """
    CREATE TABLE IF NOT EXISTS ledger (
        entry_id TEXT PRIMARY KEY,
        path BLOB,
        link TEXT NOT NULL,
        title TEXT NOT NULL,
        content BLOB NOT NULL,
        live INTEGER NOT NULL
    );
    ALTER TABLE article ADD COLUMN own_id INTEGER NOT NULL DEFAULT 0;
    """,
    # Each article's content fingerprint (feedsvc.fingerprint): a minor edit is told by it.
    "ALTER TABLE article ADD COLUMN fingerprint BLOB;",
)
SCHEMA_VERSION = len(MIGRATIONS)
# Long enough for another writer's transaction here (milliseconds); short enough that a
# process holding the file locked costs a build half a second, not five.
LOCK_TIMEOUT_S = 0.5
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
# sqlite3's message (no error code) for a stored text value that is not UTF-8.
_UNDECODABLE = "Could not decode to UTF-8"
T = TypeVar("T")
log = logging.getLogger("feedsvc.catalog")


def transact(path: Path, work: Callable[[sqlite3.Connection], T], *, read_only: bool = False) -> T:
    """Run ``work`` in one transaction on the catalog at ``path`` (created and migrated as
    needed); a corrupt file is moved aside and ``work`` run again on a fresh one. With
    ``read_only`` (a dry run) ``work`` only reads, the file is left exactly as it was, and
    any failure raises StateError."""
    if read_only:
        try:
            return _read(path, work)
        except sqlite3.Error as exc:
            raise _state_error(path, exc) from exc
    try:
        return _attempt(path, work)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        if not _corrupt(exc):
            raise _state_error(path, exc) from exc
        _move_aside(path, exc)
    try:
        return _attempt(path, work)
    except sqlite3.Error as exc:
        raise _state_error(path, exc) from exc


def _attempt(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=LOCK_TIMEOUT_S)
    except OSError as exc:
        raise StateError(display_path(path), "cannot open the state file") from exc
    try:
        # In WAL mode, NORMAL syncs at checkpoints, not at every commit: a power cut may lose
        # the last records (a cache, rebuilt from the articles), never the file's consistency.
        db.execute("PRAGMA synchronous = NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            _migrate(db, version)
        with db:
            return work(db)
    finally:
        db.close()


def _read(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` on the file opened read-only without a trace: immutable (no lock, and no
    -wal or -shm file made and removed), unless its write-ahead log holds commits (another
    process is writing, or was killed), which it must then read through that log."""
    try:
        busy = path.with_name(path.name + "-wal").stat().st_size > 0
    except OSError:
        busy = False
    uri = f"{path.absolute().as_uri()}?{'mode=ro' if busy else 'immutable=1'}"
    db = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT_S)
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            raise StateError(display_path(path), "the state file is older than this feedsvc")
        with db:
            return work(db)
    finally:
        db.close()


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring the schema from ``version`` up to date in one transaction, and turn on WAL (a
    reader never waits for the writer)."""
    db.execute("PRAGMA journal_mode = WAL")
    with db:
        for step in MIGRATIONS[version:]:
            for statement in step.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _corrupt(exc: sqlite3.Error | UnicodeDecodeError) -> bool:
    """True for a file SQLite finds damaged, or that holds text which is not UTF-8: feedsvc
    writes none, and SQLite's own message about a damaged schema may not even decode."""
    if isinstance(exc, UnicodeDecodeError) or str(exc).startswith(_UNDECODABLE):
        return True
    return getattr(exc, "sqlite_errorcode", None) in _CORRUPT


def _state_error(path: Path, exc: sqlite3.Error | UnicodeDecodeError) -> StateError:
    if getattr(exc, "sqlite_errorcode", None) in _LOCKED:
        return StateError(display_path(path), "the state file is locked by another process")
    return StateError(display_path(path), "cannot use the state file")


def _move_aside(path: Path, exc: sqlite3.Error | UnicodeDecodeError) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        path.rename(aside)
        # A journal left beside it belongs to the corrupt file, not to the fresh one.
        for suffix in ("-journal", "-wal", "-shm"):
            journal = path.with_name(path.name + suffix)
            if journal.exists():
                journal.rename(aside.with_name(aside.name + suffix))
    except OSError as error:
        raise StateError(display_path(path), "cannot move the corrupt state file aside") from error
    log.warning(
        "state file %s is corrupt (%s): moved aside to %s, starting afresh",
        display_path(path),
        exc,
        display_path(aside),
    )
