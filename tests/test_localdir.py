"""The local output directory: atomic, write-on-change, gzip copies kept in step."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest

from feedsvc.errors import PublishError
from feedsvc.model import RSS_TYPE
from feedsvc.outputs.base import BeforeCommit, Put
from feedsvc.outputs.localdir import MANIFEST_NAME, LocalDirSink, prepare_directory


def publish_files(
    directory: Path,
    files: list[tuple[str, bytes]],
    gzip_copies: bool = False,
    before_rename: BeforeCommit | None = None,
) -> list[str]:
    """Put (name, bytes) pairs into the directory as a LocalDirSink."""
    sink = LocalDirSink(directory, gzip_copies=gzip_copies)
    return sink.put([Put(name, content, RSS_TYPE) for name, content in files], before_rename)


def test_writes_new_files_readable_by_all(tmp_path: Path) -> None:
    assert publish_files(tmp_path, [("rss.xml", b"<rss/>"), ("atom.xml", b"<feed/>")]) == [
        "rss.xml",
        "atom.xml",
    ]
    assert (tmp_path / "rss.xml").read_bytes() == b"<rss/>"
    assert stat.S_IMODE((tmp_path / "atom.xml").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME, "atom.xml", "rss.xml"]


def test_unchanged_bytes_leave_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    publish_files(tmp_path, [("rss.xml", b"same")])
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    inode = path.stat().st_ino
    assert publish_files(tmp_path, [("rss.xml", b"same")]) == []
    assert path.stat().st_mtime_ns == 1_000_000_000 and path.stat().st_ino == inode


def test_changed_bytes_replace_the_file_with_a_new_inode(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    publish_files(tmp_path, [("rss.xml", b"old")])
    with path.open("rb") as reader_holding_the_old_file:
        assert publish_files(tmp_path, [("rss.xml", b"new")]) == ["rss.xml"]
        assert reader_holding_the_old_file.read() == b"old"
    assert path.read_bytes() == b"new"


def test_an_unusable_output_directory_is_a_publish_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PublishError, match="cannot create"):
        prepare_directory(blocker / "public")
    with pytest.raises(PublishError):
        publish_files(blocker, [("rss.xml", b"x")])


def test_leftover_temporaries_of_a_killed_build_are_removed(tmp_path: Path) -> None:
    (tmp_path / ".rss.xml.k3j2_x.tmp").write_bytes(b"half a fee")
    (tmp_path / ".atom.xml.gz.abc.tmp").write_bytes(b"")
    (tmp_path / ".unrelated.tmp").write_bytes(b"someone else's")
    publish_files(tmp_path, [("rss.xml", b"<rss/>"), ("atom.xml", b"<feed/>")])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        MANIFEST_NAME,
        ".unrelated.tmp",
        "atom.xml",
        "rss.xml",
    ]


def test_gzip_copies_follow_their_files_and_go_when_turned_off(tmp_path: Path) -> None:
    copy = tmp_path / "rss.xml.gz"
    publish_files(tmp_path, [("rss.xml", b"<rss>one</rss>")], gzip_copies=True)
    assert gzip.decompress(copy.read_bytes()) == b"<rss>one</rss>"
    first = copy.read_bytes()
    publish_files(tmp_path, [("rss.xml", b"<rss>one</rss>")], gzip_copies=True)
    assert copy.read_bytes() == first  # deterministic: no timestamp inside
    publish_files(tmp_path, [("rss.xml", b"<rss>two</rss>")], gzip_copies=True)
    assert gzip.decompress(copy.read_bytes()) == b"<rss>two</rss>"
    publish_files(tmp_path, [("rss.xml", b"<rss>two</rss>")])
    assert not copy.exists()


@pytest.mark.parametrize("damage", [b"", b"\x1f\x8b truncated", None])
def test_a_gzip_copy_out_of_step_is_mended_though_its_feed_is_unchanged(
    tmp_path: Path, damage: bytes | None
) -> None:
    copy = tmp_path / "rss.xml.gz"
    publish_files(tmp_path, [("rss.xml", b"<rss>one</rss>")], gzip_copies=True)
    if damage is None:
        copy.write_bytes(gzip.compress(b"<rss>an older version</rss>"))
    else:
        copy.write_bytes(damage)
    assert publish_files(tmp_path, [("rss.xml", b"<rss>one</rss>")], gzip_copies=True) == []
    assert gzip.decompress(copy.read_bytes()) == b"<rss>one</rss>"


def test_a_write_that_fails_midway_keeps_every_old_file(tmp_path: Path) -> None:
    publish_files(tmp_path, [("rss.xml", b"old rss"), ("atom.xml", b"old atom")])
    # A directory in the way of the second file's rename: its temporary is written, then the
    # rename fails, so neither file may have moved.
    (tmp_path / "atom.xml").unlink()
    (tmp_path / "atom.xml").mkdir()
    (tmp_path / "atom.xml" / "x").write_text("keeps the directory non-empty")
    with pytest.raises(PublishError):
        publish_files(tmp_path, [("atom.xml", b"new atom"), ("rss.xml", b"new rss")])
    assert (tmp_path / "rss.xml").read_bytes() == b"old rss"
    assert not list(tmp_path.glob(".*.tmp"))


def test_before_rename_hears_the_changes_once_on_disk_and_none_in_place(tmp_path: Path) -> None:
    publish_files(tmp_path, [("rss.xml", b"old rss"), ("atom.xml", b"same")])
    seen: list[tuple[list[str], bytes, int]] = []

    def before_rename(names: list[str]) -> None:
        temporaries = len(list(tmp_path.glob(".rss.xml.*.tmp")))
        seen.append((names, (tmp_path / "rss.xml").read_bytes(), temporaries))

    files = [("rss.xml", b"new rss"), ("atom.xml", b"same")]
    assert publish_files(tmp_path, files, before_rename=before_rename) == ["rss.xml"]
    assert seen == [(["rss.xml"], b"old rss", 1)]
    assert (tmp_path / "rss.xml").read_bytes() == b"new rss"
