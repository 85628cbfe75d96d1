"""The domain types every stage speaks in: plain, frozen data."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from feedsvc.errors import ArticleError
from feedsvc.fingerprint import content_fingerprint

if TYPE_CHECKING:
    from feedsvc.lint import Problem

RawDate = str | date | datetime
# (size, mtime in ns, inode): a file whose key is unchanged need not be read again.
FileKey = tuple[int, int, int]
NO_KEY: FileKey = (-1, -1, -1)  # a version that must be read again next time


def file_key(status: os.stat_result) -> FileKey:
    """The key of the file version a ``stat`` or ``fstat`` describes."""
    return (status.st_size, status.st_mtime_ns, status.st_ino)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
JSON_TYPE = "application/feed+json"


class ArtifactKind(StrEnum):
    """What a published document is to its readers."""

    SUBSCRIPTION = "subscription"  # the feed readers subscribe to: the newest entries
    ARCHIVE = "archive"  # an RFC 5005 archive page (issue 9)
    TOPIC = "topic"  # a feed of one tag or author (issue 9)


@dataclass(frozen=True)
class FeedSpec:
    """One file the plan says to publish: its path below the output, its format, its kind."""

    path: str  # '/'-separated, relative to the output root: "rss.xml", "tags/x/atom.xml"
    format: str  # a name of feedsvc.formats: "rss", "atom", "json"
    media_type: str
    kind: ArtifactKind = ArtifactKind.SUBSCRIPTION


@dataclass(frozen=True)
class Artifact:
    """One file a publish produced: where, of what type and kind, and its bytes' digest."""

    path: str
    media_type: str
    kind: ArtifactKind
    digest: str  # SHA-256 of the bytes, hexadecimal
    size: int


@dataclass(frozen=True)
class Manifest:
    """Every file a publish produced, in plan order, and the paths whose bytes it changed.

    ``serve``, ``ping`` and ``status`` read this list, never a constant.
    """

    artifacts: tuple[Artifact, ...] = ()
    changed: tuple[str, ...] = ()

    def find(self, path: str) -> Artifact | None:
        """The artifact published at ``path``, if any."""
        return next((a for a in self.artifacts if a.path == path), None)

    def of_kind(self, kind: ArtifactKind) -> tuple[Artifact, ...]:
        """The artifacts of one kind, in plan order."""
        return tuple(a for a in self.artifacts if a.kind is kind)


@dataclass(frozen=True)
class Notification:
    """One message a change owes: to a WebSub hub about a feed, or to a weblogUpdates ping
    service about the site (``topic`` is then the feed it names)."""

    kind: Literal["websub", "xmlrpc"]
    endpoint: str
    topic: str


@dataclass(frozen=True)
class PingOutcome:
    """How a notification finally ended: delivered or not, after how many attempts, and why."""

    notification: Notification
    ok: bool
    attempts: int
    detail: str
    finished: datetime


@dataclass(frozen=True)
class Source:
    """What an article file says, split into fields but not yet understood."""

    path: Path
    slug: str
    title: str | None
    title_line: int
    body: str
    published: RawDate | None
    published_line: int | None = None
    updated: RawDate | None = None
    updated_line: int | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    entry_id: str | None = None
    link: str | None = None
    draft: bool = False
    minor_edit: bool = False  # this version's edit is not one readers need to see again
    warnings: tuple[str, ...] = ()
    key: FileKey = NO_KEY  # from the fstat of the descriptor the text was read through
    digest: bytes = b""  # SHA-256 of the file's bytes: a rescan compares content, not stat

    @cached_property
    def fingerprint(self) -> bytes:
        """SHA-256 of the title, body and summary as feedsvc.fingerprint folds them: an edit
        of whitespace or typography alone leaves it as it was. Worked out once, when first
        asked for (only a parse does; the renders that read the body again never do)."""
        return content_fingerprint(self.title, self.body, self.summary)


@dataclass(frozen=True)
class Article:
    """An article with its metadata understood: dates zoned, title clean, identity fixed.

    The body stays in its file (``digest`` names the version): it is read again, and
    rendered, only for the articles a feed shows, so a large archive is not held in memory.
    """

    path: Path
    slug: str
    entry_id: str
    link: str
    title: str
    published: datetime
    updated: datetime
    digest: bytes  # SHA-256 of the file's bytes: this version's identity
    fingerprint: bytes = b""  # its Source's: the same across whitespace or typography edits
    summary: str | None = None
    tags: tuple[str, ...] = ()
    author: str | None = None
    draft: bool = False
    own_id: bool = False  # the id is the article's own (front matter), not one made for it

    def __hash__(self) -> int:
        # Articles key the catalog's dicts and sets by the thousand, each build: hashing
        # every field each time (the dataclass default) cost more than the rest of a
        # one-file rebuild. Equal articles agree on these fields, so on this hash.
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.path, self.entry_id, self.digest, self.published, self.updated))

    @cached_property
    def chronology(self) -> tuple[int, int, str]:
        """Its place in feeds and archives: (published, updated, entry_id), the dates as
        exact microseconds since 1970 (integers compare faster than zoned datetimes)."""
        return (_microseconds(self.published), _microseconds(self.updated), self.entry_id)

    @cached_property
    def version(self) -> str:
        """This version as its entries show it: its path, id and dates, and its content (the
        file's digest, which with the configuration determines every other field)."""
        return (
            f"{self.path}\x1f{self.entry_id}\x1f{self.published.isoformat()}"
            f"\x1f{self.updated.isoformat()}\x1f{self.digest.hex()}"
        )

    def __getstate__(self) -> dict[str, object]:
        # What cached_property computed stays behind (str hashes differ between processes).
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _microseconds(moment: datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


@dataclass(frozen=True)
class Parsed:
    """One file's outcome, with the key and digest of the version it was read under.

    ``last_good`` is the article an earlier version of a now failing file gave: a file caught
    mid-write stays published as it was until it parses again or goes away. ``changed`` is
    None until the file's content changes after it was first read.
    """

    key: FileKey
    article: Article | None
    error: ArticleError | None
    warnings: tuple[str, ...] = ()
    last_good: Article | None = None
    digest: bytes = b""
    first_seen: datetime | None = None  # when this file was first read
    changed: datetime | None = None  # when its content last changed, as first seen

    @property
    def published_article(self) -> Article | None:
        """The article to publish: this version's, else the last good one."""
        return self.article or self.last_good


# Articles that could not be shown, by path: the version that failed, and why.
Failures = MutableMapping[Path, tuple[Article, ArticleError]]


@dataclass(frozen=True)
class Entry:
    """One item of a feed, ready to be written in any format."""

    entry_id: str
    link: str
    title: str
    published: datetime
    updated: datetime
    summary: str
    content_html: str
    tags: tuple[str, ...] = ()
    author: str | None = None


@dataclass(frozen=True)
class Link:
    """A link from a feed to another document, and what that document is to it."""

    href: str
    rel: str
    type: str | None = None


@dataclass(frozen=True)
class Feed:
    """A whole feed, format-free: the channel's fields and its entries, newest first.

    ``links`` are the RFC 5005 links beyond self and hubs (``current``, ``prev-archive``,
    ``next-archive``); ``archive`` marks an archive document (``fh:archive``). ``feed_id`` is
    the Atom id, the home URL when empty.
    """

    title: str
    home_url: str
    description: str
    language: str
    author: str
    updated: datetime
    entries: tuple[Entry, ...]
    hubs: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()
    archive: bool = False
    feed_id: str = ""


@dataclass(frozen=True)
class BuildResult:
    """What a build saw and did.

    ``stale`` names the rejected files whose last good version is still published, and
    ``stale_articles`` are those versions. ``refusal`` is set on a build the drift guard
    refuses but that went ahead (accepted, or a check that writes nothing).
    """

    entries: int
    written: tuple[Path, ...] = ()
    unchanged: tuple[Path, ...] = ()
    rejected: tuple[ArticleError, ...] = ()
    warnings: tuple[str, ...] = ()
    drafts: tuple[Path, ...] = ()
    scheduled: tuple[Article, ...] = ()
    articles: int = 0
    stale: tuple[Path, ...] = ()
    stale_articles: tuple[Article, ...] = ()
    shown: tuple[Article, ...] = ()  # the articles the feeds hold, newest first
    manifest: Manifest = Manifest()  # every file produced; ``changed`` those written
    refusal: str | None = None  # why the drift guard refuses (or would refuse) this build
    refused: tuple[Problem, ...] = ()  # lint problems a check found that refuse a build
