"""A plan to published files: each feed's documents assembled, put into the sink (only what
changed; a document whose source key is unchanged is not even made), documents no longer
planned removed, the pings that change owes kept, and the outcome recorded in the catalog."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from lxml import etree

from feedsvc.assemble import Document, assemble, keep_entries
from feedsvc.catalog.memory import Catalog
from feedsvc.catalog.records import BuildRecord, record_build
from feedsvc.config import Config
from feedsvc.errors import (
    ArticleError,
    EmptyFeedRefused,
    FeedsvcError,
    LintRefused,
    PublishError,
)
from feedsvc.lint import Problem, lint_documents, lint_entries, lint_site
from feedsvc.model import (
    ATOM_TYPE,
    JSON_TYPE,
    Article,
    Artifact,
    ArtifactKind,
    BuildResult,
    Entry,
    Manifest,
)
from feedsvc.notifications import announced_paths, feed_urls, owe, take_back
from feedsvc.outputs.base import Put, Sink
from feedsvc.plan import Plan
from feedsvc.scan import check_cancel

# What a publish removes once no longer planned; subscription feeds are never removed.
REMOVABLE = frozenset({ArtifactKind.ARCHIVE, ArtifactKind.TOPIC})
log = logging.getLogger("feedsvc.publish")


def publish(
    config: Config,
    plan: Plan,
    catalog: Catalog,
    sink: Sink | None,
    *,
    retry: bool = False,
    cancel: threading.Event | None = None,
    allow_empty: bool = False,
    warnings: tuple[str, ...] = (),
    record: bool = True,
    generation: int = 0,
) -> BuildResult:
    """Assemble the plan's feeds and, with a ``sink``, publish them; without one (a check),
    assemble the same documents and write nothing.

    A publish that would take feeds with entries to none raises EmptyFeedRefused unless
    ``allow_empty``; ``cancel`` being set raises BuildCancelled before any feed is written.
    Both leave the published feeds as they were, and so does LintRefused: every document is
    linted as it is made, and a problem ``[lint] refuse`` names refuses the build (a check
    reports it in the result's ``refused``); other problems are warnings. ``retry`` retries
    renders that ran out of their budget (on a rescan). The catalog's ``documents`` remember
    each published document's source key and artifact, so the next publish makes only the
    changed ones.

    Archive pages are put in batches as they are made (see assemble), so memory never holds
    a whole archive; the feeds that link them are put together, last. A reader never meets a
    link to a page not yet published.

    Without ``record`` (a dry run) nothing is written to the state database: no render
    cache, no pings owed, no build record. ``generation`` is the view of the articles the
    plan was made from (see feedsvc.view): a sink shared with other publishers keeps what a
    newer view wrote, and the pings owed for files it then did not write are taken back.
    """
    found: list[str] = list(warnings) + list(plan.warnings)
    rejected: list[ArticleError] = list(plan.rejected)
    published = sink.list() if sink is not None else None
    documents: list[Document] = []
    changed: list[str] = []
    stored: dict[str, Artifact] = {}  # archive pages put while the feeds are assembled
    # Each problem once: a document made again (see assemble) is linted again.
    refused: dict[Problem, None] = {}
    warned: set[Problem] = set()

    def screen(problems: list[Problem]) -> None:
        """Warn of the problems not refused; refuse a build (a check: note) the others."""
        for problem in problems:
            if problem.rule in config.lint.refuse:
                refused[problem] = None
            elif problem not in warned:
                warned.add(problem)
                found.append(str(problem))
        if refused and sink is not None:
            raise LintRefused(sink.locate(""), list(refused))

    def lint(put: Put, entries: Sequence[Entry]) -> list[Problem]:
        """A feed's problems from its bytes; an archive page's from its entries (the same in
        every format: linted once)."""
        if put.kind is not ArtifactKind.ARCHIVE:
            return lint_documents(config, [put])
        if put.media_type != ATOM_TYPE:
            return []
        return lint_entries(put.path, entries)

    def store(pages: list[Put]) -> list[Artifact]:
        assert sink is not None
        check_cancel(cancel)
        changed.extend(sink.put([replace(put, generation=generation) for put in pages]))
        stored.update((put.path, put.artifact()) for put in pages)
        return [put.artifact() for put in pages]

    screen(lint_site(config))
    shown: tuple[Article, ...] = ()
    shown_anywhere: set[Article] = set()
    for index, feed in enumerate(plan.feeds):
        made = assemble(
            config,
            feed,
            catalog,
            retry=retry,
            cancel=cancel,
            published=published,
            store=store if sink is not None else None,
            record=record,
            inspect=lambda put, entries: screen(lint(put, entries)),
        )
        found.extend(made.warnings)
        documents += made.documents
        shown_anywhere.update(made.shown)
        if index == 0:  # the first feed planned is the site's: it holds every due article
            shown = made.shown
            if sink is not None and not shown and not allow_empty:
                check_cancel(cancel)
                _refuse_emptying(sink, made.documents)
    # Failures found in any feed are reported once, after all of them.
    rejected.extend(_site_rejections(catalog, plan))
    keep_entries(catalog, shown_anywhere)
    puts = {
        d.spec.path: Put(
            d.spec.path, d.content, d.spec.media_type, d.spec.kind, generation=generation
        )
        for d in documents
        if d.content is not None
    }
    manifest = Manifest(tuple(_artifact(d, puts) for d in documents))
    if sink is not None:
        check_cancel(cancel)
        owed: list[str] = []

        def owe_pings(paths: list[str]) -> None:
            owed.extend(paths)
            _owe(config, manifest, paths)

        try:
            written = sink.put(list(puts.values()), before_commit=owe_pings if record else None)
        except PublishError as error:
            _take_back(config, manifest, owed, list(error.written))
            done = tuple(dict.fromkeys([*changed, *error.written]))
            error.manifest = Manifest(manifest.artifacts, done)
            raise
        _take_back(config, manifest, owed, written)
        if record and (landed := [path for path in written if path not in owed]):
            _owe(config, manifest, landed)  # written by a put that failed before it heard
        changed += written
        manifest = Manifest(manifest.artifacts, tuple(dict.fromkeys(changed)))
        # An output that missed some of it fails the publish before the catalog remembers
        # the documents as published: the next publish makes them again, and catches it up.
        _finish(sink, manifest)
        known = {**(published or {}), **stored}
        _forget_unplanned(sink, catalog, known, documents, manifest, generation)
        _finish(sink, manifest)
    result = BuildResult(
        entries=len(shown),
        written=tuple(config.feeds.output / path for path in manifest.changed),
        unchanged=tuple(
            config.feeds.output / artifact.path
            for artifact in manifest.artifacts
            if artifact.path not in manifest.changed
        ),
        rejected=tuple(sorted(rejected, key=lambda e: str(e.path))),
        warnings=tuple(found),
        drafts=plan.drafts,
        scheduled=plan.scheduled,
        articles=plan.articles,
        stale=tuple(article.path for article in plan.stale),
        stale_articles=plan.stale,
        shown=shown,
        manifest=manifest,
        refused=tuple(refused),
    )
    if sink is not None and record:
        _record(config, result)
    return result


def _artifact(document: Document, puts: Mapping[str, Put]) -> Artifact:
    """The document as the manifest lists it: as made now, or as published before."""
    put = puts.get(document.spec.path)
    if put is not None:
        return put.artifact()
    assert document.kept is not None  # a document is made anew or kept
    return document.kept


def _site_rejections(catalog: Catalog, plan: Plan) -> list[ArticleError]:
    """The id duplicates among the due articles and every article that cannot be shown."""
    return [*plan.duplicates, *(error for _, error in catalog.failures.values())]


def _forget_unplanned(
    sink: Sink,
    catalog: Catalog,
    published: Mapping[str, Artifact],
    documents: Sequence[Document],
    manifest: Manifest,
    generation: int,
) -> None:
    """Remember each document's key and artifact; remove the archive pages and topic feeds
    published before that are no longer planned (a shorter archive, a tag gone)."""
    planned = {document.spec.path for document in documents}
    known = {path: artifact for path, (_, artifact) in catalog.documents.items()}
    known.update(published)
    catalog.documents.clear()
    catalog.documents.update(
        (d.spec.path, (d.key, artifact))
        for d, artifact in zip(documents, manifest.artifacts, strict=True)
    )
    gone = [
        path
        for path, artifact in known.items()
        if path not in planned and artifact.kind in REMOVABLE
    ]
    if gone:
        sink.delete(gone, generation)


def _owe(config: Config, manifest: Manifest, paths: list[str]) -> None:
    """Keep the pings the files at ``paths`` are about to owe (see notifications.owe)."""
    changed = Manifest(manifest.artifacts, tuple(paths))
    owe(config, feed_urls(config, announced_paths(changed)))


def _finish(sink: Sink, manifest: Manifest) -> None:
    """End the sink's publish; its error carries what the publish did write."""
    try:
        sink.finish()
    except PublishError as error:
        error.manifest = manifest
        raise


def _take_back(config: Config, manifest: Manifest, owed: list[str], written: list[str]) -> None:
    """Forget the pings owed for the files at ``owed`` the sink did not write (another
    publisher did, one with a newer view had, or the write failed), those owed for
    ``written`` kept."""
    not_written = set(owed) - set(written)
    if not not_written:
        return
    announced = set(announced_paths(Manifest(manifest.artifacts, tuple(written))))
    paths = [path for path in announced_paths(manifest, changed_only=False) if path in not_written]
    take_back(config, feed_urls(config, paths), feed_urls(config, announced))


def _record(config: Config, result: BuildResult) -> None:
    """The build, as `feedsvc status` shows it; failing to record is a warning only."""
    record = BuildRecord(
        finished=datetime.now(UTC),
        entries=result.entries,
        articles=result.articles,
        written=tuple(str(path.relative_to(config.feeds.output)) for path in result.written),
        rejected=tuple(str(error) for error in result.rejected),  # independent of the cwd
        manifest=result.manifest,
    )
    try:
        record_build(config.state_path, record)
    except FeedsvcError as error:
        log.warning("cannot record the build: %s", error)


def _refuse_emptying(sink: Sink, documents: Sequence[Document]) -> None:
    """Raise EmptyFeedRefused when a feed about to be written anew still holds entries."""
    for document in documents:
        if document.content is None:
            continue  # unchanged: as empty as it is now
        published = sink.read(document.spec.path)
        if published and _holds_entries(published, document.spec.media_type):
            raise EmptyFeedRefused(sink.locate(document.spec.path))


def _holds_entries(document: bytes, media_type: str) -> bool:
    """True when a published feed document has at least one entry (unreadable: assume so)."""
    try:
        if media_type == JSON_TYPE:
            return bool(json.loads(document).get("items"))
        root = etree.fromstring(document, etree.XMLParser(resolve_entities=False, huge_tree=True))
    except (ValueError, AttributeError, etree.XMLSyntaxError):
        return True
    entry = "{http://www.w3.org/2005/Atom}entry" if media_type == ATOM_TYPE else "channel/item"
    return root.find(entry) is not None
