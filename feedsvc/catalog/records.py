"""The catalog's records: the last build (and the last failed one) with its manifest, the
last ping outcome per endpoint and feed, the pings still owed, and the last good version of
failing files. `feedsvc status` and `feedsvc ping` read them; each write is one transaction."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from feedsvc.catalog.db import transact
from feedsvc.model import Article, Manifest, Notification, PingOutcome
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


def save_last_good(path: Path, articles: Mapping[Path, Article]) -> None:
    """Replace the whole set of last good versions: the articles published for files that
    currently fail to parse, so that a restart still publishes them."""
    rows = [(str(file), json.dumps(_article_to_json(a))) for file, a in articles.items()]

    def write(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM last_good")
        db.executemany("INSERT INTO last_good VALUES (?, ?)", rows)

    transact(path, write)


def load_last_good(path: Path) -> dict[Path, Article]:
    """The last good versions `save_last_good` kept, by file."""
    if not path.is_file():
        return {}
    rows = transact(path, lambda db: db.execute("SELECT path, article FROM last_good").fetchall())
    articles = {}
    for file, text in rows:
        try:
            articles[Path(file)] = _article_from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:  # a row from another version, or damaged
            log.warning("state file: ignoring the last good version of %s (%r)", file, exc)
    return articles


def _manifest(text: str) -> Manifest:
    """The manifest a build row holds; an empty one for rows written before there were any."""
    if not text:
        return Manifest()
    try:
        return manifest_from_json(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        log.warning("state file: ignoring a damaged manifest (%r)", exc)
        return Manifest()


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
