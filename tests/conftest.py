"""Shared fixtures: real article files in a temporary directory and a config pointing at them."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import feedsvc.assemble
from feedsvc.config import Config, config_from_dict
from tests.daemon_process import DaemonProcess
from tests.daemon_process import article as daemon_article
from tests.daemon_process import toml as daemon_toml
from tests.seaweed import SeaweedServer, cannot_run, running_server

FIXTURES = Path(__file__).parent / "fixtures"
SEED = Path(__file__).parent.parent / "articles" / "000_a92430a05fa58860.txt"


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "articles"
    directory.mkdir()
    return directory


@pytest.fixture
def write_article(articles_dir: Path) -> Callable[..., Path]:
    """Write an article file below the articles directory (text as UTF-8, or raw bytes)."""

    def write(name: str, content: str | bytes) -> Path:
        path = articles_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """`feedsvc run` over one published article ("First story"), killed at the end."""
    process = DaemonProcess(tmp_path, daemon_toml())
    (process.articles / "first.md").write_text(daemon_article("First story"))
    process.start()
    yield process
    process.kill()


@pytest.fixture
def make_config(tmp_path: Path, articles_dir: Path) -> Callable[..., Config]:
    """A Config over the temporary articles and output directories, tables overridable."""

    def make(**tables: dict[str, object]) -> Config:
        data: dict[str, dict[str, object]] = {
            "site": {"title": "Example News", "url": "https://news.example.org/"},
            "articles": {"dir": str(articles_dir)},
            "feeds": {"output": str(tmp_path / "public")},
        }
        for name, values in tables.items():
            data.setdefault(name, {}).update(values)
        return config_from_dict(data, tmp_path)

    return make


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One real SeaweedFS S3 store for the session (tests/seaweed.py); skipped only when its
    binary cannot run here."""
    reason = cannot_run()
    if reason is not None:
        pytest.skip(reason)
    yield from running_server(tmp_path_factory.mktemp("seaweed"))


@pytest.fixture(scope="session")
def s3_bucket(seaweed: SeaweedServer) -> str:
    """A bucket of the session's store: each test publishes below its own ``s3_prefix``."""
    return seaweed.create_bucket()


@pytest.fixture
def s3_prefix() -> str:
    """A prefix no other test publishes below."""
    return f"test-{uuid.uuid4().hex[:12]}/feeds"


def run_feedsvc(
    *args: str, cwd: Path, timeout: float = 120, **options: object
) -> subprocess.CompletedProcess[str]:
    """The real CLI as a subprocess, as a user runs it; its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "feedsvc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )


def article(title: str, body: str, published: str, summary: str | None = None) -> str:
    """An article in the seed's layout."""
    foot = f"**META_DESCRIPTION:** {summary}\n\n" if summary else ""
    return f"# {title}\n\n{body}\n\n---\n\n{foot}Published: {published}\n"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The titles of the articles rendered, one item per render."""
    rendered: list[str] = []
    real = feedsvc.assemble.to_entry

    def counting(article, body, config, renderer):  # noqa: ANN001, ANN202
        rendered.append(article.title)
        return real(article, body, config, renderer)

    monkeypatch.setattr("feedsvc.assemble.to_entry", counting)
    return rendered


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A 64 KiB tmpfs, where this test may mount one (root, a mount namespace allowed)."""
    mount_point = Path(tempfile.mkdtemp())
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
        mount_point.rmdir()
