"""The address to listen at, parsed without loading a web server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from feedsvc.errors import ConfigError
from feedsvc.serve.bind import parse_bind


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:8443", ("::1", 8443)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
    ],
)
def test_bind_is_host_and_port(bind: str, expected: tuple[str, int]) -> None:
    assert parse_bind(bind) == expected


@pytest.mark.parametrize(
    "bind",
    [
        "8080",
        "127.0.0.1",
        "127.0.0.1:",
        ":8080",
        "::1:8080",
        "[127.0.0.1]:80",
        "h:0",
        "h:70000",
        "h:80a",
        "a b:80",
    ],
)
def test_bad_bind_is_a_config_error(bind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_bind(bind)
    assert caught.value.key == "serve.bind"


def test_reading_the_config_and_the_bind_loads_no_web_server() -> None:
    code = (
        "import sys, feedsvc.config, feedsvc.serve, feedsvc.serve.bind; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('uvicorn', 'uvloop')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
