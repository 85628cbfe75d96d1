"""A dry run: the build that would run now, into a sink that keeps what it is given over the
published files, recording nothing; then each document it would write or delete, compared
with what is published (see diff). Nothing is written: not the output, not the state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.diff import DocumentChange, FeedDiff, diff_build
from feedsvc.model import ArtifactKind, BuildResult
from feedsvc.outputs.dryrun import DryRunSink
from feedsvc.outputs.targets import outputs
from feedsvc.plan import plan_build
from feedsvc.scan import Progress


@dataclass(frozen=True)
class Preview:
    """What a build would do: its result (rejections, warnings) and each document it would
    change, subscription feeds first, then in the order the build makes them; deletions last."""

    result: BuildResult
    diffs: tuple[FeedDiff, ...]

    @property
    def changed(self) -> bool:
        """True when the build would write or delete any file."""
        return bool(self.diffs)


def preview(
    config: Config,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    allow_empty: bool = False,
) -> Preview:
    """Run the build ``build`` would run at ``now`` without writing anything, and compare what
    it would publish with what is published. Raises as that build would (an unusable articles
    directory, a refused emptying: see build)."""
    now = now or datetime.now(UTC)
    catalog = Catalog(config)
    published = outputs(config)
    sink = DryRunSink(published)
    result = build(
        config,
        now=now,
        catalog=catalog,
        sink=sink,
        progress=progress,
        allow_empty=allow_empty,
        record=False,
    )
    order = {artifact.path: index for index, artifact in enumerate(result.manifest.artifacts)}
    written = sorted(
        sink.puts.values(),
        key=lambda put: (put.kind is not ArtifactKind.SUBSCRIPTION, order.get(put.path, 0)),
    )
    changes = [
        DocumentChange(put.path, put.media_type, published.read(put.path), put.content)
        for put in written
    ]
    changes += [
        DocumentChange(path, artifact.media_type, published.read(path), None)
        for path, artifact in sorted(sink.deleted.items())
    ]
    return Preview(result, diff_build(changes, _due_ids(catalog, now)))


def _due_ids(catalog: Catalog, now: datetime) -> frozenset[str]:
    """The ids of the articles the build found due (its plan, made again from the outcomes
    its scan left in ``catalog``): an entry of one of them that leaves a feed aged out."""
    outcomes = [catalog.parsed[path] for path in catalog.files or ()]
    site = plan_build(catalog.config, outcomes, now, catalog.ledger, catalog.parsed).feeds[0]
    return frozenset(article.entry_id for article in site.articles)
