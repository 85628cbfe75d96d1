"""A document's source key: a digest of everything that determines its bytes, computed
without rendering, so a document whose key is unchanged need not be rendered or written.

Keys are SHA-256 over ``repr`` of plain frozen data, so they are the same in every process
(a catalog may keep them across restarts); never ``hash()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

from feedsvc import __version__
from feedsvc.archive import DocumentPlan
from feedsvc.config import Config
from feedsvc.model import Article, Feed

# Bumped when the meaning of a key changes.
KEY_VERSION = 1


def config_token(config: Config) -> str:
    """What the configuration and the code add to every document's bytes: the site, article
    and feed settings, and feedsvc's own source (an upgrade makes every document again)."""
    text = repr((KEY_VERSION, code_digest(), config.site, config.articles, config.feeds))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@cache
def code_digest() -> str:
    """SHA-256 of feedsvc's Python source, read once per process (the version string alone
    when the source cannot be read, as from a zip)."""
    package = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode("ascii"))
    for path in sorted(package.rglob("*.py")):
        try:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
        except OSError:
            continue
    return digest.hexdigest()


def entries_key(articles: Sequence[Article]) -> str:
    """What a document's entries add to its key: each article's identity, in order."""
    digest = hashlib.sha256()
    for article in articles:
        digest.update(article.version.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def document_key(token: str, document: DocumentPlan, head: Feed, entries: str) -> str:
    """The key of ``document``, a feed whose channel is ``head`` (its entries aside) and whose
    entries' key is ``entries``: its path, format, channel, links, and every entry."""
    text = repr((token, document.spec, replace(head, entries=()), entries))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
