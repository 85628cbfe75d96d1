"""Real servers on 127.0.0.1 for the serving tests: a site to publish, `feedsvc serve`, raw HTTP."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from feedsvc.build import build
from feedsvc.config import Config, load_config

HUB = "https://hub.example.org/"
STARTUP_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen | None = None) -> None:
    """Return once something accepts connections on ``port``; fail if ``process`` dies first."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Site:
    """Articles, a feedsvc.toml and an output directory in a temporary directory."""

    root: Path
    port: int
    max_age_s: int = 60
    max_requests_per_minute: int = 0
    max_connections_per_client: int = 64
    articles: Path = field(init=False)
    output: Path = field(init=False)
    config_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.articles = self.root / "articles"
        self.output = self.root / "public"
        self.config_path = self.root / "feedsvc.toml"
        self.articles.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            f"""
[site]
title = "Loopback News"
url = "{self.url}"
[articles]
dir = "articles"
[feeds]
output = "public"
[ping]
websub_hubs = ["{HUB}"]
[serve]
bind = "127.0.0.1:{self.port}"
max_age_s = {self.max_age_s}
max_requests_per_minute = {self.max_requests_per_minute}
max_connections_per_client = {self.max_connections_per_client}
""",
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def config(self) -> Config:
        return load_config(self.config_path)

    def write_article(self, slug: str, title: str, body: str, day: int) -> Path:
        """An article published on 2025-01-``day``; rewriting it keeps its entry id."""
        path = self.articles / f"{slug}.md"
        path.write_text(
            f"---\ntitle: {title}\ndate: 2025-01-{day:02d}T09:00:00Z\n---\n\n{body}\n",
            encoding="utf-8",
        )
        return path

    def publish(self) -> None:
        """Build the feeds into the output directory, as `feedsvc build` does."""
        build(self.config)


class FeedsvcServer:
    """`feedsvc serve` as a subprocess, its stderr (the access log) kept in a file.

    ``command`` may be "run" (the daemon, serving at [serve] bind); ``open_files`` caps the
    process's descriptors (RLIMIT_NOFILE)."""

    def __init__(
        self, site: Site, *extra: str, command: str = "serve", open_files: int | None = None
    ) -> None:
        self.site = site
        self.log_path = site.root / f"serve-{site.port}.log"
        self._log = self.log_path.open("wb")

        def limit() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        self.process = subprocess.Popen(
            [sys.executable, "-m", "feedsvc", command, "--config", str(site.config_path), *extra],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            cwd=site.root,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=limit,
        )
        try:
            wait_for_port(site.port, self.process)
        except BaseException:
            self.stop()
            raise

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@dataclass
class RawResponse:
    """A response read off the socket as sent: status, header lines and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def raw_request(port: int, request: bytes, timeout: float = 5.0) -> RawResponse | None:
    """Send bytes as they are (no client normalises the path); None if the server hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    data = b"".join(chunks)
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, body)


NGINX_SITE = Path(__file__).parent.parent / "deploy" / "nginx.conf"


class NginxServer:
    """Debian's nginx on 127.0.0.1 with deploy/nginx.conf, every path it writes under ``run``."""

    def __init__(self, nginx: str, root: Path, port: int, run: Path) -> None:
        run.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.config_path = run / "nginx.conf"
        self.config_path.write_text(nginx_config(root, port, run), encoding="utf-8")
        command = [nginx, "-p", str(run), "-c", str(self.config_path), "-e", str(run / "error.log")]
        subprocess.run([*command, "-t", "-q"], check=True, capture_output=True)
        self.process = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_for_port(port, self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def nginx_config(root: Path, port: int, run: Path) -> str:
    """A whole nginx.conf around the example, listening on loopback, writing only to ``run``."""
    site = NGINX_SITE.read_text(encoding="utf-8")
    for line, replacement in (
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("root /srv/feedsvc/public;", f"root {root};"),
    ):
        if line not in site:
            raise ValueError(f"{NGINX_SITE} no longer says {line!r}")
        site = site.replace(line, replacement)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
pid {run}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
{site}
}}
"""
