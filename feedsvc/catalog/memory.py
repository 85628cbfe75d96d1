"""What one process remembers between builds, so the next one redoes only what changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from feedsvc.articles.discover import RootKey
from feedsvc.budget import Budget
from feedsvc.config import Config
from feedsvc.ledger import Ledger
from feedsvc.model import Article, Artifact, Entry, Failures, Parsed
from feedsvc.render import Renderer

log = logging.getLogger("feedsvc.catalog")


@dataclass
class Catalog:
    """Parsed files keyed by path (each with the (size, mtime, inode) it was read under), and
    rendered entries (and the articles that could not be rendered) keyed by the immutable
    Article, and each published document's source key and artifact by path (a document whose
    key is unchanged is not made again). A build reads in the state database's caches once
    (``cached``) and writes back what it learned (``unsaved``, ``rendered``, the documents), so
    a new process starts warm.
    """

    config: Config
    parsed: dict[Path, Parsed] = field(default_factory=dict)
    entries: dict[Article, Entry] = field(default_factory=dict)
    failures: Failures = field(default_factory=dict)
    renderer: Renderer = field(default_factory=Renderer)
    files: list[Path] | None = None  # every article file, path order; None before a full scan
    root: RootKey | None = None  # the articles directory at the last scan
    budget: Budget = field(default_factory=Budget)
    # Outcomes not yet in the state database's parse cache (None: the file is gone).
    unsaved: dict[Path, Parsed | None] = field(default_factory=dict)
    cached: bool = False  # the parse cache was read in
    cold: dict[str, tuple] = field(default_factory=dict)  # its rows, by name, until scanned
    rendered: dict[Article, Entry] = field(default_factory=dict)  # not yet in the cache
    # path -> (source key, the artifact published): see feedsvc.sourcekey
    documents: dict[str, tuple[str, Artifact]] = field(default_factory=dict)
    saved_documents: dict[str, tuple[str, Artifact]] = field(default_factory=dict)  # in the db
    # Every id ever published (feedsvc.ledger); kept across configurations, as ids are.
    ledger: Ledger = field(default_factory=Ledger)
    ledger_loaded: bool = False

    def adopt(self, config: Config) -> None:
        """Serve builds under ``config`` from now on. What was learned under another
        configuration (other dates, ids, links) is forgotten, in place and said so, so the
        caller's catalog stays the one in use and the next builds are warm again."""
        if config == self.config:
            return
        log.info("the configuration changed: every article is read again")
        self.config = config
        self.parsed.clear()
        self.entries.clear()
        self.failures.clear()
        self.files = None
        self.root = None
        self.unsaved.clear()
        self.rendered.clear()
        self.cached = False
        self.cold.clear()

    def articles_root(self) -> Path:
        """The articles directory as the last scan resolved it (article paths are below it)."""
        return Path(self.root.real) if self.root is not None else self.config.articles.dir
