"""The catalog's SQLite file: migrated step by step from any earlier schema, in WAL mode."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.catalog.db import MIGRATIONS, SCHEMA_VERSION
from feedsvc.catalog.records import BuildRecord, read_state, record_build
from feedsvc.model import Artifact, ArtifactKind, Manifest

MOMENT = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def test_a_file_of_the_first_schema_is_migrated_and_keeps_its_records(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        db.execute(
            "INSERT INTO build VALUES (1, ?, 3, 4, '[\"rss.xml\"]', '[]')", (MOMENT.isoformat(),)
        )
        db.execute("PRAGMA user_version = 1")
    db.close()
    build = read_state(path).build
    assert build is not None and (build.entries, build.written) == (3, ("rss.xml",))
    assert build.manifest == Manifest()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_the_manifest_of_the_last_build_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    artifact = Artifact("tags/x/rss.xml", "application/rss+xml", ArtifactKind.TOPIC, "ab" * 32, 9)
    manifest = Manifest((artifact,), ("tags/x/rss.xml",))
    record_build(path, BuildRecord(MOMENT, 1, 1, ("tags/x/rss.xml",), (), manifest))
    build = read_state(path).build
    assert build is not None and build.manifest == manifest
