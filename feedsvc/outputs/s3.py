"""An S3-compatible bucket as a sink: each file an object below a prefix, uploaded only when
its bytes (or headers) changed, with its Content-Type, Cache-Control and SHA-256.

What the bucket holds is told without reading a body: ListObjectsV2 gives every object's ETag
and size, and an index object (``.feedsvc-index.json`` below the prefix, one GET) gives what
feedsvc stored with each ETag it wrote. An object whose listed ETag the index does not know
(another publisher wrote it, or a publish failed before updating the index) is asked about
with a HEAD: the metadata on the object is the truth, the index only saves the HEADs.

Several publishers may share the bucket. Each object carries the generation of the view of
the articles it was made from (see feedsvc.view) and which publisher wrote it. A publisher
never replaces an object a newer view wrote, nor one another publisher wrote from the same
view (their bytes may differ where they cannot agree, such as the moment each first saw an
edit: the first to write wins, and the two never take turns); it leaves it, and does not
report it as written, so it owes no ping for it.

Writes are conditional, so that judgement holds at the moment of the write: a new object with
``If-None-Match: *``, a replacement with ``If-Match`` on the ETag this sink saw. When the
precondition fails, the object is looked at again: already holding the same bytes, it is no
conflict (both publishers made the same file) and is not reported as written, unless it carries
this put's own writer token (its response was lost and the retried request found its own
write); one to keep (above) is left; else the write is tried again on the new ETag.

S3 has no multi-object transaction, so a put's changes are visible "together" only in this
sense: ``before_commit`` hears them all before the first upload, archive pages go up before
the feeds that link to them, and a failure part way leaves every object whole (old or new),
the rest caught up by the next put.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

from botocore.client import BaseClient
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from feedsvc.errors import PublishError
from feedsvc.model import Artifact, ArtifactKind
from feedsvc.outputs.base import BeforeCommit, Put, check_path

INDEX_NAME = ".feedsvc-index.json"
INDEX_VERSION = 1
IMMUTABLE = "public, max-age=31536000, immutable"
# Requests in flight at once (HEADs of unknown objects, uploads of one kind): botocore's
# connection pool holds 10.
WORKERS = 8
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
CREDENTIAL_ERRORS = frozenset(
    {
        "AccessDenied",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
    }
)
CONFLICTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
# Writes of one object tried again after a failed precondition before giving up: each retry
# follows another publisher's write of the same object.
CONFLICT_RETRIES = 5
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _Stored:
    """One object as the bucket holds it: its ETag, and what feedsvc stored with it (None
    for an object feedsvc did not write)."""

    etag: str
    artifact: Artifact | None = None
    cache_control: str = ""
    generation: int = 0  # the view it was made from (see Put.generation)
    publisher: str = ""  # who wrote it ("": unknown)


class S3Sink:
    """The objects below ``prefix`` in ``bucket`` (see the module docstring); ``client`` is a
    boto3 S3 client, whose retry settings say how failures are retried; ``publisher`` names
    this publisher to the others sharing the bucket (stable across its restarts)."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: BaseClient,
        *,
        max_age_s: int = 300,
        publisher: str = "",
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.max_age_s = max_age_s
        self.publisher = publisher
        # The bucket as last listed, updated by this sink's own writes: the ETags its
        # conditional writes expect.
        self._stored: dict[str, _Stored] | None = None
        # The paths whose upload by a failed put got no answer, with that put's writer token
        # (which the object carries if the upload landed nonetheless).
        self._unanswered: dict[str, str] = {}

    def put(self, files: Sequence[Put], before_commit: BeforeCommit | None = None) -> list[str]:
        """Upload each of ``files`` whose bytes or headers differ from the stored ones,
        archive pages first; returns the paths written, in the order given, with those of
        ``files`` whose upload by a failed put got no answer yet landed (the object carries
        that put's writer token): their change is still this sink's to report.

        A PublishError names the object and the cause: the store unreachable or failing
        after the client's retries, credentials refused, or another publisher having
        changed the object since this sink listed the bucket.
        """
        for put in files:
            check_path(put.path)
        stored = self._known()
        changes = [
            put
            for put in files
            if not self._holds(stored.get(put.path), put)
            and not self._keeps(stored.get(put.path), put)
        ]
        landed = self._landed({put.path for put in files})
        if not changes:
            return [put.path for put in files if put.path in landed]
        if before_commit is not None:
            before_commit([put.path for put in changes])
        token = uuid.uuid4().hex
        archives = [put for put in changes if put.kind is ArtifactKind.ARCHIVE]
        others = [put for put in changes if put.kind is not ArtifactKind.ARCHIVE]
        written: set[str] = set()  # added to by the upload threads, as each write lands

        def upload(put: Put) -> None:
            if self._upload(put, token):
                written.add(put.path)

        try:
            for group in (archives, others):
                _in_parallel(upload, group)
            self._write_index()
        except PublishError as error:
            error.written = tuple(put.path for put in changes if put.path in written)
            self._unanswered.update((p.path, token) for p in changes if p.path not in written)
            raise
        return [put.path for put in files if put.path in written or put.path in landed]

    def delete(self, paths: Sequence[str], generation: int = 0) -> list[str]:
        """Remove the objects at ``paths`` but those a view newer than ``generation`` wrote;
        returns those removed that the bucket held."""
        for path in paths:
            check_path(path)
        stored = self._known()
        paths = [path for path in paths if not self._keeps(stored.get(path), generation)]
        existed = [path for path in paths if path in stored]
        for start in range(0, len(paths), DELETE_BATCH):
            batch = paths[start : start + DELETE_BATCH]
            objects = [{"Key": self._key(path)} for path in batch]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._failure(batch[0], "cannot delete", exc) from exc
            for error in response.get("Errors", ()):
                path = error["Key"][len(self._key("")) :]
                raise PublishError(self.locate(path), f"cannot delete: {error.get('Code')}")
        for path in paths:
            stored.pop(path, None)
        if existed:
            self._write_index()
        return existed

    def list(self) -> Mapping[str, Artifact]:
        """The objects feedsvc wrote below the prefix, by path (a LIST per 1000 objects, a GET
        of the index, a HEAD per object the index does not know)."""
        self._stored = self._scan()
        return {p: s.artifact for p, s in self._stored.items() if s.artifact is not None}

    def read(self, path: str) -> bytes | None:
        """The bytes of the object at ``path``; None when there is none."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure(path, "cannot read", exc) from exc
        except BotoCoreError as exc:
            raise self._failure(path, "cannot read", exc) from exc

    def locate(self, path: str) -> str:
        """The object's URL: ``s3://bucket/prefix/path``."""
        return f"s3://{self.bucket}/{self._key(path)}"

    def finish(self) -> None:
        """Nothing to raise: every put and delete raises at once."""

    def cache_control(self, put: Put) -> str:
        """The Cache-Control ``put`` is stored with: for good for a full archive page,
        ``max_age_s`` for everything else."""
        return IMMUTABLE if put.immutable else f"max-age={self.max_age_s}"

    def _holds(self, stored: _Stored | None, put: Put) -> bool:
        """True when the object at ``put.path`` already is ``put``, with its headers."""
        return (
            stored is not None
            and stored.artifact == put.artifact()
            and stored.cache_control == self.cache_control(put)
        )

    def _landed(self, given: set[str]) -> set[str]:
        """The paths among ``given`` whose upload by a failed put got no answer yet landed
        (a HEAD each, only after a failure)."""
        paths = [path for path in self._unanswered if path in given]
        heads = _in_parallel(self._head, paths)
        tokens = [self._unanswered.pop(path) for path in paths]
        return {
            path
            for path, head, token in zip(paths, heads, tokens, strict=True)
            if head is not None and head[1] == token
        }

    def _keeps(self, stored: _Stored | None, view: Put | int) -> bool:
        """True when the object ``stored`` is to stay rather than be replaced (or removed) by
        a publish from the view ``view`` (a Put's, or a generation): a newer view wrote it, or
        another publisher from the same view."""
        generation = view.generation if isinstance(view, Put) else view
        if stored is None or stored.generation < generation:
            return False
        return stored.generation > generation or stored.publisher not in ("", self.publisher)

    def _known(self) -> dict[str, _Stored]:
        if self._stored is None:
            self.list()
        assert self._stored is not None
        return self._stored

    def _upload(self, put: Put, token: str) -> bool:
        """Store ``put`` on the condition that the object is as this sink last saw it;
        returns whether this put wrote it (False: another publisher stored the same bytes, or
        a newer view's)."""
        known = self._known().get(put.path)
        for _ in range(CONFLICT_RETRIES):
            try:
                self._send(put, token, known)
                return True
            except ClientError as exc:
                gone = known is not None and _code(exc) in ("NoSuchKey", "404")
                if _code(exc) not in CONFLICTS and not gone:
                    raise self._failure(put.path, "cannot upload", exc) from exc
            except BotoCoreError as exc:
                raise self._failure(put.path, "cannot upload", exc) from exc
            current = self._head(put.path)
            if current is None:
                known = None  # deleted since: created anew
                continue
            known, writer = current
            if self._holds(known, put) or self._keeps(known, put):
                # One key per upload: assigning it from a worker thread is safe.
                self._known()[put.path] = known
                return writer == token
        raise PublishError(
            self.locate(put.path),
            f"not written: other publishers changed it {CONFLICT_RETRIES} times in a row",
        )

    def _send(self, put: Put, token: str, known: _Stored | None) -> None:
        """One conditional PutObject of ``put`` over the object ``known`` (None: none)."""
        condition = {"IfMatch": known.etag} if known is not None else {"IfNoneMatch": "*"}
        cache_control = self.cache_control(put)
        metadata = {
            "sha256": put.digest,
            "kind": put.kind.value,
            "generation": str(put.generation),
            "publisher": self.publisher,
            "writer": token,
        }
        response = self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(put.path),
            Body=put.content,
            ContentType=f"{put.media_type}; charset=utf-8",  # served as is: readers want it
            CacheControl=cache_control,
            ContentMD5=_md5(put.content),
            Metadata=metadata,
            **condition,
        )
        self._known()[put.path] = _Stored(
            response["ETag"], put.artifact(), cache_control, put.generation, self.publisher
        )

    def _scan(self) -> dict[str, _Stored]:
        """Every object below the prefix, by path, each with its ETag and, for those feedsvc
        wrote, its artifact (from the index where it knows the ETag, else a HEAD)."""
        listed: dict[str, tuple[str, int]] = {}
        start = self._key("")
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    listed[item["Key"][len(start) :]] = (item["ETag"], item["Size"])
        except (BotoCoreError, ClientError) as exc:
            raise self._failure("", "cannot list", exc) from exc
        index = self._read_index() if INDEX_NAME in listed else {}
        listed.pop(INDEX_NAME, None)
        stored: dict[str, _Stored] = {}
        unknown: list[str] = []
        for path, (etag, size) in listed.items():
            entry = index.get(path)
            if entry is not None and entry.etag == etag and entry.artifact is not None:
                artifact = replace(entry.artifact, size=size)  # the index keeps no sizes
                stored[path] = replace(entry, artifact=artifact)
            else:
                unknown.append(path)
        for path, head in zip(unknown, _in_parallel(self._head, unknown), strict=True):
            if head is not None:
                stored[path] = head[0]
        return stored

    def _head(self, path: str) -> tuple[_Stored, str] | None:
        """The object at ``path`` as its own headers tell, and the token of the put that
        wrote it; None when there is none."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._failure(path, "cannot read the metadata", exc) from exc
        except BotoCoreError as exc:
            raise self._failure(path, "cannot read the metadata", exc) from exc
        metadata = head.get("Metadata", {})
        artifact = None
        try:
            kind = ArtifactKind(metadata.get("kind", ""))
            digest = metadata["sha256"]
            media_type = head["ContentType"].partition(";")[0].strip()
            artifact = Artifact(path, media_type, kind, digest, head["ContentLength"])
        except (KeyError, ValueError):  # not an object feedsvc wrote: replaced when put
            pass
        generation = _number(metadata.get("generation"))
        cache_control = head.get("CacheControl", "")
        publisher = metadata.get("publisher", "")
        stored = _Stored(head["ETag"], artifact, cache_control, generation, publisher)
        return stored, metadata.get("writer", "")

    def _read_index(self) -> dict[str, _Stored]:
        """The index's entries, by path; none when it cannot be read (each object is then
        asked about with a HEAD, and the next put writes the index anew)."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(INDEX_NAME))
            document = json.loads(body["Body"].read())
            if document.get("version") != INDEX_VERSION:
                return {}
            return {
                path: _Stored(
                    entry["etag"],
                    Artifact(
                        path, entry["media_type"], ArtifactKind(entry["kind"]), entry["sha256"], 0
                    ),
                    entry["cache_control"],
                    _number(entry.get("generation")),
                    str(entry.get("publisher", "")),
                )
                for path, entry in document["objects"].items()
            }
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return {}
            raise self._failure(INDEX_NAME, "cannot read the index", exc) from exc
        except BotoCoreError as exc:
            raise self._failure(INDEX_NAME, "cannot read the index", exc) from exc
        except (ValueError, KeyError, TypeError, AttributeError):
            return {}

    def _write_index(self) -> None:
        """Replace the index with what this sink knows of the objects feedsvc wrote.

        Unconditionally: it is only a cache of what the objects' own metadata says, so an
        index another publisher overwrites costs a HEAD per object it no longer lists.
        """
        objects = {
            path: {
                "etag": stored.etag,
                "sha256": stored.artifact.digest,
                "media_type": stored.artifact.media_type,
                "kind": stored.artifact.kind.value,
                "cache_control": stored.cache_control,
                "generation": stored.generation,
                "publisher": stored.publisher,
            }
            for path, stored in sorted(self._known().items())
            if stored.artifact is not None
        }
        document = {"version": INDEX_VERSION, "objects": objects}
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(INDEX_NAME),
                Body=json.dumps(document, sort_keys=True, separators=(",", ":")).encode(),
                ContentType="application/json",
                CacheControl="no-store",
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._failure(INDEX_NAME, "cannot write the index", exc) from exc

    def _key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _failure(self, path: str, action: str, exc: Exception) -> PublishError:
        """A PublishError naming the object and, in a reader's words, why."""
        return PublishError(self.locate(path), f"{action} ({_reason(exc)})")


def _reason(exc: Exception) -> str:
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials: set them in the environment, a shared config or a role"
    if isinstance(exc, ConnectionError | HTTPClientError):
        return "the store cannot be reached or did not answer, after retries"
    if isinstance(exc, ClientError):
        code = _code(exc)
        if code in CREDENTIAL_ERRORS:
            return "the store refused the credentials"
        if code == "NoSuchBucket":
            return "no such bucket"
        if code in ("SlowDown", "Throttling", "ThrottlingException", "TooManyRequests"):
            return "the store kept throttling, after retries"
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            return "the store kept failing, after retries"
    return "the store refused the request"


def _number(text: object) -> int:
    """A generation as metadata or the index spells it; 0 when missing or not a number."""
    try:
        return max(0, int(str(text)))
    except ValueError:
        return 0


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _md5(content: bytes) -> str:
    """Content-MD5: the store refuses a body damaged on the way."""
    return base64.b64encode(hashlib.md5(content, usedforsecurity=False).digest()).decode()


def _in_parallel(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``function`` of each item, on up to WORKERS threads, results in order; the first
    failure cancels the calls not yet started and is raised."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(WORKERS, len(items))) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
