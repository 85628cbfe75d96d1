"""A real HTTP proxy on 127.0.0.1 in front of a real S3 store that answers some requests with
the store's own kinds of failure (503 SlowDown, 500, an expired token) before passing the
rest on unchanged (the Host header too, which the request's signature covers)."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

FAILURES = {
    "SlowDown": (503, "Please reduce your request rate."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "ExpiredToken": (400, "The provided token has expired."),
}


@dataclass
class Faults:
    """Which requests fail: those of ``method`` (any, when empty) whose path ends with
    ``path``, answered with ``code`` ``times`` times (forever when None); what was asked and
    answered is kept."""

    code: str = ""
    method: str = ""
    path: str = ""
    times: int | None = 0
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failing(self, method: str, path: str) -> str:
        """The failure to answer ``method`` at ``path`` with now, or "" to pass it on."""
        with self.lock:
            if not self.code or (self.method and method != self.method):
                return ""
            if not urlsplit(path).path.endswith(self.path):
                return ""
            if self.times is not None:
                if self.times <= 0:
                    return ""
                self.times -= 1
            return self.code

    def answered(self, status: int, method: str = "") -> int:
        return sum(1 for m, _, s in self.seen if s == status and (not method or m == method))


@contextmanager
def failing_proxy(endpoint_url: str, faults: Faults) -> Iterator[str]:
    """A proxy to the store at ``endpoint_url`` failing as ``faults`` says; yields its URL."""
    target = urlsplit(endpoint_url)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            code = faults.failing(self.command, self.path)
            if code:
                status, message = FAILURES[code]
                self._answer(status, _error(code, message), {"Content-Type": "application/xml"})
                return
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True)
                for name, value in self.headers.items():
                    if name.lower() not in ("connection", "proxy-connection"):
                        upstream.putheader(name, value)
                upstream.endheaders(body or None)
                response = upstream.getresponse()
                content = response.read()
                # A HEAD's Content-Length is the object's: passed on as it is.
                dropped = {"connection", "transfer-encoding"}
                if self.command != "HEAD":
                    dropped.add("content-length")
                headers = {
                    name: value
                    for name, value in response.getheaders()
                    if name.lower() not in dropped
                }
                self._answer(response.status, content, headers)
            finally:
                upstream.close()

        def _answer(self, status: int, content: bytes, headers: dict[str, str]) -> None:
            faults.seen.append((self.command, self.path, status))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _error(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()
