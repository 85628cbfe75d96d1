"""`feedsvc run` as a real subprocess over a temporary directory, with its log in a file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import feedparser
import httpx

from tests.peers import wait_until
from tests.servers import free_port, wait_for_port

STOP_TIMEOUT_S = 5.0


def article(title: str, published: str = "2025-06-02 09:00 UTC", body: str = "Text.") -> str:
    """An article in the seed's layout."""
    return f"# {title}\n\n{body}\n\n---\n\nPublished: {published}\n"


class DaemonProcess:
    """A running `feedsvc run`: files go into ``articles``, feeds come out of ``public``."""

    def __init__(self, root: Path, toml: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.articles = root / "articles"
        self.public = root / "public"
        self.articles.mkdir(exist_ok=True)
        self.config = root / "feedsvc.toml"
        self.config.write_text(toml)
        self.log = root / "daemon.log"
        self.process: subprocess.Popen | None = None
        self.env = {**os.environ, **(env or {})}

    def start(self, wait_ready: bool = True) -> DaemonProcess:
        command = [sys.executable, "-m", "feedsvc", "run", "--config", str(self.config)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, stderr=log, stdout=log, env=self.env
            )
        if wait_ready:
            self.wait_log("built ")
        return self

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines()

    def count(self, text: str) -> int:
        return sum(text in line for line in self.lines())

    def wait_log(self, text: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``text`` appears in ``count`` log lines."""

        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"daemon exited early:\n{self.log.read_text()}")
            return self.count(text) >= count

        try:
            wait_until(seen, timeout)
        except AssertionError as error:
            # The message holds the cause's own: chained, the failure would print it twice.
            raise AssertionError(f"{error}; log:\n{self.log.read_text()}") from None

    def titles(self) -> list[str]:
        """The entry titles of the published RSS feed."""
        path = self.public / "rss.xml"
        if not path.exists():
            return []
        return [entry.title for entry in feedparser.parse(path.read_bytes()).entries]

    def wait_titles(self, check, timeout: float = 10.0) -> list[str]:  # noqa: ANN001
        """Wait until the feed's titles satisfy ``check``."""
        try:
            wait_until(lambda: check(self.titles()), timeout)
        except AssertionError as error:
            # The message holds the cause's own: chained, the failure would print it twice.
            log = self.log.read_text()
            raise AssertionError(f"{error}; titles {self.titles()}; log:\n{log}") from None
        return self.titles()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGTERM, and the exit code (within the promised time)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = self.process.wait(timeout=STOP_TIMEOUT_S + 5)
        self.stop_took = time.monotonic() - started
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def toml(site_url: str = "https://news.example.org/", extra: str = "") -> str:
    """A daemon configuration with a short debounce and a distant rescan, for tests."""
    return (
        f'[site]\ntitle = "Example News"\nurl = "{site_url}"\n'
        '[articles]\ndir = "articles"\n[feeds]\noutput = "public"\n'
        '[watch]\ndebounce_ms = 100\n[schedule]\nrescan = "1h"\n'
        '[state]\ndir = "."\n' + extra
    )


def served(port: int, name: str) -> bytes:
    """The file ``name`` as a daemon serving on ``port`` serves it (status 200)."""
    response = httpx.get(f"http://127.0.0.1:{port}/{name}", timeout=5)
    assert response.status_code == 200
    return response.content


@contextmanager
def serving_daemon(root: Path, output: Path | None = None) -> Iterator[tuple[DaemonProcess, int]]:
    """A daemon that publishes "First story" into ``output`` (by default root/public) and
    serves it over HTTP; killed at the end."""
    port = free_port()
    extra = f'[serve]\nbind = "127.0.0.1:{port}"\n'
    config = toml(extra=extra)
    if output is not None:
        config = config.replace('output = "public"', f'output = "{output}"')
    process = DaemonProcess(root, config)
    if output is not None:
        process.public = output
    (process.articles / "first.md").write_text(article("First story"))
    process.start()
    try:
        wait_for_port(port, process.process)
        yield process, port
    finally:
        process.kill()
