"""What each feed holds: a pure decision over parsed articles and the clock, with no I/O.

Published articles are due, drafts never are, future-dated ones wait for their time; one
dated before 1990 or more than a year ahead is rejected (or, as ``[lint] refuse`` says,
warned of: see lint). Each due article is published under the id the ledger keeps for it,
and of two articles claiming one id, the one that published it first keeps it (else the one
whose path sorts first). What that would change of the published entries is the plan's
drift, for the guard to judge. The site's feed holds every due article; with ``[feeds]
tag_feeds`` or ``author_feeds``, each tag's or author's feed those about it. Rendering
(which may turn an article away) and archive pages come after, in assemble, which picks
from the plan.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feedsvc.config import Config
from feedsvc.drift import Drift, drift
from feedsvc.errors import ArticleError
from feedsvc.ledger import Ledger, settle
from feedsvc.lint import Problem, date_problem, date_window
from feedsvc.model import ATOM_TYPE, JSON_TYPE, RSS_TYPE, Article, ArtifactKind, FeedSpec, Parsed
from feedsvc.topics import Topic, TopicKind, topics_of


@dataclass(frozen=True)
class FeedPlan:
    """One feed: its subscription files, the articles it may hold (each owning its id, in path
    order), how many of the newest those files show, and the topic it is about (None: the
    whole site)."""

    specs: tuple[FeedSpec, ...]
    articles: tuple[Article, ...]
    max_items: int
    topic: Topic | None = None


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
    duplicates: tuple[ArticleError, ...] = ()  # due articles whose id another file owns
    drift: Drift = Drift()  # what publishing would change of the entries readers hold


def subscription_feeds(config: Config) -> tuple[FeedSpec, ...]:
    """The files of the feed readers subscribe to, one per format, at the output's root."""
    del config  # every site has the same three
    return channel_specs("", ArtifactKind.SUBSCRIPTION)


def channel_specs(base: str, kind: ArtifactKind) -> tuple[FeedSpec, ...]:
    """A feed's subscription files, one per format, in the directory ``base`` ("" or ending
    in '/')."""
    return (
        FeedSpec(f"{base}rss.xml", "rss", RSS_TYPE, kind),
        FeedSpec(f"{base}atom.xml", "atom", ATOM_TYPE, kind),
        FeedSpec(f"{base}feed.json", "json", JSON_TYPE, kind),
    )


def topic_feeds(config: Config, owners: Sequence[Article]) -> list[FeedPlan]:
    """The feed of each tag and author of ``owners`` (the due articles that own their ids: a
    duplicate is in no feed), as ``[feeds] tag_feeds`` and ``author_feeds`` ask."""
    kinds: list[TopicKind] = []
    if config.feeds.tag_feeds:
        kinds.append("tag")
    if config.feeds.author_feeds:
        kinds.append("author")
    return [
        FeedPlan(
            channel_specs(topic.base, ArtifactKind.TOPIC), articles, config.feeds.max_items, topic
        )
        for kind in kinds
        for topic, articles in topics_of(kind, owners)
    ]


def plan_build(
    config: Config,
    outcomes: Sequence[Parsed],
    now: datetime,
    ledger: Ledger | None = None,
    present: Collection[Path] = (),
) -> Plan:
    """Sort every file's outcome (in path order) into due, drafts, scheduled and rejected,
    settle the due articles' ids with the ``ledger`` (``present``: every article file now),
    and plan their feeds."""
    ledger = ledger if ledger is not None else Ledger()
    rejected: list[ArticleError] = []
    warnings: list[str] = []
    drafts: list[Path] = []
    scheduled: list[Article] = []
    due: list[Article] = []
    stale: list[Article] = []
    window = date_window(now)
    for parsed in outcomes:
        if parsed.warnings:
            warnings.extend(parsed.warnings)
        if parsed.error is not None:
            rejected.append(parsed.error)
        article = parsed.article or parsed.last_good
        if article is None:
            continue
        if not article.draft and (problem := date_problem(article, window)) is not None:
            if "dates" not in config.lint.refuse:
                warnings.append(str(problem))
            else:
                if parsed.error is None:  # a failing file is rejected already
                    rejected.append(ArticleError(article.path, _refused_date(problem)))
                continue
        if parsed.error is not None:
            stale.append(article)
        if article.draft:
            drafts.append(article.path)
        elif article.published > now:
            scheduled.append(article)
        else:
            due.append(article)
    settled = settle(due, ledger, present)
    owners = settled.owners
    subscription = FeedPlan(subscription_feeds(config), tuple(owners), config.feeds.max_items)
    return Plan(
        feeds=(subscription, *topic_feeds(config, owners)),
        duplicates=tuple(settled.duplicates),
        drift=drift(ledger, owners),
        rejected=tuple(rejected),
        warnings=tuple(warnings),
        drafts=tuple(drafts),
        scheduled=tuple(sorted(scheduled, key=lambda a: a.published)),
        stale=tuple(stale),
        articles=len(outcomes),
    )


def _refused_date(problem: Problem) -> str:
    return f'{problem.message} (to publish it, set [lint] refuse without "dates")'
