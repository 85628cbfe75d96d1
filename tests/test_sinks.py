"""The contract every sink keeps, run against each of them (as APScheduler runs one suite over
every backend): put only what changed, judged by a stored digest; changes appear together
after before_commit; delete; list. The S3 sink runs it against a real SeaweedFS."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from feedsvc.model import ATOM_TYPE, RSS_TYPE, ArtifactKind
from feedsvc.outputs.base import Put, Sink
from feedsvc.outputs.localdir import LocalDirSink
from feedsvc.outputs.memory import MemorySink
from feedsvc.outputs.s3 import S3Sink

SinkFactory = Callable[[], Sink]


@pytest.fixture(params=["localdir", "memory", "s3"])
def make_sink(request: pytest.FixtureRequest, tmp_path: Path) -> SinkFactory:
    """A factory of sinks over one store: each call is a new sink object on the same files."""
    if request.param == "localdir":
        return lambda: LocalDirSink(tmp_path / "public")
    if request.param == "s3":
        seaweed = request.getfixturevalue("seaweed")
        bucket, prefix = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_prefix")
        client = seaweed.client()
        return lambda: S3Sink(bucket, prefix, client)
    memory = MemorySink()
    return lambda: memory


def feeds(rss: bytes = b"<rss>1</rss>", atom: bytes = b"<feed>1</feed>") -> list[Put]:
    return [
        Put("rss.xml", rss, RSS_TYPE),
        Put("tags/x/atom.xml", atom, ATOM_TYPE, ArtifactKind.TOPIC),
    ]


def test_new_files_are_written_and_listed_with_their_digest(make_sink: SinkFactory) -> None:
    sink = make_sink()
    assert sink.put(feeds()) == ["rss.xml", "tags/x/atom.xml"]
    listed = make_sink().list()
    assert set(listed) == {"rss.xml", "tags/x/atom.xml"}
    topic = listed["tags/x/atom.xml"]
    assert (topic.media_type, topic.kind, topic.size) == (ATOM_TYPE, ArtifactKind.TOPIC, 14)
    assert topic.digest == hashlib.sha256(b"<feed>1</feed>").hexdigest()
    assert make_sink().read("rss.xml") == b"<rss>1</rss>"


def test_unchanged_files_are_not_written_again(make_sink: SinkFactory) -> None:
    make_sink().put(feeds())
    heard: list[list[str]] = []
    assert make_sink().put(feeds(), heard.append) == []
    assert heard in ([[]], [])


def test_only_the_changed_file_is_written(make_sink: SinkFactory) -> None:
    make_sink().put(feeds())
    assert make_sink().put(feeds(atom=b"<feed>2</feed>")) == ["tags/x/atom.xml"]
    assert make_sink().read("tags/x/atom.xml") == b"<feed>2</feed>"
    digest = make_sink().list()["tags/x/atom.xml"].digest
    assert digest == hashlib.sha256(b"<feed>2</feed>").hexdigest()


def test_before_commit_hears_the_changes_before_any_is_visible(make_sink: SinkFactory) -> None:
    make_sink().put(feeds())
    sink = make_sink()
    seen: list[tuple[list[str], bytes | None, bytes | None]] = []

    def before_commit(paths: list[str]) -> None:
        seen.append((paths, sink.read("rss.xml"), sink.read("tags/x/atom.xml")))

    sink.put(feeds(rss=b"<rss>2</rss>", atom=b"<feed>2</feed>"), before_commit)
    assert seen == [(["rss.xml", "tags/x/atom.xml"], b"<rss>1</rss>", b"<feed>1</feed>")]
    assert (sink.read("rss.xml"), sink.read("tags/x/atom.xml")) == (
        b"<rss>2</rss>",
        b"<feed>2</feed>",
    )


def test_deleted_files_leave_the_listing(make_sink: SinkFactory) -> None:
    make_sink().put(feeds())
    assert make_sink().delete(["tags/x/atom.xml", "never.xml"]) == ["tags/x/atom.xml"]
    assert set(make_sink().list()) == {"rss.xml"}
    assert make_sink().read("tags/x/atom.xml") is None
    assert make_sink().put(feeds()) == ["tags/x/atom.xml"]  # and comes back when put again


def test_the_local_directory_judges_a_file_by_its_stored_digest_not_by_reading_it(
    tmp_path: Path,
) -> None:
    """Nothing is read back while the file is as the index left it (its size, and a
    modification before the index was written): an S3 sink must not pay a GET per object."""
    directory = tmp_path / "public"
    LocalDirSink(directory).put(feeds())
    path = directory / "rss.xml"
    before = path.stat()
    path.write_bytes(b"<rss>X</rss>")  # same size: only reading would tell
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert LocalDirSink(directory).put(feeds()) == []
    os.utime(path)  # modified after the index was written: now it is read, and mended
    assert LocalDirSink(directory).put(feeds()) == ["rss.xml"]
    assert path.read_bytes() == b"<rss>1</rss>"


def test_the_memory_sink_stores_nothing_for_unchanged_files() -> None:
    sink = MemorySink()
    sink.put(feeds())
    sink.put(feeds())
    sink.put(feeds(rss=b"<rss>2</rss>"))
    assert sink.puts == 3
