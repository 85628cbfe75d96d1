"""Real peers on 127.0.0.1 for the ping and daemon tests: endpoints that record what they get
(and misbehave on request), one that never answers, a stdlib XML-RPC ping service, a
flask-websub hub and subscriber, and a static server for the published feeds."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import xmlrpc.server
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

DEADLINE_S = 10.0


def wait_until(condition: Callable[[], object], timeout: float = DEADLINE_S) -> object:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@dataclass
class Recorder:
    """What an endpoint received, and the answers it gives in turn (the last one repeats)."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    hang_s: float = 0.0
    requests: list[dict[str, object]] = field(default_factory=list)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        index = min(len(self.requests) - 1, len(self.answers) - 1)
        return self.answers[index] if self.answers else (202, {}, b"")


@dataclass
class Silent:
    """An endpoint that hangs: where it listens, and when it accepted each connection."""

    url: str
    accepted: list[float] = field(default_factory=list)


@contextmanager
def silent_endpoint() -> Iterator[Silent]:
    """An endpoint that accepts every connection and never answers (a hub that hangs); the
    connections stay open until the block ends."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    peer = Silent(f"http://127.0.0.1:{server.getsockname()[1]}/")
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            peer.accepted.append(time.monotonic())
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        done.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


@contextmanager
def endpoint(recorder: Recorder, port: int = 0) -> Iterator[str]:
    """An HTTP endpoint that records each POST (path, headers, form, body) and answers as told;
    on ``port`` when given (a peer that comes up where it was down)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            recorder.requests.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "form": parse_qs(body.decode("utf-8", "replace")),
                    "body": body,
                    "at": time.monotonic(),
                }
            )
            if recorder.hang_s:
                time.sleep(recorder.hang_s)
            status, headers, content = recorder.answer()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            try:
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as it should

        def log_message(self, *args: object) -> None:
            pass

    with _serving(http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)) as url:
        yield url


def xmlrpc_answer(flerror: bool, message: str) -> bytes:
    """The XML-RPC response body a weblogUpdates service sends."""
    import xmlrpc.client

    answer = ({"flerror": flerror, "message": message},)
    return xmlrpc.client.dumps(answer, methodresponse=True).encode("utf-8")


@contextmanager
def ping_service(calls: list[tuple[str, tuple]], extended: bool = True) -> Iterator[str]:
    """A weblogUpdates XML-RPC service (stdlib), recording its calls; ``extended=False``
    offers only weblogUpdates.ping."""
    server = xmlrpc.server.SimpleXMLRPCServer(("127.0.0.1", 0), logRequests=False, allow_none=True)

    def ping(*args: str) -> dict[str, object]:
        calls.append(("weblogUpdates.ping", args))
        return {"flerror": False, "message": "Thanks for the ping."}

    def extended_ping(*args: str) -> dict[str, object]:
        calls.append(("weblogUpdates.extendedPing", args))
        return {"flerror": False, "message": "Thanks for the extended ping."}

    server.register_function(ping, "weblogUpdates.ping")
    if extended:
        server.register_function(extended_ping, "weblogUpdates.extendedPing")
    with _serving(server) as url:
        yield url + "RPC2"


@contextmanager
def feed_server(directory: Path, hub_url: str) -> Iterator[str]:
    """Serve ``directory`` with the WebSub Link header a hub needs to fetch a topic."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def end_headers(self) -> None:
            self_url = f"http://{self.headers['Host']}{self.path}"
            self.send_header("Link", f'<{hub_url}>; rel="hub", <{self_url}>; rel="self"')
            super().end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with _serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as url:
        yield url


@dataclass
class WebSub:
    """A flask-websub hub and a subscriber on one local server; ``received`` holds the
    bodies the hub pushed to the subscriber, by topic."""

    url: str
    hub_url: str
    app: object
    subscriber: object
    received: dict[str, list[bytes]] = field(default_factory=dict)
    subscribed: list[str] = field(default_factory=list)

    def subscribe(self, topic: str) -> None:
        with self.app.test_request_context():
            self.subscriber.subscribe(topic_url=topic, hub_url=self.hub_url)
        wait_until(lambda: topic in self.subscribed)


@contextmanager
def websub(tmp_path: Path) -> Iterator[WebSub]:
    """flask-websub's hub (Celery in eager mode: no broker) and subscriber on 127.0.0.1."""
    from celery import Celery
    from flask import Flask
    from flask_websub.hub import Hub, SQLite3HubStorage
    from flask_websub.subscriber import (
        SQLite3SubscriberStorage,
        SQLite3TempSubscriberStorage,
        Subscriber,
    )
    from werkzeug.serving import make_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = Flask("websub-peer")
    app.config.update(SERVER_NAME=f"127.0.0.1:{port}", PUBLISH_SUPPORTED=True)
    celery = Celery("websub-peer", set_as_current=False)
    celery.conf.update(task_always_eager=True, task_eager_propagates=True)
    hub = Hub(SQLite3HubStorage(str(tmp_path / "hub.sqlite")), celery, REQUEST_TIMEOUT=3)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))
    subscriber = Subscriber(
        SQLite3SubscriberStorage(str(tmp_path / "subscriber.sqlite")),
        SQLite3TempSubscriberStorage(str(tmp_path / "subscriber-temp.sqlite")),
    )
    app.register_blueprint(subscriber.build_blueprint(url_prefix="/callbacks"))
    peer = WebSub(f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/hub", app, subscriber)

    @subscriber.add_success_handler
    def on_success(topic: str, callback_id: str, mode: str) -> None:
        peer.subscribed.append(topic)

    @subscriber.add_listener
    def on_push(topic: str, callback_id: str, body: bytes) -> None:
        peer.received.setdefault(topic, []).append(body)

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        thread.join()


@contextmanager
def _serving(server: http.server.HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
