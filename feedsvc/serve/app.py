"""The ASGI application: the files the output's manifest lists, and an index page, from memory.

Which paths exist is read from the manifest the build writes into the output directory, or,
for an output without one (written by an older feedsvc, or not built yet), from the plan's
subscription feeds. Every request stats the manifest, so a path a build adds is served, and a
path it drops is a 404, from the next request on.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from html import escape
from typing import Any

from feedsvc.config import Config
from feedsvc.iri import iri_to_uri
from feedsvc.model import NO_KEY, Artifact, ArtifactKind, FeedSpec, FileKey, file_key
from feedsvc.outputs.localdir import MANIFEST_NAME, read_manifest
from feedsvc.plan import subscription_feeds
from feedsvc.serve.files import Header, ServedFile, Version, content_digest, make_version
from feedsvc.serve.negotiation import evaluate, negotiate, request_fields
from feedsvc.serve.ratelimit import PollLimit

ALLOWED = b"GET, HEAD"
# type/subtype, as a header value may carry it: nothing a manifest says can split a header.
MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+")
access_log = logging.getLogger("feedsvc.access")
log = logging.getLogger("feedsvc.serve")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
# What a manifest lists, or the plan when there is none: each has a path, media_type and kind.
Listed = Artifact | FeedSpec


class FeedSet:
    """The paths served, each with its file, kept in step with the output's manifest.

    ``refresh`` costs one stat while the manifest is unchanged. A file still listed with the
    same headers keeps its cached versions across a reload.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.output = config.feeds.output
        self.manifest_path = os.path.join(self.output, MANIFEST_NAME)
        self.common: tuple[Header, ...] = (
            (b"cache-control", f"max-age={config.serve.max_age_s}".encode("ascii")),
            (b"vary", b"Accept-Encoding"),
            (b"x-content-type-options", b"nosniff"),
        )
        self.files: dict[str, ServedFile] = {}
        self.index: Version | None = None
        self._manifest_key: FileKey | None = NO_KEY
        self.refresh()

    def refresh(self) -> None:
        """Reload the paths served when the manifest is not the one read last."""
        try:
            key: FileKey | None = file_key(os.stat(self.manifest_path))
        except OSError:
            key = None
        if key == self._manifest_key:
            return
        manifest = read_manifest(self.output) if key is not None else None
        # A manifest there but unreadable (short of descriptors, or not one) is read again at
        # the next request; meanwhile, and without one, the plan says what is served.
        self._manifest_key = NO_KEY if key is not None and manifest is None else key
        listed = manifest.artifacts if manifest is not None else subscription_feeds(self.config)
        servable = [item for item in listed if _is_servable(item)]
        files = {}
        for item in servable:
            headers = (
                (b"content-type", f"{item.media_type}; charset=utf-8".encode("ascii")),
                *self.common,
                (b"link", link_header(self.config, item.path)),
            )
            route = f"/{item.path}"
            kept = self.files.get(route)
            files[route] = (
                kept
                if kept is not None and kept.headers == headers
                else ServedFile(self.output / item.path, self.output, headers)
            )
        self.files = files
        page = index_page(
            self.config, [item for item in servable if item.kind is ArtifactKind.SUBSCRIPTION]
        )
        if self.index is None or self.index.digest != content_digest(page):
            self.index = make_version(
                page,
                int(time.time()),
                ((b"content-type", b"text/html; charset=utf-8"), *self.common),
            )


class FeedApp:
    """The ASGI application: the listed feed files and an index page, and nothing else."""

    def __init__(self, config: Config) -> None:
        self.feeds = FeedSet(config)
        per_minute = config.serve.max_requests_per_minute
        self.limit = PollLimit(per_minute) if per_minute else None

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
        self.feeds.refresh()
        served = self.feeds.files.get(path)
        try:
            version = self.feeds.index if path == "/" else served.current() if served else None
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


def link_header(config: Config, path: str) -> bytes:
    """WebSub discovery (W3C WebSub 4): each hub, then exactly one self, rels quoted."""
    links = [f'<{hub}>; rel="hub"' for hub in config.ping.websub_hubs]
    links.append(f'<{iri_to_uri(config.feed_url(path))}>; rel="self"')
    return ", ".join(links).encode("ascii")


def index_page(config: Config, feeds: Sequence[Listed]) -> bytes:
    """A small page listing ``feeds``, with autodiscovery ``<link rel="alternate">`` tags."""
    title = escape(config.site.title)
    alternates = "".join(
        f'<link rel="alternate" type="{feed.media_type}" title="{title} ({escape(feed.path)})"'
        f' href="{escape(feed.path)}">\n'
        for feed in feeds
    )
    items = "".join(
        f'<li><a href="{escape(feed.path)}">{escape(feed.path)}</a></li>\n' for feed in feeds
    )
    return (
        f'<!doctype html>\n<html lang="{escape(config.site.language)}">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{title}: feeds</title>\n{alternates}</head>\n'
        f"<body>\n<h1>{title}</h1>\n<ul>\n{items}</ul>\n</body>\n</html>\n"
    ).encode()


def _is_servable(item: Listed) -> bool:
    """A path below the output (no empty, "." or ".." part) with a type a header can carry."""
    parts = item.path.split("/")
    return (
        all(part not in ("", ".", "..") and "\0" not in part for part in parts)
        and MEDIA_TYPE.fullmatch(item.media_type) is not None
    )


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
