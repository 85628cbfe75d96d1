"""What one process remembers between builds, so the next one redoes only what changed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from feedsvc.articles.discover import RootKey
from feedsvc.budget import Budget
from feedsvc.config import Config
from feedsvc.model import Article, Artifact, Entry, Failures, Parsed
from feedsvc.render import Renderer

log = logging.getLogger("feedsvc.catalog")


@dataclass
class Catalog:
    """Parsed files keyed by path (each with the (size, mtime, inode) it was read under), and
    rendered entries (and the articles that could not be rendered) keyed by the immutable
    Article, and each published document's source key and artifact by path (a document whose
    key is unchanged is not made again). A one-off build starts with an empty Catalog, so it
    has no last good version of a failing file to fall back on unless one is restored.
    """

    config: Config
    parsed: dict[Path, Parsed] = field(default_factory=dict)
    entries: dict[Article, Entry] = field(default_factory=dict)
    failures: Failures = field(default_factory=dict)
    renderer: Renderer = field(default_factory=Renderer)
    files: list[Path] | None = None  # every article file, path order; None before a full scan
    root: RootKey | None = None  # the articles directory at the last scan
    restored: dict[Path, Article] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    # path -> (source key, the artifact published): see feedsvc.sourcekey
    documents: dict[str, tuple[str, Artifact]] = field(default_factory=dict)

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
        self.restored.clear()

    def restore_last_good(self, articles: Mapping[Path, Article]) -> None:
        """Seed the last good versions an earlier process published (from its state file)."""
        self.restored.update(articles)
