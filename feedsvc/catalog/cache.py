"""The parse cache in the state database: each article file's outcome, keyed by the
(size, mtime, inode) and content digest it was read under, with when the file was first seen
and when its content last changed. A cold start reads again only the files whose key
changed; rows made under another configuration (other ids, links, dates) are dropped."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from feedsvc.catalog.db import transact
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.content import rendered_entry
from feedsvc.errors import ArticleError, FeedsvcError, display_path
from feedsvc.model import Article, Artifact, ArtifactKind, Parsed
from feedsvc.sourcekey import code_digest

# Bumped whenever what a row means changes (parsing, normalising, this layout).
CACHE_VERSION = 2
_COLUMNS = (
    "path, size, mtime_ns, inode, digest, first_seen, changed, error, error_line, warnings,"
    " slug, entry_id, link, title, published, updated, article_digest, summary, tags, author,"
    " draft, own_id, fingerprint"
)
_BATCH = 500  # paths per query: under SQLite's limit on parameters
log = logging.getLogger("feedsvc.catalog")
_PLACES = ", ".join("?" * len(_COLUMNS.split(",")))
_TEXT, _NUMBER, _BLOB = (str, type(None)), (int, type(None)), (bytes, type(None))
_KINDS = frozenset(kind.value for kind in ArtifactKind)
# The type each of _COLUMNS holds: a row holding another was written over.
_ROW_TYPES = (
    bytes, int, int, int, bytes,  # path, size, mtime_ns, inode, digest
    _TEXT, _TEXT, _TEXT, _NUMBER, _TEXT,  # first_seen, changed, error, error_line, warnings
    _TEXT, _TEXT, _TEXT, _TEXT, _TEXT, _TEXT,  # slug, entry_id, link, title, published, updated
    _BLOB, _TEXT, _TEXT, _TEXT, _NUMBER,  # article_digest, summary, tags, author, draft
    _NUMBER, _BLOB,  # own_id, fingerprint
)  # fmt: skip


def fingerprint(config: Config) -> str:
    """What the cached outcomes were made under: feedsvc's own source (an upgrade reads every
    article again), and every setting that goes into an Article (the site's URL, the article
    URL template, the default zone, …)."""
    made_under = (CACHE_VERSION, code_digest(), config.site, config.articles)
    made_under += (config.feeds.article_url,)
    return hashlib.sha256(repr(made_under).encode("utf-8")).hexdigest()


def load_parsed(path: Path, config: Config) -> dict[Path, Parsed]:
    """Every cached outcome made under ``config``, by file (see ``load_rows``)."""
    thawed = {Path(file): thaw(Path(file), row) for file, row in load_rows(path, config).items()}
    return {file: parsed for file, parsed in thawed.items() if parsed is not None}


def load_rows(path: Path, config: Config, *, read_only: bool = False) -> dict[str, tuple]:
    """Every cached outcome made under ``config``, as a row by file name (``thaw`` makes it
    a Parsed, once its Path is at hand); none when the database is new, or was made under
    another configuration (its rows are dropped at the next save). ``read_only``: see
    transact."""
    if not path.is_file():
        return {}
    made_under = fingerprint(config)

    def read(db: sqlite3.Connection) -> list[tuple]:
        if _fingerprint(db) != made_under:
            return []
        return db.execute(f"SELECT {_COLUMNS} FROM article").fetchall()

    return {os.fsdecode(row[0]): row for row in transact(path, read, read_only=read_only)}


def save_parsed(path: Path, config: Config, changed: Mapping[Path, Parsed | None]) -> None:
    """Store the outcomes of the files read again (None: the file is gone), in one
    transaction."""
    made_under = fingerprint(config)
    rows = [_row(file, parsed) for file, parsed in changed.items() if parsed is not None]
    gone = [(os.fsencode(file),) for file, parsed in changed.items() if parsed is None]

    def write(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        if _fingerprint(db) != made_under:
            db.execute("DELETE FROM article")
            db.execute("DELETE FROM entry")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (made_under,))
        _insert(db, f"INSERT OR REPLACE INTO article ({_COLUMNS}) VALUES ({_PLACES})", rows)
        db.executemany("DELETE FROM article WHERE path = ?", gone)
        db.executemany("DELETE FROM entry WHERE path = ?", gone)

    transact(path, write)


def warm(catalog: Catalog, *, read_only: bool = False) -> list[str]:
    """Read the parse cache, and the source keys of the documents published, into a catalog
    that has not read them yet (what it already holds wins); returns warnings: an unusable
    cache is read as empty, never an error. ``read_only`` (a dry run): see transact."""
    if catalog.cached:
        return []
    catalog.cached = True
    try:
        rows = load_rows(catalog.config.state_path, catalog.config, read_only=read_only)
        documents = load_documents(catalog.config.state_path, read_only=read_only)
    except FeedsvcError as error:
        return [f"the parse cache cannot be read, so every article is read again: {error}"]
    catalog.documents = {**documents, **catalog.documents}
    catalog.saved_documents = dict(catalog.documents)
    known = {os.fspath(path) for path in catalog.parsed}
    catalog.cold = {name: row for name, row in rows.items() if name not in known}
    return []


def persist(catalog: Catalog) -> list[str]:
    """Write the catalog's unsaved outcomes to the parse cache; returns warnings (a cache
    that cannot be written costs the next cold start time, not this build)."""
    if not catalog.unsaved:
        return []
    try:
        save_parsed(catalog.config.state_path, catalog.config, catalog.unsaved)
    except FeedsvcError as error:
        return [f"the parse cache cannot be written: {error}"]
    catalog.unsaved.clear()
    return []


def load_documents(path: Path, *, read_only: bool = False) -> dict[str, tuple[str, Artifact]]:
    """The source key and artifact of each document published, by path (the key covers the
    configuration: a document made under another is simply made again)."""
    if not path.is_file():
        return {}
    rows = transact(
        path,
        lambda db: db.execute(
            "SELECT path, key, media_type, kind, digest, size FROM document"
        ).fetchall(),
        read_only=read_only,
    )
    documents = {}
    for file, key, media_type, kind, digest, size in rows:
        texts = (file, key, media_type, digest)
        if kind in _KINDS and isinstance(size, int) and all(isinstance(t, str) for t in texts):
            documents[file] = (key, Artifact(file, media_type, ArtifactKind(kind), digest, size))
        else:
            log.warning("state file: the row of the document %r is damaged: it is made again", file)
    return documents


def persist_documents(catalog: Catalog) -> list[str]:
    """Write the documents' keys that changed since they were read or last written; returns
    warnings (one that cannot be written costs the next process a remake, not this build)."""
    saved, now = catalog.saved_documents, catalog.documents
    if saved == now:
        return []
    rows = [
        (path, key, a.media_type, a.kind.value, a.digest, a.size)
        for path, (key, a) in now.items()
        if saved.get(path) != (key, a)
    ]
    gone = [(path,) for path in saved.keys() - now.keys()]

    def write(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        _insert(db, "INSERT OR REPLACE INTO document VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.executemany("DELETE FROM document WHERE path = ?", gone)

    try:
        transact(catalog.config.state_path, write)
    except FeedsvcError as error:
        return [f"the documents' keys cannot be written: {error}"]
    catalog.saved_documents = dict(now)
    return []


def recall_entries(
    catalog: Catalog, articles: Iterable[Article], *, read_only: bool = False
) -> None:
    """Fill the catalog's entries, for those of ``articles`` it lacks, with the renders the
    cache holds of those very versions: a cold start renders only what it never rendered.
    ``read_only`` (a dry run): see transact."""
    missing = {os.fsencode(a.path): a for a in articles if a not in catalog.entries}
    if not missing or not catalog.config.state_path.is_file():
        return
    made_under = fingerprint(catalog.config)
    keys = list(missing)

    def read(db: sqlite3.Connection) -> list[tuple]:
        if _fingerprint(db) != made_under:
            return []
        rows = []
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            rows += db.execute(
                "SELECT path, article_digest, link, summary, content_html FROM entry"
                f" WHERE path IN ({', '.join('?' * len(batch))})",
                batch,
            ).fetchall()
        return rows

    try:
        rows = transact(catalog.config.state_path, read, read_only=read_only)
    except FeedsvcError as error:
        log.warning("the render cache cannot be read: %s", error)
        return
    for path, digest, link, summary, content_html in rows:
        article = missing[path]
        if article.digest != digest or article.link != link:
            continue
        if isinstance(summary, str) and isinstance(content_html, str):
            catalog.entries[article] = rendered_entry(article, summary, content_html)
        else:
            log.warning(
                "state file: the render cache's row of %s is damaged: rendering it again",
                display_path(article.path),
            )


def persist_entries(catalog: Catalog) -> list[str]:
    """Write the entries rendered since the last call to the render cache; returns warnings."""
    if not catalog.rendered:
        return []
    made_under = fingerprint(catalog.config)
    rows = [
        (os.fsencode(a.path), a.digest, a.link, entry.summary, entry.content_html)
        for a, entry in catalog.rendered.items()
    ]

    def write(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        if _fingerprint(db) == made_under:  # else the parse cache is being rebuilt: wait
            _insert(db, "INSERT OR REPLACE INTO entry VALUES (?, ?, ?, ?, ?)", rows)

    try:
        transact(catalog.config.state_path, write)
    except FeedsvcError as error:
        return [f"the render cache cannot be written: {error}"]
    catalog.rendered.clear()
    return []


def _fingerprint(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    return None if row is None else row[0]


def _insert(db: sqlite3.Connection, statement: str, rows: list[tuple]) -> None:
    """Insert ``rows``, less any holding text SQLite cannot store (a lone surrogate): their
    files are simply read again next time."""
    db.execute("SAVEPOINT rows")
    try:
        db.executemany(statement, rows)
    except UnicodeEncodeError:
        db.execute("ROLLBACK TO rows")
        db.executemany(statement, [row for row in rows if _storable(row)])
    db.execute("RELEASE rows")


def _storable(row: tuple) -> bool:
    """False for a row holding text SQLite cannot store."""
    try:
        for value in row:
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _row(file: Path, parsed: Parsed) -> tuple:
    article = parsed.published_article
    error = parsed.error
    head = (
        os.fsencode(file),  # bytes: a file name need not be UTF-8
        *parsed.key,
        parsed.digest,
        _iso(parsed.first_seen),
        _iso(parsed.changed),
        None if error is None else error.reason,
        None if error is None else error.line,
        json.dumps(list(parsed.warnings)) if parsed.warnings else None,
    )
    if article is None:
        return head + (None,) * 13
    return head + (
        article.slug,
        article.entry_id,
        article.link,
        article.title,
        article.published.isoformat(),
        article.updated.isoformat(),
        article.digest,
        article.summary,
        json.dumps(list(article.tags)) if article.tags else None,
        article.author,
        int(article.draft),
        int(article.own_id),
        article.fingerprint,
    )


def thaw(path: Path, row: tuple) -> Parsed | None:
    """The outcome a row of ``load_rows`` holds for the file at ``path``; None when the row is
    damaged (the state file was written over): the file is then read again."""
    try:
        if not all(isinstance(value, kind) for value, kind in zip(row, _ROW_TYPES, strict=True)):
            raise TypeError("a column holds a value of the wrong type")
        return _thaw(path, row)
    except (TypeError, ValueError) as exc:
        log.warning(
            "state file: the parse cache's row of %s is damaged (%s): reading the file again",
            display_path(path),
            exc,
        )
        return None


def _thaw(path: Path, row: tuple) -> Parsed:
    size, mtime_ns, inode, digest, first_seen, changed, message, line, warnings = row[1:10]
    article = _article(path, row[10:])
    error = None if message is None else ArticleError(path, message, line, show_cause=False)
    return Parsed(
        key=(size, mtime_ns, inode),
        article=article if error is None else None,
        error=error,
        warnings=tuple(json.loads(warnings)) if warnings else (),
        last_good=article if error is not None else None,
        digest=digest,
        first_seen=_datetime(first_seen),
        changed=_datetime(changed),
    )


def _article(path: Path, columns: Sequence) -> Article | None:
    slug, entry_id, link, title, published, updated, digest, summary, tags, author = columns[:10]
    draft, own_id, fingerprint = columns[10:]
    if slug is None:
        return None
    return Article(
        path=path,
        slug=slug,
        entry_id=entry_id,
        link=link,
        title=title,
        published=datetime.fromisoformat(published),
        updated=datetime.fromisoformat(updated),
        digest=digest,
        fingerprint=fingerprint,
        summary=summary,
        tags=tuple(json.loads(tags)) if tags else (),
        author=author,
        draft=bool(draft),
        own_id=bool(own_id),
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
