"""The drift guard: what a build would change of what readers have already seen, and whether
that is more than a build may change without ``--accept-changes``.

Two changes are refused: an entry readers hold coming back under another id (they would show
it twice), and more entries removed than ``[guard]`` allows (a share unmounted, a checkout
gone wrong). Everything else a build does is an ordinary day's publishing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from feedsvc.config import GuardConfig
from feedsvc.errors import display_path, quote_value
from feedsvc.ledger import Claim, Ledger
from feedsvc.model import Article

SHOWN = 50  # entries a refusal names one by one; `feedsvc diff` lists them all


@dataclass(frozen=True)
class IdChange:
    """A published entry that a build would publish again under another id."""

    claim: Claim
    article: Article
    why: str


@dataclass(frozen=True)
class Drift:
    """What a build would change of the published entries: those it would remove, those it
    would give another id, and how many were published."""

    removed: tuple[Claim, ...] = ()
    id_changes: tuple[IdChange, ...] = ()
    published: int = 0

    def allowed_removals(self, guard: GuardConfig) -> int:
        """How many removals a build may make unasked."""
        share = math.floor(self.published * guard.max_removed_percent / 100)
        return max(guard.max_removed, share)

    def refusal(self, guard: GuardConfig) -> str | None:
        """Why a build making this drift is refused, entry by entry; None when it is not."""
        too_many = len(self.removed) > self.allowed_removals(guard)
        if not self.id_changes and not too_many:
            return None
        lines: list[str] = []
        if self.id_changes:
            lines.append(f"{len(self.id_changes)} published entries would change their ids:")
            lines += [_id_change(change) for change in self.id_changes[:SHOWN]]
            lines += _more(len(self.id_changes))
        if too_many:
            lines.append(
                f"{len(self.removed)} of {self.published} published entries would be removed,"
                f" more than the {self.allowed_removals(guard)} allowed ([guard] max_removed,"
                " max_removed_percent):"
            )
            lines += [f"  {_claimed(gone)}" for gone in self.removed[:SHOWN]]
            lines += _more(len(self.removed))
        return "\n".join(lines)


def drift(ledger: Ledger, owners: Sequence[Article]) -> Drift:
    """The drift of publishing ``owners`` (the articles that own their ids) over the ledger."""
    published = len(ledger.live_ids)
    gone = sorted(ledger.live_ids.difference(article.entry_id for article in owners))
    if not gone:
        return Drift(published=published)
    newcomers = [article for article in owners if article.entry_id not in ledger.claims]
    by_path = {article.path: article for article in newcomers}
    by_link = {article.link: article for article in newcomers}
    by_title = {article.title.casefold(): article for article in newcomers}
    removed: list[Claim] = []
    changes: list[IdChange] = []
    for claimed in map(ledger.claims.__getitem__, gone):
        if claimed.path is not None and (same := by_path.get(claimed.path)) is not None:
            changes.append(IdChange(claimed, same, "its front matter gives it another id"))
        elif (same := by_link.get(claimed.link)) is not None:
            changes.append(IdChange(claimed, same, "an article with its link has another id"))
        elif (same := by_title.get(claimed.title.casefold())) is not None:
            why = "an article with its title has another id (renamed and edited at once?)"
            changes.append(IdChange(claimed, same, why))
        else:
            removed.append(claimed)
    return Drift(tuple(removed), tuple(changes), published)


def _id_change(change: IdChange) -> str:
    return (
        f"  {_claimed(change.claim)}\n    would become {quote_value(change.article.entry_id)}"
        f" ({display_path(change.article.path)}): {change.why}"
    )


def _claimed(claimed: Claim) -> str:
    where = display_path(claimed.path) if claimed.path is not None else claimed.link
    return f"{quote_value(claimed.entry_id)} {quote_value(claimed.title)} ({where})"


def _more(count: int) -> list[str]:
    if count <= SHOWN:
        return []
    return [f"  … and {count - SHOWN} more (`feedsvc diff` lists them all)"]
