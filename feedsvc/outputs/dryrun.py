"""A sink that publishes nothing: what a build would put or delete is kept in memory, over
the published files it reads through, so a dry run sees the build it previews (each file
changed only when its digest differs) and the output is never touched."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from feedsvc.model import Artifact
from feedsvc.outputs.base import BeforeCommit, Put, Sink


class DryRunSink:
    """``base``'s files overlaid with this run's changes: ``puts`` (path -> the file a real
    publish would write) and ``deleted`` (path -> the published file it would remove)."""

    def __init__(self, base: Sink) -> None:
        self.base = base
        self.puts: dict[str, Put] = {}
        self.deleted: dict[str, Artifact] = {}
        self._published: Mapping[str, Artifact] | None = None

    def put(self, files: Sequence[Put], before_commit: BeforeCommit | None = None) -> list[str]:
        """Keep each of ``files`` whose digest differs from the visible one; returns their
        paths. ``before_commit`` is never called: nothing is committed, so no ping is owed."""
        del before_commit
        published = self._base_listing()
        written = []
        for put in files:
            visible = self._visible(put.path)
            if visible is not None and visible.digest == put.digest:
                continue
            written.append(put.path)
            self.deleted.pop(put.path, None)
            known = published.get(put.path)
            if known is not None and known.digest == put.digest:
                self.puts.pop(put.path, None)  # made again as published: no change after all
            else:
                self.puts[put.path] = put
        return written

    def delete(self, paths: Sequence[str], generation: int = 0) -> list[str]:
        """Note the files at ``paths`` as removed; returns those that were visible."""
        del generation  # one publisher's own files: no newer view to keep
        published = self._base_listing()
        removed = [path for path in paths if self._visible(path) is not None]
        for path in removed:
            self.puts.pop(path, None)
            if path in published:
                self.deleted[path] = published[path]
        return removed

    def list(self) -> Mapping[str, Artifact]:
        """The base's files less those deleted, with those put."""
        listing = {p: a for p, a in self._base_listing().items() if p not in self.deleted}
        listing.update((path, put.artifact()) for path, put in self.puts.items())
        return listing

    def read(self, path: str) -> bytes | None:
        """The bytes a reader would find at ``path`` after this run."""
        if path in self.puts:
            return self.puts[path].content
        if path in self.deleted:
            return None
        return self.base.read(path)

    def locate(self, path: str) -> str:
        """The base's name for the file."""
        return self.base.locate(path)

    def finish(self) -> None:
        """Nothing to raise: every put and delete raises at once."""

    def _visible(self, path: str) -> Artifact | None:
        if path in self.puts:
            return self.puts[path].artifact()
        if path in self.deleted:
            return None
        return self._base_listing().get(path)

    def _base_listing(self) -> Mapping[str, Artifact]:
        """The base's listing, read once: the files published when the run began."""
        if self._published is None:
            self._published = self.base.list()
        return self._published
