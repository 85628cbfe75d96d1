"""What each feed holds: a pure decision over parsed articles and the clock, with no I/O.

Published articles are due, drafts never are, future-dated ones wait for their time; of two
articles claiming one id, the one whose path sorts first keeps it. Rendering (which may turn
an article away) happens after, in assemble, which picks from the plan.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedsvc.config import Config
from feedsvc.errors import ArticleError
from feedsvc.model import ATOM_TYPE, JSON_TYPE, RSS_TYPE, Article, ArtifactKind, FeedSpec, Parsed


@dataclass(frozen=True)
class FeedPlan:
    """One feed: the files it is written as, the articles it may hold (in path order), and how
    many of the newest it shows."""

    specs: tuple[FeedSpec, ...]
    articles: tuple[Article, ...]
    max_items: int


@dataclass(frozen=True)
class Plan:
    """A build's decision: the feeds, and what happened to every article file."""

    feeds: tuple[FeedPlan, ...]
    rejected: tuple[ArticleError, ...]  # files that could not be read or understood
    warnings: tuple[str, ...]
    drafts: tuple[Path, ...]
    scheduled: tuple[Article, ...]  # oldest first
    stale: tuple[Article, ...]  # last good versions of failing files, still published
    articles: int  # article files seen


def subscription_feeds(config: Config) -> tuple[FeedSpec, ...]:
    """The files of the feed readers subscribe to, one per format, at the output's root."""
    del config  # every site has the same three today; tag and author feeds will read it
    return (
        FeedSpec("rss.xml", "rss", RSS_TYPE, ArtifactKind.SUBSCRIPTION),
        FeedSpec("atom.xml", "atom", ATOM_TYPE, ArtifactKind.SUBSCRIPTION),
        FeedSpec("feed.json", "json", JSON_TYPE, ArtifactKind.SUBSCRIPTION),
    )


def plan_build(config: Config, outcomes: Sequence[Parsed], now: datetime) -> Plan:
    """Sort every file's outcome (in path order) into due, drafts, scheduled and rejected,
    and plan the feeds of the due articles."""
    rejected: list[ArticleError] = []
    warnings: list[str] = []
    drafts: list[Path] = []
    scheduled: list[Article] = []
    due: list[Article] = []
    stale: list[Article] = []
    for parsed in outcomes:
        warnings.extend(parsed.warnings)
        if parsed.error is not None:
            rejected.append(parsed.error)
        article = parsed.published_article
        if article is None:
            continue
        if parsed.error is not None:
            stale.append(article)
        if article.draft:
            drafts.append(article.path)
        elif article.published > now:
            scheduled.append(article)
        else:
            due.append(article)
    subscription = FeedPlan(subscription_feeds(config), tuple(due), config.feeds.max_items)
    return Plan(
        feeds=(subscription,),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
        drafts=tuple(drafts),
        scheduled=tuple(sorted(scheduled, key=lambda a: a.published)),
        stale=tuple(stale),
        articles=len(outcomes),
    )


def newest_unique(due: Sequence[Article], count: int) -> tuple[list[Article], list[ArticleError]]:
    """The ``count`` newest articles, newest first; of two articles claiming one id, the one
    whose path sorts first keeps it (``due`` is in path order)."""
    owners: dict[str, Article] = {}
    duplicates: list[ArticleError] = []
    for article in due:
        owner = owners.setdefault(article.entry_id, article)
        if owner is not article:
            message = f"the id {article.entry_id!r} is already used by {owner.path}"
            duplicates.append(ArticleError(article.path, message))
    newest = heapq.nlargest(
        count, owners.values(), key=lambda a: (a.published, a.updated, a.entry_id)
    )
    return newest, duplicates
