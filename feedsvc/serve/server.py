"""Serving the app with uvicorn: the listening socket, request-head limits, and the coroutine
the daemon and ``feedsvc serve`` run.

This is the one module that uses uvicorn, its private API included (its httptools protocol and
its Server's start-up, shutdown and signal capture): tests/test_serve_server.py checks that API
against the installed uvicorn, and pyproject.toml pins the versions it was checked with.
Connections are accepted by `feedsvc.serve.accept.Acceptor`, not by uvicorn.

The seam for the daemon::

    stop = asyncio.Event()
    await serve_feeds(config, stop)   # when config.serve.bind is set

``serve_feeds`` runs in the caller's event loop beside the watcher and the scheduler, serves
``config.feeds.output`` at ``config.serve.bind`` until ``stop`` is set, then lets open
requests finish and returns. It installs no signal handlers and configures no logging: the
caller owns both. It raises ServeError if it cannot listen. Builds need no notice: every
request stats the manifest and its file, so a feed the build replaced is served from the next
request on. ``feedsvc serve`` runs the same coroutine standalone (``serve_until_signalled``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from feedsvc.config import Config
from feedsvc.errors import ServeError
from feedsvc.serve.accept import Acceptor
from feedsvc.serve.app import FeedApp
from feedsvc.serve.bind import DEFAULT_BIND, parse_bind

# nginx's defaults are 8 KiB per line and 32 KiB in all; readers send far less.
MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
# nginx's client_header_timeout is 60 s; a feed reader sends its few headers at once.
HEAD_TIMEOUT_S = 10.0
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 32\r\nconnection: close\r\n\r\nRequest Header Fields Too Large\n"
)
TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nRequest Timeout\n"
)
log = logging.getLogger("feedsvc.serve")


@dataclass(frozen=True)
class Limits:
    """What one client may hold: connections at once (0: any number) and time to send a head."""

    per_client: int = 64
    head_timeout_s: float = HEAD_TIMEOUT_S


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits on a request's head that httptools lacks.

    Bytes are counted as they arrive, outside a request body: a head over MAX_HEAD_BYTES
    gets 431 and the connection is closed; over MAX_HEADERS fields, uvicorn's 400. A head not
    complete within the head timeout of the connection's start or the last response (a client
    trickling bytes, or sending none) gets 408 and is closed, by `EmbeddedServer`'s sweep.
    """

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._fields = 0
        self._release = release
        # When the head now awaited began to be awaited; None while a request is answered.
        self.head_since: float | None = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                log.warning("refused a request head of over %d bytes", MAX_HEAD_BYTES)
                self._refuse(TOO_LARGE)
                return
        super().data_received(data)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        if self._fields > MAX_HEADERS:
            raise ValueError(f"more than {MAX_HEADERS} header fields")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = self._fields = 0
        self.head_since = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.head_since = self.loop.time()
        super().on_response_complete()

    def time_out_head(self) -> None:
        """The head took too long: say so and close."""
        self._refuse(TIMED_OUT)

    def _refuse(self, response: bytes) -> None:
        self._in_head = False
        self.head_since = None
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers (whoever serves owns the signals), listening through
    an `Acceptor` and closing connections whose head takes too long."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, limits: Limits) -> None:
        super().__init__(config)
        self._sock = sock
        self._limits = limits
        self._acceptor: Acceptor | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # no socket for uvicorn: the Acceptor listens
        new_protocol = functools.partial(
            self.config.http_protocol_class,
            config=self.config,
            server_state=self.server_state,
            app_state=self.lifespan.state,
        )
        self._acceptor = Acceptor(
            self._sock, lambda release: new_protocol(release=release), self._limits.per_client
        )
        self._sweeper = asyncio.create_task(self._sweep_slow_heads())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await super().shutdown()

    async def _sweep_slow_heads(self) -> None:
        # One pass a fraction of the timeout apart costs less than a timer per request.
        timeout = self._limits.head_timeout_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, timeout / 4))
            deadline = loop.time() - timeout
            slow = [
                connection
                for connection in self.server_state.connections
                if getattr(connection, "head_since", None) is not None
                and connection.head_since < deadline
            ]
            for connection in slow:
                connection.time_out_head()
            if slow:
                log.info("closed %d connections: no request head within %g s", len(slow), timeout)


def listen(bind: str) -> socket.socket:
    """A listening socket for ``host:port``; ServeError names the address if it is taken.

    The OSError is kept as the error's context (raised while handling it), not chained as its
    cause: ``str()`` of a FeedsvcError appends a cause, and the one-line message, which already
    gives the system's reason in parentheses, reads as it always has.
    """
    address = bind or DEFAULT_BIND
    host, port = parse_bind(address)
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ServeError(address, f"cannot listen here ({exc})")  # noqa: B904 (see above)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServeError(address, f"cannot listen here ({exc.strerror})")  # noqa: B904
    sock.setblocking(False)
    return sock


async def serve_feeds(
    config: Config, stop: asyncio.Event, *, head_timeout_s: float = HEAD_TIMEOUT_S
) -> None:
    """Serve the feeds at ``[serve] bind`` (default 127.0.0.1:8080) until ``stop`` is set.

    A connection that has not sent a whole request head ``head_timeout_s`` after it opened
    (or after its last response) is closed.
    """
    sock = listen(config.serve.bind)
    limits = Limits(config.serve.max_connections_per_client, head_timeout_s)
    server = EmbeddedServer(uvicorn_config(FeedApp(config)), sock, limits)
    host, port = sock.getsockname()[:2]
    log.info("serving %s at http://%s/", config.feeds.output, _authority(host, port))
    waiter = asyncio.ensure_future(stop.wait())
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.wait({waiter, serving}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        await serving
    finally:
        waiter.cancel()
        sock.close()


def uvicorn_config(app: FeedApp) -> uvicorn.Config:
    """uvicorn for ``app`` alone: our protocol, the caller's loop and logging, no lifespan, no
    websockets, no proxy headers, and 5 s for open requests to finish at shutdown."""
    return uvicorn.Config(
        app,
        http=BoundedHttpTools,
        loop="none",
        lifespan="off",
        ws="none",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def serve_until_signalled(config: Config) -> None:
    """Run ``serve_feeds`` on uvloop until SIGINT or SIGTERM (``feedsvc serve``)."""
    import uvloop

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve_feeds(config, stop)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
