"""Serving the feeds to feed readers over HTTP: a raw ASGI app on uvicorn, answering from memory.

The seam for the daemon (issue 3)::

    stop = asyncio.Event()
    await serve_feeds(config, stop)   # when config.serve.bind is set

``serve_feeds`` runs in the caller's event loop beside the watcher and the scheduler, serves
``config.feeds.output`` at ``config.serve.bind`` until ``stop`` is set, then lets open
requests finish and returns. It installs no signal handlers and configures no logging: the
caller owns both. It raises PublishError if it cannot listen. Builds need no notice: every
request stats its file, so a feed the build replaced is served from the next request on.
``feedsvc serve`` runs the same coroutine standalone (``serve_until_signalled``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping
from html import escape
from typing import Any

import uvicorn

from feedsvc.config import Config, parse_bind
from feedsvc.errors import PublishError
from feedsvc.model import FEED_FILES
from feedsvc.serve.files import Header, PublishedFile, make_version
from feedsvc.serve.negotiation import evaluate, negotiate, request_fields
from feedsvc.serve.ratelimit import PollLimit
from feedsvc.serve.server import HEAD_TIMEOUT_S, BoundedHttpTools, EmbeddedServer, Limits

DEFAULT_BIND = "127.0.0.1:8080"
ALLOWED = b"GET, HEAD"
access_log = logging.getLogger("feedsvc.access")
log = logging.getLogger("feedsvc.serve")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FeedApp:
    """The ASGI application: the feed files and an index page, and nothing else."""

    def __init__(self, config: Config) -> None:
        output = config.feeds.output
        common: tuple[Header, ...] = (
            (b"cache-control", f"max-age={config.serve.max_age_s}".encode("ascii")),
            (b"vary", b"Accept-Encoding"),
            (b"x-content-type-options", b"nosniff"),
        )
        self.files = {
            f"/{name}": PublishedFile(
                output / name,
                output,
                (
                    (b"content-type", f"{media_type}; charset=utf-8".encode("ascii")),
                    *common,
                    (b"link", link_header(config, name)),
                ),
            )
            for name, media_type in FEED_FILES
        }
        per_minute = config.serve.max_requests_per_minute
        self.limit = PollLimit(per_minute) if per_minute else None
        self.index = make_version(
            index_page(config),
            int(time.time()),
            ((b"content-type", b"text/html; charset=utf-8"), *common),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        status, size = 500, 0
        started = False
        try:
            status, headers, body = self._answer(scope)
            size = 0 if method == "HEAD" or status == 304 else len(body)
            started = True
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        except Exception:
            # A bug: its traceback is logged, the client gets a 500, the server carries on.
            log.exception("error answering %s %r", method, scope.get("raw_path", b""))
            if not started:
                status, headers, body = _plain(500, b"Internal Server Error")
                size = len(body)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
        finally:
            if access_log.isEnabledFor(logging.INFO):
                _log_access(scope, status, size)

    def _answer(self, scope: Scope) -> tuple[int, tuple[Header, ...], bytes]:
        """Status, headers and body for a request, from the feeds in memory."""
        path = scope["path"]
        method = scope["method"]
        wait = self.limit.retry_after(_client(scope)) if self.limit else None
        published = self.files.get(path)
        try:
            version = self.index if path == "/" else published.current() if published else None
        except OSError:
            status, headers, body = _plain(503, b"Service Unavailable")
            return status, (*headers, (b"retry-after", b"1")), body
        if wait is not None:
            status, headers, body = _plain(429, b"Too Many Requests")
            return status, (*headers, (b"retry-after", str(wait).encode("ascii"))), body
        if version is None:
            return _plain(404, b"Not Found")
        if method not in ("GET", "HEAD"):
            status, headers, body = _plain(405, b"Method Not Allowed")
            return status, (*headers, (b"allow", ALLOWED)), body
        fields = request_fields(scope["headers"])
        representation = negotiate(version, fields.get(b"accept-encoding", b""))
        status = evaluate(representation, version, fields)
        if status == 200:
            return status, representation.headers, representation.body
        if status == 304:
            return status, representation.not_modified_headers, b""
        return _plain(412, b"Precondition Failed")


def link_header(config: Config, name: str) -> bytes:
    """WebSub discovery (W3C WebSub 4): each hub, then exactly one self, rels quoted."""
    links = [f'<{hub}>; rel="hub"' for hub in config.ping.websub_hubs]
    links.append(f'<{config.feed_url(name)}>; rel="self"')
    return ", ".join(links).encode("ascii")


def index_page(config: Config) -> bytes:
    """A small page listing the feeds, with autodiscovery ``<link rel="alternate">`` tags."""
    title = escape(config.site.title)
    alternates = "".join(
        f'<link rel="alternate" type="{media_type}" title="{title} ({name})" href="{name}">\n'
        for name, media_type in FEED_FILES
    )
    items = "".join(f'<li><a href="{name}">{name}</a></li>\n' for name, _ in FEED_FILES)
    return (
        f'<!doctype html>\n<html lang="{escape(config.site.language)}">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{title}: feeds</title>\n{alternates}</head>\n'
        f"<body>\n<h1>{title}</h1>\n<ul>\n{items}</ul>\n</body>\n</html>\n"
    ).encode()


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


def _plain(status: int, text: bytes) -> tuple[int, tuple[Header, ...], bytes]:
    body = text + b"\n"
    headers = (
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode("ascii")),
    )
    return status, headers, body


def _log_access(scope: Scope, status: int, size: int) -> None:
    client = scope.get("client")
    target = scope.get("raw_path", b"") + (
        b"?" + scope["query_string"] if scope["query_string"] else b""
    )
    agent = next((value for name, value in scope["headers"] if name == b"user-agent"), b"-")
    access_log.info(
        '%s "%s %s HTTP/%s" %d %d "%s"',
        client[0] if client else "-",
        scope["method"],
        target.decode("latin-1").encode("ascii", "backslashreplace").decode("ascii"),
        scope["http_version"],
        status,
        size,
        agent.decode("latin-1").encode("ascii", "backslashreplace").decode("ascii"),
    )


def listen(bind: str) -> socket.socket:
    """A listening socket for ``host:port``; PublishError names the address if it is taken."""
    host, port = parse_bind(bind or DEFAULT_BIND)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise PublishError(bind or DEFAULT_BIND, f"cannot listen here ({exc})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PublishError(bind or DEFAULT_BIND, f"cannot listen here ({exc.strerror})") from None
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
    server = EmbeddedServer(
        uvicorn.Config(
            FeedApp(config),
            http=BoundedHttpTools,
            loop="none",
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        ),
        sock,
        limits,
    )
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
