from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

import pytest

from feedsvc.errors import PublishError
from feedsvc.outputs import prepare_directory, write_gzip_copy, write_if_changed


def test_writes_a_new_file_readable_by_all(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    assert write_if_changed(path, b"<rss/>") is True
    assert path.read_bytes() == b"<rss/>"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["rss.xml"]


def test_unchanged_bytes_leave_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    write_if_changed(path, b"same")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    inode = path.stat().st_ino
    assert write_if_changed(path, b"same") is False
    assert path.stat().st_mtime_ns == 1_000_000_000 and path.stat().st_ino == inode


def test_changed_bytes_replace_the_file_with_a_new_inode(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    write_if_changed(path, b"old")
    with path.open("rb") as reader_holding_the_old_file:
        assert write_if_changed(path, b"new") is True
        assert reader_holding_the_old_file.read() == b"old"
    assert path.read_bytes() == b"new"


def test_an_unusable_output_directory_is_a_publish_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PublishError, match="cannot create"):
        prepare_directory(blocker / "public")
    with pytest.raises(PublishError):
        write_if_changed(blocker / "rss.xml", b"x")


def test_a_gzip_copy_follows_its_file_and_goes_when_turned_off(tmp_path: Path) -> None:
    path = tmp_path / "rss.xml"
    write_if_changed(path, b"<rss>one</rss>")
    write_gzip_copy(path, b"<rss>one</rss>", refresh=True)
    copy = tmp_path / "rss.xml.gz"
    assert gzip.decompress(copy.read_bytes()) == b"<rss>one</rss>"
    first = copy.read_bytes()
    write_gzip_copy(path, b"<rss>one</rss>", refresh=True)
    assert copy.read_bytes() == first  # deterministic: no timestamp inside
    write_gzip_copy(path, b"<rss>two</rss>", refresh=True)
    assert gzip.decompress(copy.read_bytes()) == b"<rss>two</rss>"
    write_gzip_copy(path, None, refresh=False)
    assert not copy.exists()
