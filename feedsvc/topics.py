"""Topics: the tags and authors of the due articles, each with the articles about it and a
slug to publish its feed under (``tags/<slug>/``, ``authors/<slug>/``)."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from feedsvc.model import Article
from feedsvc.slugs import assign_slugs, topic_key

TopicKind = Literal["tag", "author"]
DIRECTORIES: dict[TopicKind, str] = {"tag": "tags", "author": "authors"}


@dataclass(frozen=True)
class Topic:
    """A tag or an author with a feed of its own: its name as titles show it, and its slug."""

    kind: TopicKind
    name: str
    slug: str

    @property
    def base(self) -> str:
        """The directory of its files below the output, with a trailing '/'."""
        return f"{DIRECTORIES[self.kind]}/{self.slug}/"


def topics_of(kind: TopicKind, due: Sequence[Article]) -> list[tuple[Topic, tuple[Article, ...]]]:
    """Each topic of ``kind`` among ``due`` with its articles (in ``due``'s order), by slug.

    Names that differ only in case or Unicode normalisation are one topic, named by the form
    most articles use (of equally common forms, the first in code point order).
    """
    names: Callable[[Article], Iterable[str]] = (
        (lambda article: article.tags)
        if kind == "tag"
        else (lambda article: (article.author,) if article.author else ())
    )
    articles: dict[str, list[Article]] = defaultdict(list)
    forms: dict[str, Counter[str]] = defaultdict(Counter)  # by key, each name as written
    for article in due:
        first: dict[str, str] = {}
        for name in names(article):
            first.setdefault(topic_key(name), name)
        for key, name in first.items():
            if key:
                articles[key].append(article)
                forms[key][name] += 1
    slugs = assign_slugs(articles)
    topics = []
    for key, slug in slugs.items():
        shown: Counter[str] = Counter()
        for name, count in forms[key].items():
            shown[_display(name)] += count
        name = min(shown.items(), key=lambda form: (-form[1], form[0]))[0]
        topics.append((Topic(kind, name or slug, slug), tuple(articles[key])))
    return sorted(topics, key=lambda item: item[0].slug)


def _display(name: str) -> str:
    """``name`` fit for a title: NFC, control characters dropped, whitespace collapsed."""
    text = "".join(
        c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c) not in ("Cc", "Cs")
    )
    return " ".join(text.split())
