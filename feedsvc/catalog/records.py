"""The catalog's records: the last build (and the last failed one) with its manifest, the
last ping outcome per endpoint and feed, the pings still owed, and the last good version of
failing files. `feedsvc status` and `feedsvc ping` read them; each write is one transaction."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from feedsvc.catalog.db import transact
from feedsvc.model import Manifest, Notification, PingOutcome
from feedsvc.outputs.base import manifest_from_json, manifest_to_json

log = logging.getLogger("feedsvc.catalog")


@dataclass(frozen=True)
class BuildRecord:
    """A successful build, as `feedsvc status` shows it, with what it published."""

    finished: datetime
    entries: int
    articles: int
    written: tuple[str, ...]
    rejected: tuple[str, ...]
    manifest: Manifest = Manifest()


@dataclass(frozen=True)
class FailureRecord:
    """A build that failed as a whole (output unwritable, disk full), newer than any success."""

    finished: datetime
    error: str


class State(NamedTuple):
    """What the catalog holds for `feedsvc status`."""

    build: BuildRecord | None
    pings: list[PingOutcome]
    failure: FailureRecord | None = None


def record_build(path: Path, record: BuildRecord) -> None:
    """Remember ``record`` as the last build; an earlier failure is over."""
    row = (
        record.finished.isoformat(),
        record.entries,
        record.articles,
        json.dumps(list(record.written)),
        json.dumps(list(record.rejected)),
        manifest_to_json(record.manifest).decode("ascii"),
    )

    def write(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT OR REPLACE INTO build"
            " (id, finished, entries, articles, written, rejected, manifest)"
            " VALUES (1, ?, ?, ?, ?, ?, ?)",
            row,
        )
        db.execute("DELETE FROM failure")

    transact(path, write)


def record_build_failure(path: Path, error: str, finished: datetime) -> None:
    """Remember that the last build failed with ``error``; the last success is kept."""
    transact(
        path,
        lambda db: db.execute(
            "INSERT OR REPLACE INTO failure VALUES (1, ?, ?)", (finished.isoformat(), error)
        ),
    )


def record_ping(path: Path, outcome: PingOutcome) -> None:
    """Remember how the last notification of its endpoint about its feed ended."""
    message = outcome.notification
    row = (
        message.endpoint,
        message.topic,
        outcome.finished.isoformat(),
        int(outcome.ok),
        outcome.attempts,
        outcome.detail,
        message.kind,
    )
    transact(
        path,
        lambda db: db.execute(
            "INSERT OR REPLACE INTO ping (endpoint, topic, finished, ok, attempts, detail, kind)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            row,
        ),
    )


def read_state(path: Path) -> State:
    """The last build (None before the first), the last outcome per endpoint and feed, and the
    failure of a build after the last good one."""
    if not path.is_file():
        return State(None, [])

    def read(db: sqlite3.Connection) -> State:
        row = db.execute(
            "SELECT finished, entries, articles, written, rejected, manifest FROM build"
        ).fetchone()
        pings = db.execute(
            "SELECT kind, endpoint, topic, ok, attempts, detail, finished FROM ping"
            " ORDER BY endpoint, topic"
        ).fetchall()
        failed = db.execute("SELECT finished, error FROM failure").fetchone()
        build = None
        if row is not None:
            build = BuildRecord(
                finished=datetime.fromisoformat(row[0]),
                entries=row[1],
                articles=row[2],
                written=tuple(json.loads(row[3])),
                rejected=tuple(json.loads(row[4])),
                manifest=_manifest(row[5]),
            )
        records = [
            PingOutcome(
                Notification(kind, endpoint, topic),
                bool(ok),
                attempts,
                detail,
                datetime.fromisoformat(when),
            )
            for kind, endpoint, topic, ok, attempts, detail, when in pings
        ]
        failure = (
            None if failed is None else FailureRecord(datetime.fromisoformat(failed[0]), failed[1])
        )
        return State(build, records, failure)

    return transact(path, read)


def add_pending(path: Path, pings: Iterable[Notification]) -> None:
    """Remember that ``pings`` are owed, until `remove_pending` says an outcome is final."""
    rows = [(ping.kind, ping.endpoint, ping.topic) for ping in pings]
    transact(
        path, lambda db: db.executemany("INSERT OR IGNORE INTO pending VALUES (?, ?, ?)", rows)
    )


def remove_pending(path: Path, ping: Notification) -> None:
    """``ping`` was delivered or finally failed: it is not to be sent again at start."""
    row = (ping.kind, ping.endpoint, ping.topic)
    transact(
        path,
        lambda db: db.execute(
            "DELETE FROM pending WHERE kind = ? AND endpoint = ? AND topic = ?", row
        ),
    )


def read_pending(path: Path) -> list[Notification]:
    """The notifications owed: queued by a publish, and not yet delivered or finally failed."""
    if not path.is_file():
        return []
    rows = transact(
        path,
        lambda db: db.execute("SELECT * FROM pending ORDER BY kind, endpoint, topic").fetchall(),
    )
    return [Notification(*row) for row in rows]


def _manifest(text: str) -> Manifest:
    """The manifest a build row holds; an empty one for rows written before there were any."""
    if not text:
        return Manifest()
    try:
        return manifest_from_json(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        log.warning("state file: ignoring a damaged manifest (%r)", exc)
        return Manifest()
