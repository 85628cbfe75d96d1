"""The id ledger in the state database: read in when another process changed it, written
back after each publish (only the claims that changed), and read back from the published
feeds when the database lost it, so ids survive a lost state directory too."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from feedsvc.catalog.db import transact
from feedsvc.catalog.memory import Catalog
from feedsvc.diff import read_entries
from feedsvc.errors import FeedsvcError
from feedsvc.ledger import Claim, Ledger
from feedsvc.model import ATOM_TYPE, Article, ArtifactKind
from feedsvc.outputs.base import Sink

GENERATION = "ledger_generation"
# The documents that list every published entry between them: the subscription feed and its
# archive pages (a topic feed holds a subset).
SEED_KINDS = frozenset({ArtifactKind.SUBSCRIPTION, ArtifactKind.ARCHIVE})


def refresh_ledger(catalog: Catalog, sink: Sink | None, *, read_only: bool = False) -> list[str]:
    """Bring ``catalog.ledger`` up to the state database's (one query when it is current);
    an empty ledger beside published feeds is read back from them. ``read_only``: a dry run,
    which leaves the database as it was. Returns warnings."""
    path = catalog.config.state_path
    claims: list[Claim] = []
    generation = 0
    try:
        if not (read_only and not path.exists()):  # a dry run creates no database
            generation = transact(path, _generation, read_only=read_only)
            if catalog.ledger_loaded and generation == catalog.ledger.generation:
                return []
            claims = transact(path, _claims, read_only=read_only)
    except FeedsvcError as error:
        return [f"cannot read the id ledger ({error}): ids are kept as this process knows them"]
    catalog.ledger = Ledger({held.entry_id: held for held in claims}, generation)
    catalog.ledger_loaded = True
    if claims or sink is None:
        return []
    seeded = read_published_claims(sink)
    if not seeded:
        return []
    catalog.ledger = Ledger({held.entry_id: held for held in seeded}, generation)
    return [
        f"the id ledger is empty though feeds are published: {len(seeded)} ids were read back"
        " from them, and each article whose link they show keeps its id"
    ]


def persist_ledger(catalog: Catalog, owners: Sequence[Article]) -> list[str]:
    """Record ``owners`` (the articles the feeds now hold) as published; returns warnings."""
    changed = catalog.ledger.record(owners)
    if not changed:
        return []
    try:
        catalog.ledger.generation = transact(
            catalog.config.state_path, lambda db: _save(db, changed)
        )
    except FeedsvcError as error:
        return [f"cannot record the published ids ({error}): the next build tries again"]
    return []


def read_published_claims(sink: Sink) -> list[Claim]:
    """The entries the published Atom feed and its archive pages hold, as claims with no
    file (a document that cannot be read is passed over)."""
    claims: dict[str, Claim] = {}
    for name, artifact in sorted(sink.list().items()):
        if artifact.media_type != ATOM_TYPE or artifact.kind not in SEED_KINDS:
            continue
        try:
            entries = read_entries(sink.read(name) or b"", artifact.media_type)
        except ValueError:
            continue
        for entry in entries:
            if entry.entry_id:
                claimed = Claim(entry.entry_id, None, entry.link, entry.title, b"")
                claims.setdefault(entry.entry_id, claimed)
    return list(claims.values())


def _generation(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (GENERATION,)).fetchone()
    return int(row[0]) if row else 0


def _claims(db: sqlite3.Connection) -> list[Claim]:
    rows = db.execute("SELECT entry_id, path, link, title, content, live FROM ledger")
    return [
        Claim(
            entry_id,
            None if path is None else Path(os.fsdecode(path)),
            link,
            title,
            content,
            bool(live),
        )
        for entry_id, path, link, title, content, live in rows
    ]


def _save(db: sqlite3.Connection, claims: Sequence[Claim]) -> int:
    db.executemany(
        "INSERT OR REPLACE INTO ledger (entry_id, path, link, title, content, live)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                held.entry_id,
                None if held.path is None else os.fsencode(held.path),
                held.link,
                held.title,
                held.content,
                int(held.live),
            )
            for held in claims
        ],
    )
    generation = _generation(db) + 1
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (GENERATION, str(generation))
    )
    return generation
