"""The sink interface every output implements, and the manifest's serialised form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from feedsvc.errors import PublishError
from feedsvc.model import Artifact, ArtifactKind, Manifest

MANIFEST_VERSION = 1
# Told which paths are about to change, once their new bytes are safely stored and before
# any is visible: what it records (pings owed) survives a kill at any moment after.
BeforeCommit = Callable[[list[str]], None]


@dataclass(frozen=True)
class Put:
    """One file to publish: its path below the sink's root, bytes and media type."""

    path: str
    content: bytes
    media_type: str
    kind: ArtifactKind = ArtifactKind.SUBSCRIPTION
    # A full RFC 5005 archive page: its bytes stay while its articles do, so a cache may keep
    # it for good (an object store marks it immutable); never the newest, partial page.
    immutable: bool = False
    # How new the view of the articles it was made from is (see feedsvc.view): a sink shared
    # by several publishers keeps what a newer view wrote. 0: unknown, the oldest.
    generation: int = 0

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the bytes, hexadecimal: what a sink stores to tell a change (computed
        once: the manifest, the sink's comparison and its index all ask)."""
        return hashlib.sha256(self.content).hexdigest()

    def artifact(self) -> Artifact:
        """This file as a manifest lists it."""
        return Artifact(self.path, self.media_type, self.kind, self.digest, len(self.content))


class Sink(Protocol):
    """An output: files are put only when their bytes changed, judged by a stored digest (never
    by reading the file back), and a publish's changes become visible together."""

    def put(self, files: Sequence[Put], before_commit: BeforeCommit | None = None) -> list[str]:
        """Store each of ``files`` whose digest differs from the stored one; returns the paths
        written, in the order given. ``before_commit`` hears them before any is visible."""
        ...

    def delete(self, paths: Sequence[str], generation: int = 0) -> list[str]:
        """Remove the files at ``paths``; returns those that existed. ``generation`` is the
        view the removal comes from (see Put.generation)."""
        ...

    def list(self) -> Mapping[str, Artifact]:
        """What the sink holds, by path, as its stored digests say."""
        ...

    def read(self, path: str) -> bytes | None:
        """The bytes published at ``path``; None when there are none."""
        ...

    def locate(self, path: str) -> str:
        """How messages name the file at ``path``."""
        ...

    def finish(self) -> None:
        """End a publish (begun by ``list``): raise the PublishError of what a put or delete
        could not store yet went on without (see FanOut); nothing for a sink that raises at
        once."""
        ...


def check_path(path: str) -> None:
    """A path below a sink's root, '/'-separated, that no reader could take for another (dot
    names are left to the sink's own index)."""
    parts = path.split("/")
    if path.startswith("/") or any(
        part in ("", ".", "..") or part.startswith(".") for part in parts
    ):
        raise PublishError(path, "not a path a sink can publish at")


def manifest_to_json(manifest: Manifest) -> bytes:
    """The manifest as deterministic JSON bytes (the same manifest, the same bytes)."""
    return document_to_json(manifest_to_dict(manifest))


def document_to_json(document: Mapping[str, object]) -> bytes:
    """A JSON document as deterministic bytes."""
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("ascii")


def manifest_to_dict(manifest: Manifest) -> dict[str, object]:
    """The manifest as plain JSON data."""
    return {
        "version": MANIFEST_VERSION,
        "artifacts": [
            {
                "path": a.path,
                "media_type": a.media_type,
                "kind": a.kind.value,
                "sha256": a.digest,
                "size": a.size,
            }
            for a in manifest.artifacts
        ],
        "changed": list(manifest.changed),
    }


def manifest_from_json(data: bytes) -> Manifest:
    """The manifest ``manifest_to_json`` wrote; ValueError when it is not one."""
    return manifest_from_dict(json.loads(data))


def manifest_from_dict(document: Mapping[str, object]) -> Manifest:
    """The manifest ``manifest_to_dict`` made; ValueError when it is not one."""
    try:
        if document.get("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest version {document.get('version')!r}")
        artifacts = tuple(
            Artifact(
                path=item["path"],
                media_type=item["media_type"],
                kind=ArtifactKind(item["kind"]),
                digest=item["sha256"],
                size=int(item["size"]),
            )
            for item in document["artifacts"]
        )
        return Manifest(artifacts, tuple(document.get("changed", ())))
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError("not a feedsvc manifest") from exc
