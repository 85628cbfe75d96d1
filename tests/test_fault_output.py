"""`feedsvc run` when its output cannot be written, caused for real: a file-size limit set on
the running process (EFBIG), a full filesystem (ENOSPC), a filesystem remounted read-only.
The daemon says why the build failed, keeps the last feeds as they were and keeps serving
them, and publishes once the fault is gone."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess, article, served, serving_daemon

FEEDS = ("rss.xml", "atom.xml", "feed.json")


def snapshot(output: Path) -> dict[str, bytes]:
    """Every file in the output directory, dot files and temporaries included."""
    return {path.name: path.read_bytes() for path in sorted(output.iterdir())}


def survive(
    process: DaemonProcess,
    port: int,
    fault: Callable[[], None],
    repair: Callable[[], None],
    because: str,
    body: str = "Text.",
) -> None:
    """Cause ``fault``, publish a second story: the build fails saying ``because``, and again
    on its retry; the feeds stay as they were and are served. After ``repair`` the second
    story is published."""
    before = snapshot(process.public)
    fault()
    (process.articles / "second.md").write_text(article("Second story", "2025-06-03", body))
    process.wait_log("retrying the build", count=2)
    failures = [line for line in process.lines() if "build failed" in line]
    assert failures and all(because in line for line in failures), failures
    assert snapshot(process.public) == before
    assert {name: served(port, name) for name in FEEDS} == {name: before[name] for name in FEEDS}
    repair()
    process.wait_titles(lambda titles: titles == ["Second story", "First story"])
    assert served(port, "rss.xml") == (process.public / "rss.xml").read_bytes()
    assert not [name for name in os.listdir(process.public) if name.endswith(".tmp")]
    assert process.stop() == 0


def test_a_file_size_limit_set_on_the_daemon_fails_builds_until_lifted(tmp_path: Path) -> None:
    """The limit (a soft one: lifting it needs no privilege) is far above the log and the
    state, and below the feeds the second story makes."""
    limit = 256 * 1024
    with serving_daemon(tmp_path) as (process, port):
        assert process.process is not None
        pid = process.process.pid
        survive(
            process,
            port,
            lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY)),
            lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2),
            because="File too large",
            body="A long paragraph of the second story. " * 8_000,  # ~300 KB in every feed
        )


def fill(directory: Path) -> Path:
    """Write a ballast file in ``directory`` until its filesystem has no space left."""
    ballast = directory / "ballast"
    with ballast.open("wb", buffering=0) as handle:
        try:
            while handle.write(b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return ballast


def test_a_full_disk_fails_builds_until_there_is_room(tmp_path: Path, small_tmpfs: Path) -> None:
    with serving_daemon(tmp_path, small_tmpfs / "public") as (process, port):
        ballast = small_tmpfs / "ballast"
        survive(
            process,
            port,
            lambda: fill(small_tmpfs),
            ballast.unlink,
            because="No space left on device",
        )


def remount(mount_point: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mount_point)], check=True)


def test_an_output_remounted_read_only_fails_builds_until_writable(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    """What a filesystem remounted read-only after an error does: even root may not write."""
    with serving_daemon(tmp_path, small_tmpfs / "public") as (process, port):
        survive(
            process,
            port,
            lambda: remount(small_tmpfs, "ro"),
            lambda: remount(small_tmpfs, "rw"),
            because="the directory is not writable",
        )


def test_a_cli_build_into_a_read_only_output_fails_clearly_and_keeps_the_feeds(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "first.md").write_text(article("First story"))
    options = ("--site-url", "https://news.example.org/", "--output", str(small_tmpfs / "out"))
    options += ("--state-dir", str(tmp_path / "state"))
    assert run_feedsvc("build", *options, cwd=tmp_path).returncode == 0
    before = snapshot(small_tmpfs / "out")
    (tmp_path / "articles" / "second.md").write_text(article("Second story", "2025-06-03"))
    remount(small_tmpfs, "ro")
    try:
        failed = run_feedsvc("build", *options, cwd=tmp_path)
    finally:
        remount(small_tmpfs, "rw")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.strip() == (
        f"feedsvc: error: {small_tmpfs / 'out'}: the directory is not writable"
    )
    assert snapshot(small_tmpfs / "out") == before
    assert run_feedsvc("build", *options, cwd=tmp_path).returncode == 0
    assert b"Second story" in (small_tmpfs / "out" / "rss.xml").read_bytes()


@pytest.fixture(autouse=True)
def _no_limit_left() -> Iterator[None]:
    """The limits are set on the daemon alone: this process must never inherit one."""
    yield
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] == resource.RLIM_INFINITY
