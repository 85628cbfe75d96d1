"""Several outputs as one sink: the local copies first, then the public outputs (the buckets
readers are served from), each given the same files.

A file counts as published only where every output holds it (``list`` is what they all
agree on), so a file an output missed (it was down, or refused) is made again and put by the
next publish, and the outputs that hold it already skip it. A public output that fails takes
no more of that publish (its archive pages missing, it must not get the feeds linking them),
while the local copies take all of it; ``finish`` then raises its error.

The paths ``put`` reports written, and the pings those writes owe, are the public outputs':
with several publishers sharing a bucket, only the one whose write changed an object
announces it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from feedsvc.errors import PublishError
from feedsvc.model import Artifact
from feedsvc.outputs.base import BeforeCommit, Put, Sink

log = logging.getLogger("feedsvc.outputs")


class FanOut:
    """The ``copies`` (written first, never announced) and the ``public`` outputs (at least
    one) as one sink. A copy's failure raises at once; a public output's is kept for
    ``finish`` (see the module docstring)."""

    def __init__(self, copies: Sequence[Sink], public: Sequence[Sink]) -> None:
        if not public:
            raise ValueError("a fan-out needs a public output")
        self.copies = tuple(copies)
        self.public = tuple(public)
        self._failed: dict[int, PublishError] = {}  # public output's index: its error

    def put(self, files: Sequence[Put], before_commit: BeforeCommit | None = None) -> list[str]:
        """Put ``files`` into every output; returns the paths a public output wrote."""
        for copy in self.copies:
            copy.put(files)
        written: set[str] = set()
        for index, output in self._working():
            try:
                written.update(output.put(files, before_commit))
            except PublishError as error:
                self._failed[index] = error
                written.update(error.written)
        return [put.path for put in files if put.path in written]

    def delete(self, paths: Sequence[str], generation: int = 0) -> list[str]:
        """Remove ``paths`` from every output; returns those any of them held."""
        existed: set[str] = set()
        for copy in self.copies:
            existed.update(copy.delete(paths, generation))
        for index, output in self._working():
            try:
                existed.update(output.delete(paths, generation))
            except PublishError as error:
                self._failed[index] = error
        return [path for path in paths if path in existed]

    def finish(self) -> None:
        """Raise the error of the first public output that failed in this publish (the
        others' are logged)."""
        for output in (*self.copies, *self.public):
            output.finish()
        failed, self._failed = [self._failed[i] for i in sorted(self._failed)], {}
        for error in failed[1:]:
            log.error("%s", error)
        if failed:
            raise failed[0]

    def list(self) -> Mapping[str, Artifact]:
        """The files every output holds with the same bytes, as the first public one lists
        them; a publish begins here."""
        self._failed = {}
        first, *others = [output.list() for output in (*self.public, *self.copies)]
        return {
            path: artifact
            for path, artifact in first.items()
            if all(_same(other.get(path), artifact) for other in others)
        }

    def _working(self) -> list[tuple[int, Sink]]:
        """The public outputs that have not failed in this publish, with their indexes."""
        return [(i, output) for i, output in enumerate(self.public) if i not in self._failed]

    def read(self, path: str) -> bytes | None:
        """The bytes readers are served at ``path``: the first public output's."""
        return self.public[0].read(path)

    def locate(self, path: str) -> str:
        """Where readers find ``path``: in the first public output."""
        return self.public[0].locate(path)


def _same(artifact: Artifact | None, other: Artifact) -> bool:
    return artifact is not None and artifact.digest == other.digest
