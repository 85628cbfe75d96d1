"""serve/server.py against the installed uvicorn: the private API it builds on is still there, as
pinned in pyproject.toml; the limits it adds to httptools; and listening errors."""

from __future__ import annotations

import asyncio
import errno
import inspect
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from packaging.requirements import Requirement
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from feedsvc.config import config_from_dict
from feedsvc.errors import FeedsvcError, ServeError
from feedsvc.serve.app import FeedApp
from feedsvc.serve.server import (
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    BoundedHttpTools,
    listen,
    uvicorn_config,
)
from tests.servers import FeedsvcServer, Site, free_port, raw_request

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"
PIN = next(
    dependency
    for dependency in tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    if Requirement(dependency).name == "uvicorn"
)
# Each method serve/server.py overrides or calls, with the parameters it passes.
PRIVATE_METHODS = [
    (HttpToolsProtocol, "__init__", ["self", "config", "server_state", "app_state", "_loop"]),
    (HttpToolsProtocol, "connection_lost", ["self", "exc"]),
    (HttpToolsProtocol, "data_received", ["self", "data"]),
    (HttpToolsProtocol, "on_header", ["self", "name", "value"]),
    (HttpToolsProtocol, "on_headers_complete", ["self"]),
    (HttpToolsProtocol, "on_message_complete", ["self"]),
    (HttpToolsProtocol, "on_response_complete", ["self"]),
    (uvicorn.Server, "__init__", ["self", "config"]),
    (uvicorn.Server, "serve", ["self", "sockets"]),
    (uvicorn.Server, "startup", ["self", "sockets"]),
    (uvicorn.Server, "shutdown", ["self", "sockets"]),
    (uvicorn.Server, "capture_signals", ["self"]),
]


def require(condition: bool, what: str) -> None:
    """Fail naming the installed uvicorn and the range serve/server.py was checked against."""
    if not condition:
        pytest.fail(
            f"uvicorn {uvicorn.__version__}: {what}. feedsvc/serve/server.py relies on uvicorn's"
            f" internals as of {PIN!r} (pyproject.toml): check it against this version's source"
            " before changing the pin.",
            pytrace=False,
        )


def test_the_installed_uvicorn_is_in_the_pinned_range() -> None:
    require(Requirement(PIN).specifier.contains(uvicorn.__version__), "is outside the pinned range")


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    PRIVATE_METHODS,
    ids=[f"{owner.__name__}.{name}" for owner, name, _ in PRIVATE_METHODS],
)
def test_a_method_we_build_on_keeps_its_signature(
    owner: type, name: str, parameters: list[str]
) -> None:
    method = getattr(owner, name, None)
    require(callable(method), f"{owner.__qualname__}.{name} is gone")
    signature = inspect.signature(method)
    require(
        list(signature.parameters) == parameters,
        f"{owner.__qualname__}.{name}{signature} no longer takes ({', '.join(parameters)})",
    )


def test_the_state_we_read_is_where_we_read_it(tmp_path: Path) -> None:
    config = config_from_dict(
        {"site": {"title": "T", "url": "https://example.org/"}, "feeds": {"output": "public"}},
        tmp_path,
    )

    async def scenario() -> None:
        settings = uvicorn_config(FeedApp(config))
        settings.load()
        require(
            settings.http_protocol_class is BoundedHttpTools,
            "Config.load() no longer takes the protocol class from http=",
        )
        server = uvicorn.Server(settings)
        require(
            isinstance(getattr(server.server_state, "connections", None), set),
            "Server.server_state.connections is no longer the set of open protocols",
        )
        require(server.should_exit is False, "Server.should_exit is gone")
        state: Any = getattr(settings.lifespan_class(settings), "state", None)
        require(isinstance(state, dict), "the lifespan's state is no longer a dict")
        protocol = BoundedHttpTools(
            config=settings, server_state=server.server_state, app_state=state, release=lambda: None
        )
        require(
            protocol.loop is asyncio.get_running_loop(), "HttpToolsProtocol no longer sets .loop"
        )
        require(hasattr(protocol, "transport"), "HttpToolsProtocol no longer has .transport")

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeedsvcServer]:
    site = Site(tmp_path_factory.mktemp("limits"), free_port())
    site.write_article("story", "Story", "Body.", 1)
    site.publish()
    server = FeedsvcServer(site)
    yield server
    server.stop()


@pytest.mark.parametrize(("fields", "status"), [(MAX_HEADERS, 200), (MAX_HEADERS + 1, 400)])
def test_a_head_over_the_field_limit_gets_400(
    server: FeedsvcServer, fields: int, status: int
) -> None:
    # Host and Connection count too.
    extra = b"".join(b"X-%d: y\r\n" % n for n in range(fields - 2))
    request = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n"
    assert raw_request(server.site.port, request).status == status


@pytest.mark.parametrize(("size", "status"), [(MAX_HEAD_BYTES, 200), (MAX_HEAD_BYTES + 1, 431)])
def test_a_head_over_the_byte_limit_gets_431(server: FeedsvcServer, size: int, status: int) -> None:
    request = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
    request += b"a" * (size - len(request) - 4) + b"\r\n\r\n"
    assert raw_request(server.site.port, request).status == status


def test_a_taken_address_is_a_serve_error_with_the_os_error_kept() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ServeError) as caught:
            listen(bind)
    assert isinstance(caught.value, FeedsvcError) and caught.value.bind == bind
    assert str(caught.value) == f"{bind}: cannot listen here (Address already in use)"
    assert isinstance(caught.value.__context__, OSError)
    assert caught.value.__context__.errno == errno.EADDRINUSE
