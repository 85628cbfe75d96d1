"""The server under hostile or unlucky clients: dates it cannot read, heads that never finish,
one address holding many connections, and a process out of file descriptors."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from feedsvc.config import Config
from feedsvc.serve.server import serve_feeds
from tests.peers import wait_until
from tests.servers import FeedsvcServer, Site, free_port, raw_request

GET = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def make_site(root: Path, **settings: int) -> Site:
    site = Site(root, free_port(), **settings)
    site.write_article("story", "Story", "Body of the story.", 1)
    site.publish()
    return site


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedsvcServer]:
    server = FeedsvcServer(make_site(tmp_path_factory.mktemp("dates")))
    yield server
    server.stop()


@contextmanager
def serving(config: Config, head_timeout_s: float = 10.0) -> Iterator[int]:
    """``serve_feeds`` on its own event loop in a thread; yields the port."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve_feeds(config, stop, head_timeout_s=head_timeout_s),),
        daemon=True,
    )
    thread.start()
    port = int(config.serve.bind.rsplit(":", 1)[1])
    try:
        # A whole answer read to its end, not a bare connect: the server has let go of the
        # probe's connection by then, so it counts against no cap.
        wait_until(lambda: _served(port), 10)
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        loop.close()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    return sock


def closed_by_server(sock: socket.socket, timeout: float) -> bytes | None:
    """What the server sent before closing ``sock`` within ``timeout``; None if it did not."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return received


def get(port: int, source: str = "127.0.0.1") -> int:
    with connect(port, source) as sock:
        sock.sendall(GET)
        answer = closed_by_server(sock, 5)
    assert answer, "no answer"
    return int(answer.split(b" ", 2)[1])


UNREADABLE_DATES = [
    "Mon, 01 Jan 99999 00:00:00 GMT",
    "Mon, 01 Jan 0000 00:00:00 GMT",
    "Mon, 01 Jan 99999999999999999999999 00:00:00 GMT",
    "Mon, 01 Jan 2025 00:00:00 +99999999999999999999",
    "Mon, 31 Feb 2025 00:00:00 GMT",
    "Mon, 01 Jan 2025 25:61:61 GMT",
    "yesterday",
    "\xff\xfe",
    "",
]


@pytest.mark.parametrize("field", ["If-Modified-Since", "If-Unmodified-Since"])
@pytest.mark.parametrize("value", UNREADABLE_DATES)
def test_a_date_that_cannot_be_read_is_ignored_and_logged(
    server: FeedsvcServer, field: str, value: str
) -> None:
    agent = f"date-probe-{field}-{UNREADABLE_DATES.index(value)}"
    request = f"GET /rss.xml HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n{field}: {value}\r\n"
    logged_before = len(server.log)
    response = raw_request(
        server.site.port, request.encode("latin-1") + b"Connection: close\r\n\r\n"
    )
    assert response is not None and response.status == 200
    assert response.body == (server.site.output / "rss.xml").read_bytes()
    wait_until(lambda: agent in server.log, 5)
    logged = server.log[logged_before:]
    assert f'"GET /rss.xml HTTP/1.1" 200 {len(response.body)} "{agent}"' in logged
    assert "Traceback" not in logged


@pytest.mark.parametrize(
    "form",
    ["%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"],
    ids=["imf-fixdate", "rfc850", "asctime"],
)
def test_each_form_of_http_date_is_understood(server: FeedsvcServer, form: str) -> None:
    with httpx.Client(base_url=server.site.url) as client:
        modified = parsedate_to_datetime(client.get("/rss.xml").headers["last-modified"])
        since = modified.strftime(form)
        assert client.get("/rss.xml", headers={"If-Modified-Since": since}).status_code == 304
        earlier = formatdate(modified.timestamp() - 1, usegmt=True)
        assert client.get("/rss.xml", headers={"If-Unmodified-Since": earlier}).status_code == 412


def test_heads_that_never_finish_are_closed_and_others_are_served(tmp_path: Path) -> None:
    config = make_site(tmp_path, max_connections_per_client=0).config
    with serving(config, head_timeout_s=1.0) as port, ExitStack() as stack:
        slow = [stack.enter_context(connect(port)) for _ in range(200)]
        opened = time.monotonic()
        for n, sock in enumerate(slow):
            sock.sendall(b"GET /rss.xml HTTP/1.1\r\n" if n % 2 else b"")
        for _ in range(3):  # trickling: a header line every 0.2 s is not a whole head
            time.sleep(0.2)
            for sock in slow[1::2]:
                sock.sendall(b"X-Slow: 1\r\n")
            assert get(port) == 200
        answers = [closed_by_server(sock, 3.0) for sock in slow]
        took = time.monotonic() - opened
    assert all(answer is not None and answer.startswith(b"HTTP/1.1 408") for answer in answers)
    assert 1.0 <= took < 3.0


def test_one_address_over_its_cap_is_refused_while_another_is_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_site(tmp_path, max_connections_per_client=8).config
    with serving(config) as port, ExitStack() as stack:
        held = [stack.enter_context(connect(port)) for _ in range(8)]
        for sock in held:  # one answer each proves it is accepted; then half a head holds it
            sock.sendall(b"HEAD /rss.xml HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /rss.xml HTTP/1.1\r\n")
        refused = [stack.enter_context(connect(port)) for _ in range(20)]
        answers = [closed_by_server(sock, 3.0) for sock in refused]
        assert all(answer is not None and answer.startswith(b"HTTP/1.1 503") for answer in answers)
        assert get(port, source="127.0.0.2") == 200
        held.pop().close()
        wait_until(lambda: _served(port), 5)
        assert closed_by_server(held[0], 0.2) is None  # the ones held stay open
    warnings = [r.message for r in caplog.records if "holds 8 connections" in r.message]
    assert len(warnings) == 1 and "127.0.0.1" in warnings[0]


def _served(port: int) -> bool:
    try:
        return get(port) == 200
    except (AssertionError, OSError):
        return False


@pytest.mark.parametrize("command", ["serve", "run"])
def test_out_of_file_descriptors_is_logged_and_recovered_from(tmp_path: Path, command: str) -> None:
    site = make_site(tmp_path, max_connections_per_client=0)
    server = FeedsvcServer(site, command=command, open_files=64)
    try:
        assert get(site.port) == 200  # the feed is in memory: it needs no descriptor to serve
        with ExitStack() as stack:
            for _ in range(100):
                stack.enter_context(connect(site.port)).sendall(b"GET /rss.xml HTTP/1.1\r\n")
            wait_until(lambda: "cannot accept connections" in server.log, 5)
            waiting = connect(site.port)
            waiting.sendall(GET)
            assert closed_by_server(waiting, 0.5) is None  # queued, not dropped
        with waiting:
            answer = closed_by_server(waiting, 5)
        assert answer is not None and answer.startswith(b"HTTP/1.1 200")
        assert get(site.port) == 200
        wait_until(lambda: "accepting connections again" in server.log, 5)
        assert server.log.count("cannot accept connections") == 1
        assert server.process.poll() is None
    finally:
        server.stop()


OUT_OF_DESCRIPTORS = """
import os, resource, sys
from pathlib import Path
from feedsvc.serve.files import ServedFile

feed = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
served = ServedFile(feed, feed.parent, ())
before = served.current().digest
spare = []
try:
    while True:
        spare.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
os.rename(feed.parent / "next.xml", feed)
print(served.current().digest == before)
try:
    ServedFile(feed, feed.parent, ()).current()
    print("read")
except OSError as exc:
    print(exc.strerror)
for fd in spare:
    os.close(fd)
print(served.current().digest != before)
"""


def test_a_feed_unreadable_for_want_of_descriptors_is_never_a_404(tmp_path: Path) -> None:
    (tmp_path / "rss.xml").write_bytes(b"<rss>old</rss>")
    (tmp_path / "next.xml").write_bytes(b"<rss>new</rss>")
    done = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS, str(tmp_path / "rss.xml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    # The version served stays served; one never read is an error (a 503), not missing.
    assert done.stdout.splitlines() == ["True", "Too many open files", "True"]
