"""The daemon's small state file (SQLite): the last build (and the last failed one), the last
ping outcome per endpoint, the pings still to send, and the last good version of failing files.

`feedsvc status` reads it; each write is one transaction, so a reader never sees half of one.
A corrupt file is moved aside and started afresh (what it held is a cache, not a record worth
stopping for); a file another process holds locked is given up on after a short wait.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, TypeVar

from feedsvc.errors import PublishError, display_path
from feedsvc.model import Article, BuildResult

SCHEMA_VERSION = 1
SCHEMA = f"""
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
PRAGMA user_version = {SCHEMA_VERSION};
"""
# Long enough for another writer's transaction here (milliseconds); short enough that a
# process holding the file locked costs a build half a second, not five.
LOCK_TIMEOUT_S = 0.5
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
_LOCKED = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
T = TypeVar("T")
log = logging.getLogger("feedsvc.state")


@dataclass(frozen=True)
class BuildRecord:
    """The last successful build, as `feedsvc status` shows it."""

    finished: datetime
    entries: int
    articles: int
    written: tuple[str, ...]
    rejected: tuple[str, ...]


@dataclass(frozen=True)
class FailureRecord:
    """A build that failed as a whole (output unwritable, disk full), newer than any success."""

    finished: datetime
    error: str


@dataclass(frozen=True)
class PingRecord:
    """How the last notification of one endpoint about one feed ended."""

    endpoint: str
    topic: str
    finished: datetime
    ok: bool
    attempts: int
    detail: str


@dataclass(frozen=True)
class PendingPing:
    """A notification queued whose outcome is not final yet: sent again at the next start."""

    kind: str
    endpoint: str
    topic: str


class State(NamedTuple):
    """What the state file holds for `feedsvc status`."""

    build: BuildRecord | None
    pings: list[PingRecord]
    failure: FailureRecord | None = None


def record_build(path: Path, result: BuildResult, finished: datetime) -> None:
    """Remember ``result`` as the last build; an earlier failure is over."""
    row = (
        finished.isoformat(),
        result.entries,
        result.articles,
        json.dumps([p.name for p in result.written]),
        json.dumps([error.describe() for error in result.rejected]),
    )

    def write(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR REPLACE INTO build (id, finished, entries, articles, written, rejected)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            row,
        )
        db.execute("DELETE FROM failure")

    _transact(path, write)


def record_build_failure(path: Path, error: str, finished: datetime) -> None:
    """Remember that the last build failed with ``error``; the last success is kept."""
    _transact(
        path,
        lambda db: db.execute(
            "INSERT OR REPLACE INTO failure VALUES (1, ?, ?)", (finished.isoformat(), error)
        ),
    )


def record_ping(path: Path, record: PingRecord) -> None:
    """Remember how the last notification of ``record.endpoint`` about ``record.topic`` ended."""
    row = (
        record.endpoint,
        record.topic,
        record.finished.isoformat(),
        int(record.ok),
        record.attempts,
        record.detail,
    )
    _transact(
        path, lambda db: db.execute("INSERT OR REPLACE INTO ping VALUES (?, ?, ?, ?, ?, ?)", row)
    )


def read_state(path: Path) -> State:
    """The last build (None before the first), the last outcome per endpoint and feed, and the
    failure of a build after the last good one."""
    if not path.is_file():
        return State(None, [])

    def read(db: sqlite3.Connection) -> State:
        row = db.execute(
            "SELECT finished, entries, articles, written, rejected FROM build"
        ).fetchone()
        pings = db.execute("SELECT * FROM ping ORDER BY endpoint, topic").fetchall()
        failed = db.execute("SELECT finished, error FROM failure").fetchone()
        build = None
        if row is not None:
            build = BuildRecord(
                finished=datetime.fromisoformat(row[0]),
                entries=row[1],
                articles=row[2],
                written=tuple(json.loads(row[3])),
                rejected=tuple(json.loads(row[4])),
            )
        records = [
            PingRecord(endpoint, topic, datetime.fromisoformat(when), bool(ok), attempts, detail)
            for endpoint, topic, when, ok, attempts, detail in pings
        ]
        failure = (
            None if failed is None else FailureRecord(datetime.fromisoformat(failed[0]), failed[1])
        )
        return State(build, records, failure)

    return _transact(path, read)


def add_pending(path: Path, ping: PendingPing) -> None:
    """Remember that ``ping`` is queued, until `remove_pending` says its outcome is final."""
    row = (ping.kind, ping.endpoint, ping.topic)
    _transact(path, lambda db: db.execute("INSERT OR IGNORE INTO pending VALUES (?, ?, ?)", row))


def remove_pending(path: Path, ping: PendingPing) -> None:
    """``ping`` was delivered or finally failed: it is not to be sent again at start."""
    row = (ping.kind, ping.endpoint, ping.topic)
    _transact(
        path,
        lambda db: db.execute(
            "DELETE FROM pending WHERE kind = ? AND endpoint = ? AND topic = ?", row
        ),
    )


def read_pending(path: Path) -> list[PendingPing]:
    """The notifications queued by an earlier process whose outcome it never saw."""
    if not path.is_file():
        return []
    rows = _transact(
        path,
        lambda db: db.execute("SELECT * FROM pending ORDER BY kind, endpoint, topic").fetchall(),
    )
    return [PendingPing(*row) for row in rows]


def save_last_good(path: Path, articles: Mapping[Path, Article]) -> None:
    """Replace the whole set of last good versions: the articles published for files that
    currently fail to parse, so that a restart still publishes them."""
    rows = [(str(file), json.dumps(_article_to_json(a))) for file, a in articles.items()]

    def write(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM last_good")
        db.executemany("INSERT INTO last_good VALUES (?, ?)", rows)

    _transact(path, write)


def load_last_good(path: Path) -> dict[Path, Article]:
    """The last good versions `save_last_good` kept, by file."""
    if not path.is_file():
        return {}
    rows = _transact(path, lambda db: db.execute("SELECT path, article FROM last_good").fetchall())
    articles = {}
    for file, text in rows:
        try:
            articles[Path(file)] = _article_from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:  # a row from another version, or damaged
            log.warning("state file: ignoring the last good version of %s (%r)", file, exc)
    return articles


def _article_to_json(article: Article) -> dict[str, object]:
    # Dates as ISO 8601 with their offset: a zone becomes a fixed offset, the instant is kept.
    return {
        "path": str(article.path),
        "slug": article.slug,
        "entry_id": article.entry_id,
        "link": article.link,
        "title": article.title,
        "published": article.published.isoformat(),
        "updated": article.updated.isoformat(),
        "body": article.body,
        "summary": article.summary,
        "tags": list(article.tags),
        "author": article.author,
        "draft": article.draft,
    }


def _article_from_json(data: dict) -> Article:
    return Article(
        path=Path(data["path"]),
        slug=data["slug"],
        entry_id=data["entry_id"],
        link=data["link"],
        title=data["title"],
        published=datetime.fromisoformat(data["published"]),
        updated=datetime.fromisoformat(data["updated"]),
        body=data["body"],
        summary=data["summary"],
        tags=tuple(data["tags"]),
        author=data["author"],
        draft=data["draft"],
    )


def _transact(path: Path, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work`` in one transaction; a corrupt file is moved aside and ``work`` run again on
    a fresh one."""
    try:
        return _attempt(path, work)
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) not in _CORRUPT:
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
        raise PublishError(display_path(path), "cannot open the state file") from exc
    try:
        with db:
            if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                db.executescript(SCHEMA)
            return work(db)
    finally:
        db.close()


def _state_error(path: Path, exc: sqlite3.Error) -> PublishError:
    if getattr(exc, "sqlite_errorcode", None) in _LOCKED:
        return PublishError(display_path(path), "the state file is locked by another process")
    return PublishError(display_path(path), "cannot use the state file")


def _move_aside(path: Path, exc: sqlite3.Error) -> None:
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
        raise PublishError(
            display_path(path), "cannot move the corrupt state file aside"
        ) from error
    log.warning(
        "state file %s is corrupt (%s): moved aside to %s, starting afresh",
        display_path(path),
        exc,
        display_path(aside),
    )
