"""One build, the CLI's and the daemon's single entry: scan the articles, plan the feeds,
publish them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from feedsvc.catalog.cache import persist, persist_documents, persist_entries, warm
from feedsvc.catalog.claims import persist_ledger, refresh_ledger
from feedsvc.catalog.memory import Catalog
from feedsvc.catalog.records import record_build_failure
from feedsvc.config import Config
from feedsvc.errors import BuildCancelled, DriftRefused, FeedsvcError, display_path
from feedsvc.model import BuildResult
from feedsvc.outputs.base import Sink
from feedsvc.outputs.targets import outputs
from feedsvc.plan import plan_build
from feedsvc.publish import publish
from feedsvc.scan import Progress, scan
from feedsvc.view import generation, went

log = logging.getLogger("feedsvc.build")


def build(
    config: Config,
    *,
    now: datetime | None = None,
    catalog: Catalog | None = None,
    sink: Sink | None = None,
    write: bool = True,
    progress: Progress | None = None,
    changed: Collection[Path] | None = None,
    cancel: threading.Event | None = None,
    allow_empty: bool = False,
    accept_changes: bool = False,
    record: bool = True,
) -> BuildResult:
    """Read the articles, publish the ones due by ``now``, and write the feeds that changed
    (into ``sink``, by default every output ``[outputs]`` lists; with ``write`` false, only
    check: the same documents are assembled and nothing is written or recorded).

    ``catalog`` carries what earlier builds learned (see scan). Rejected articles are
    reported in the result, never raised. An unusable articles or output directory, or a
    build that would empty published feeds (unless ``allow_empty``) or that the drift guard
    refuses (an id of a published entry changed, too many removed; unless
    ``accept_changes``), raises, leaves the published feeds as they were, and is recorded as
    the last failure; so does ``cancel`` being set (BuildCancelled), which is not recorded.
    Without ``record`` (a dry run, into a sink that keeps what it is given) the state database
    is read without a trace and nothing is written to it, not even a failure; a drift the
    guard would refuse is then only reported (``refusal``).
    """
    now = now or datetime.now(UTC)
    if catalog is None:
        catalog = Catalog(config)
    catalog.adopt(config)
    if write and sink is None:
        sink = outputs(config)
    try:
        warnings = _state_gone(catalog, sink) if write else []
        warnings += warm(catalog, read_only=not record)
        warnings += refresh_ledger(catalog, sink, read_only=not record)
        found = scan(catalog, changed=changed, progress=progress, cancel=cancel)
        gone = went(catalog) if config.outputs.s3 else []
        if write and record:
            warnings += persist(catalog)
        plan = plan_build(config, found.outcomes, now, catalog.ledger, catalog.parsed)
        refusal = plan.drift.refusal(config.guard)
        if write and record and refusal and not accept_changes:
            raise _refused(config, refusal)
        # Only a bucket other publishers may share needs to know how new this view is.
        view = generation(catalog, gone, plan.feeds[0].articles) if config.outputs.s3 else 0
        result = publish(
            config,
            plan,
            catalog,
            sink if write else None,
            retry=found.rescan,
            cancel=cancel,
            allow_empty=allow_empty or accept_changes,
            warnings=(*warnings, *found.warnings),
            record=record,
            generation=view,
        )
        if write and record:
            unsaved = persist_entries(catalog) + persist_documents(catalog)
            unsaved += persist_ledger(catalog, plan.feeds[0].articles)
            result = replace(result, warnings=(*result.warnings, *unsaved))
        return replace(result, refusal=refusal)
    except BuildCancelled:
        raise
    except Exception as exc:
        if write and record:
            _record_failure(config, exc)
        raise


def _state_gone(catalog: Catalog, sink: Sink | None) -> list[str]:
    """A warning when feeds were published but the state database is gone (deleted, or a
    new state directory): it is rebuilt from the articles, and edit times start afresh."""
    path = catalog.config.state_path
    if catalog.cached or path.exists() or sink is None or not sink.list():
        return []
    return [
        f"no state database at {display_path(path)} though feeds were published: every"
        " article is read again, and the times edits were first seen start afresh"
    ]


def _refused(config: Config, refusal: str) -> DriftRefused:
    message = (
        f"refusing to publish what readers would see as changed:\n{refusal}\nthe published"
        " feeds are kept; `feedsvc diff` shows the whole change; `feedsvc build"
        " --accept-changes` publishes it on purpose (an article can keep its old id with"
        " `id:` in its front matter)"
    )
    return DriftRefused(display_path(config.feeds.output), message)


def _record_failure(config: Config, exc: Exception) -> None:
    """The failed build, for `feedsvc status`; failing to record it is a warning only."""
    error = str(exc) if isinstance(exc, FeedsvcError) else repr(exc)
    try:
        record_build_failure(config.state_path, error, datetime.now(UTC))
    except FeedsvcError as failure:
        log.warning("cannot record the build: %s", failure)
