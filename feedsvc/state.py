"""The daemon's small state file (SQLite): the last build and the last ping outcome per endpoint.

`feedsvc status` reads it; each write is one transaction, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedsvc.errors import PublishError, display_path
from feedsvc.model import BuildResult

SCHEMA = """
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
"""


@dataclass(frozen=True)
class BuildRecord:
    """The last build, as `feedsvc status` shows it."""

    finished: datetime
    entries: int
    articles: int
    written: tuple[str, ...]
    rejected: tuple[str, ...]


@dataclass(frozen=True)
class PingRecord:
    """How the last notification of one endpoint about one feed ended."""

    endpoint: str
    topic: str
    finished: datetime
    ok: bool
    attempts: int
    detail: str


def record_build(path: Path, result: BuildResult, finished: datetime) -> None:
    """Remember ``result`` as the last build."""
    row = (
        finished.isoformat(),
        result.entries,
        result.articles,
        json.dumps([p.name for p in result.written]),
        json.dumps([str(error) for error in result.rejected]),
    )
    with _connect(path) as db:
        db.execute(
            "INSERT OR REPLACE INTO build (id, finished, entries, articles, written, rejected)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            row,
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
    with _connect(path) as db:
        db.execute("INSERT OR REPLACE INTO ping VALUES (?, ?, ?, ?, ?, ?)", row)


def read_state(path: Path) -> tuple[BuildRecord | None, list[PingRecord]]:
    """The last build (None before the first) and the last outcome per endpoint and feed."""
    if not path.is_file():
        return None, []
    with _connect(path) as db:
        row = db.execute(
            "SELECT finished, entries, articles, written, rejected FROM build"
        ).fetchone()
        pings = db.execute("SELECT * FROM ping ORDER BY endpoint, topic").fetchall()
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
        PingRecord(endpoint, topic, datetime.fromisoformat(finished), bool(ok), attempts, detail)
        for endpoint, topic, finished, ok, attempts, detail in pings
    ]
    return build, records


@contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=5)
    except (OSError, sqlite3.Error) as exc:
        raise PublishError(display_path(path), "cannot open the state file") from exc
    try:
        with db:
            db.executescript(SCHEMA)
            yield db
    except sqlite3.Error as exc:
        raise PublishError(display_path(path), "cannot use the state file") from exc
    finally:
        db.close()
