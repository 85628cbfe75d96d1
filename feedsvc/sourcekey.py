"""A document's source key: a digest of everything that determines its bytes, computed
without rendering, so a document whose key is unchanged need not be rendered or written.

Keys are SHA-256 over ``repr`` of plain frozen data, so they are the same in every process
(a catalog may keep them across restarts); never ``hash()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from feedsvc import __version__
from feedsvc.archive import DocumentPlan
from feedsvc.config import Config
from feedsvc.model import Article, Feed

# Bumped when what a document holds changes for the same input without a version change.
KEY_VERSION = 1


def article_identity(article: Article, digest: bytes = b"") -> str:
    """The identity of one version of an article: its fields and its content (``digest``,
    the SHA-256 of the file it was read from, when known; else its body's)."""
    content = digest or hashlib.sha256(article.body.encode("utf-8", "surrogatepass")).digest()
    head = repr(replace(article, body="")).encode("utf-8", "surrogatepass")
    return hashlib.sha256(content + b"\0" + head).hexdigest()


def config_token(config: Config) -> str:
    """What the configuration adds to every document's bytes (site, article and feed
    settings, and the code's version)."""
    text = repr((KEY_VERSION, __version__, config.site, config.articles, config.feeds))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def document_key(
    token: str, document: DocumentPlan, head: Feed, identities: Mapping[Path, str]
) -> str:
    """The key of ``document``, a feed whose channel is ``head`` (its entries aside): its
    path, format, channel, links, and each entry's id, dates and content identity."""
    digest = hashlib.sha256()
    digest.update(repr((token, document.spec, replace(head, entries=()))).encode("utf-8"))
    for article in document.articles:
        identity = identities.get(article.path) or article_identity(article)
        line = f"\n{article.entry_id}\x1f{article.published}\x1f{article.updated}\x1f{identity}"
        digest.update(line.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()
