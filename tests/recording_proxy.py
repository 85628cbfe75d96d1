"""A recording proxy on 127.0.0.1 in front of the real S3 store: each publisher talks to the
store through one, so a test sees every request on the wire (which publisher, what it did to
which object, the store's answer) without a hook inside the publisher's process.

Requests are passed on as signed (the Host header included), one upstream connection each.
When the store cannot be reached the proxy closes the client's connection without an answer,
as a store that went down mid-request does.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import http.server
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "proxy-connection"})
UPSTREAM_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Exchange:
    """One request the store answered: who sent it, the object key (below the bucket), and,
    for a PUT, the digest of its body and the feedsvc metadata it carried."""

    publisher: str
    method: str
    key: str
    status: int
    sha256: str = ""
    kind: str = ""  # x-amz-meta-kind
    writer: str = ""  # x-amz-meta-writer: one token per put of a publish
    deleted: tuple[str, ...] = ()  # the keys a DeleteObjects named
    at: float = 0.0


@dataclass
class Wire:
    """Every exchange, through every proxy sharing it, in the order the store answered."""

    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def changes(self) -> list[Exchange]:
        """The accepted PUTs that changed their object: its bytes differ from those it held
        just before (nothing, for a new object or one deleted since)."""
        held: dict[str, str] = {}
        changed: list[Exchange] = []
        with self.lock:
            exchanges = list(self.exchanges)
        for exchange in exchanges:
            if not 200 <= exchange.status < 300:
                continue
            for key in exchange.deleted:
                held.pop(key, None)
            if exchange.method == "PUT" and exchange.kind:
                if held.get(exchange.key) != exchange.sha256:
                    changed.append(exchange)
                held[exchange.key] = exchange.sha256
        return changed


@contextmanager
def recording_proxy(
    upstream: str,
    wire: Wire,
    publisher: str,
    after: Callable[[Exchange], bool] | None = None,
) -> Iterator[str]:
    """A proxy to the store at ``upstream`` recording into ``wire`` as ``publisher``; yields
    its URL. ``after`` hears each exchange before the client does (to stop the store then);
    when it returns True the client hears nothing, as when the store dies before it answers."""
    target = urlsplit(upstream)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, headers, content = _forward(target.hostname, target.port, self, body)
            except OSError:
                self.close_connection = True  # the store is down: no answer at all
                return
            exchange = _exchange(publisher, self, body, status)
            wire.record(exchange)
            if after is not None and after(exchange):
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            length = dict((n.lower(), v) for n, v in headers).get("content-length")
            if self.command == "HEAD":
                self.send_header("Content-Length", length or "0")
            else:
                self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client gone mid-connection (a publisher killed or stopped) is no error here."""


def _forward(
    host: str | None, port: int | None, request: http.server.BaseHTTPRequestHandler, body: bytes
) -> tuple[int, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection(host or "127.0.0.1", port, timeout=UPSTREAM_TIMEOUT_S)
    try:
        connection.putrequest(
            request.command, request.path, skip_host=True, skip_accept_encoding=True
        )
        for name, value in request.headers.items():
            if name.lower() not in HOP_BY_HOP:
                connection.putheader(name, value)
        connection.endheaders(body or None)
        response = connection.getresponse()
        content = response.read()
        return response.status, response.getheaders(), content
    finally:
        connection.close()


def _exchange(
    publisher: str, request: http.server.BaseHTTPRequestHandler, body: bytes, status: int
) -> Exchange:
    path, _, query = request.path.partition("?")
    key = unquote(path).lstrip("/").partition("/")[2]
    deleted: tuple[str, ...] = ()
    if request.command == "POST" and re.match(r"delete(=|&|$)", query):
        deleted = tuple(html.unescape(k) for k in re.findall(r"<Key>([^<]*)</Key>", body.decode()))
    is_put = request.command == "PUT"
    return Exchange(
        publisher=publisher,
        method=request.command,
        key=key,
        status=status,
        sha256=hashlib.sha256(body).hexdigest() if is_put else "",
        kind=request.headers.get("x-amz-meta-kind", "") if is_put else "",
        writer=request.headers.get("x-amz-meta-writer", "") if is_put else "",
        deleted=deleted,
        at=time.monotonic(),
    )
