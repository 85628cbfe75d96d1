"""A sink in memory: the contract of every sink without a disk or a network, for tests and
for building without publishing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from feedsvc.model import Artifact
from feedsvc.outputs.base import BeforeCommit, Put


class MemorySink:
    """Files held in a dict; a put's changes appear together, after ``before_commit``."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self._artifacts: dict[str, Artifact] = {}
        self.puts = 0  # stores made, to show that unchanged files cost none

    def put(self, files: Sequence[Put], before_commit: BeforeCommit | None = None) -> list[str]:
        """Store each of ``files`` whose digest differs from the stored one."""
        changes = [
            put
            for put in files
            if (known := self._artifacts.get(put.path)) is None or known.digest != put.digest
        ]
        written = [put.path for put in changes]
        if before_commit is not None:
            before_commit(written)
        for put in changes:
            self.files[put.path] = put.content
            self._artifacts[put.path] = put.artifact()
            self.puts += 1
        return written

    def delete(self, paths: Sequence[str], generation: int = 0) -> list[str]:
        """Forget the files at ``paths``; returns those that were held."""
        del generation  # one publisher's own files: no newer view to keep
        removed = [path for path in paths if path in self.files]
        for path in removed:
            del self.files[path]
            del self._artifacts[path]
        return removed

    def list(self) -> Mapping[str, Artifact]:
        """The files held, by path."""
        return dict(self._artifacts)

    def read(self, path: str) -> bytes | None:
        """The bytes held at ``path``."""
        return self.files.get(path)

    def locate(self, path: str) -> str:
        """The file's name, marked as held in memory."""
        return f"memory:{path}"

    def finish(self) -> None:
        """Nothing to raise: every put and delete raises at once."""
