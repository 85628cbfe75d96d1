"""The id ledger: every entry id ever published, which file published it, and what it held.

An id once published stays with its article, so readers never show it twice: a file keeps
the id the ledger holds for its path (whatever the site URL, the slug rule or its publish date
come to say), a file renamed or moved with its content unchanged takes its id along, and an
article's own id (front matter) always wins. Of two files claiming one id, the one that
published it first keeps it; the newcomer is rejected by name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from feedsvc.errors import ArticleError, quote_value
from feedsvc.model import Article


@dataclass(frozen=True)
class Claim:
    """One id as last published: by which file (None: known only from the published feeds),
    with which link, title and content, and whether the feeds still hold it."""

    entry_id: str
    path: Path | None
    link: str
    title: str
    content: bytes  # the article's content fingerprint (empty when known only from feeds)
    live: bool = True


def claim(article: Article) -> Claim:
    """The claim ``article`` makes by being published."""
    return Claim(article.entry_id, article.path, article.link, article.title, article.fingerprint)


@dataclass
class Ledger:
    """The claims by id, with the indexes a build looks them up by. ``generation`` is the
    state database's count of ledger writes this copy reflects.

    A build settles and records every due article, so both are kept cheap for the articles
    that did not change: dict lookups, and no new Article unless an id does change.
    """

    claims: dict[str, Claim] = field(default_factory=dict)
    generation: int = 0
    by_path: dict[Path, str] = field(default_factory=dict, init=False, repr=False)
    by_content: dict[bytes, list[str]] = field(default_factory=dict, init=False, repr=False)
    by_link: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    live_ids: set[str] = field(default_factory=set, init=False, repr=False)
    # Articles recorded as published in their current version: recording them again is a no-op.
    recorded: set[Article] = field(default_factory=set, init=False, repr=False)
    # Each article as last settled under another id than its own (reused while that id holds).
    settled: dict[Article, Article] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for held in self.claims.values():
            self._index(held)

    def _index(self, held: Claim) -> None:
        if held.path is not None:
            self.by_path[held.path] = held.entry_id
        if held.content:
            self.by_content.setdefault(held.content, []).append(held.entry_id)
        self.by_link.setdefault(held.link, held.entry_id)
        if held.live:
            self.live_ids.add(held.entry_id)

    def record(self, owners: Sequence[Article]) -> list[Claim]:
        """Take ``owners`` (every article the feeds now hold) as published: their claims are
        added or brought up to date, every other claim is no longer live. Returns the claims
        that changed."""
        changed: list[Claim] = []
        for article in owners:
            if article in self.recorded:
                continue
            made = claim(article)
            if self.claims.get(made.entry_id) != made:
                changed.append(made)
        if changed or len(owners) != len(self.recorded):
            held = {article.entry_id for article in owners}
            changed += [replace(self.claims[gone], live=False) for gone in self.live_ids - held]
        for made in changed:
            self._forget(made.entry_id)
            self.claims[made.entry_id] = made
            self._index(made)
        self.recorded = set(owners)
        return changed

    def _forget(self, entry_id: str) -> None:
        old = self.claims.get(entry_id)
        if old is None:
            return
        if old.path is not None and self.by_path.get(old.path) == entry_id:
            del self.by_path[old.path]
        if old.content and entry_id in (ids := self.by_content.get(old.content, [])):
            ids.remove(entry_id)
        if self.by_link.get(old.link) == entry_id:
            del self.by_link[old.link]
        self.live_ids.discard(entry_id)


@dataclass(frozen=True)
class Settled:
    """The due articles with the ids the ledger keeps for them: those that own their ids
    (path order), and an error for each other claimant."""

    owners: list[Article]
    duplicates: list[ArticleError]


def settle(due: Sequence[Article], ledger: Ledger, present: Collection[Path]) -> Settled:
    """Give each of ``due`` (path order) the id it is published under, and decide who owns
    each id: the file that published it first, else the first in path order. ``present``
    holds every article file there is now (a claim whose file is gone may follow its content
    to a new path)."""
    settled: list[Article] = []
    owner: dict[str, Article] = {}
    losers: list[Article] = []
    moved: set[str] = set()
    by_path, was_settled, now_settled = ledger.by_path, ledger.settled, {}
    for article in due:
        kept = article.entry_id if article.own_id else by_path.get(article.path)
        if kept is None:
            kept = _new_id(article, ledger, present, moved)
        if kept != article.entry_id:
            known = was_settled.get(article)
            if known is None or known.entry_id != kept:
                known = replace(article, entry_id=kept)
            article = now_settled[article] = known
        settled.append(article)
        held = owner.setdefault(kept, article)
        if held is not article:
            first = ledger.claims.get(kept)
            if first is not None and first.path == article.path:
                owner[kept] = article  # it published the id, though its path sorts later
                article = held
            losers.append(article)
    ledger.settled = now_settled
    duplicates = [_duplicate(loser, owner[loser.entry_id], ledger) for loser in losers]
    return Settled([a for a in settled if owner[a.entry_id] is a], duplicates)


def _new_id(article: Article, ledger: Ledger, present: Collection[Path], moved: set[str]) -> str:
    """The id of an article whose path published none: the one its content was published
    under at a path now gone (it moved), or its link was, as the published feeds showed it;
    else the one made for it."""
    for entry_id in ledger.by_content.get(article.fingerprint or b"-", ()):
        before = ledger.claims[entry_id].path
        if entry_id not in moved and before is not None and before not in present:
            moved.add(entry_id)
            return entry_id
    seen = ledger.by_link.get(article.link)
    if seen is not None and ledger.claims[seen].path is None and seen not in moved:
        moved.add(seen)
        return seen
    return article.entry_id


def _duplicate(article: Article, owner: Article, ledger: Ledger) -> ArticleError:
    first = ledger.claims.get(owner.entry_id)
    how = "was first published by" if first and first.path == owner.path else "is already used by"
    message = f"the id {quote_value(article.entry_id)} {how} {owner.path}"
    return ArticleError(article.path, message)
