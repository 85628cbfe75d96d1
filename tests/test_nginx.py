"""deploy/nginx.conf run by Debian's nginx on 127.0.0.1: the headers `feedsvc serve` sends."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from feedsvc.build import build
from feedsvc.config import Config, config_from_dict
from feedsvc.serve.app import link_header
from tests.servers import NginxServer, Site, free_port, raw_request

# The subscription feeds every site publishes (plan.subscription_feeds), as readers see them.
FEEDS = [
    ("rss.xml", "application/rss+xml"),
    ("atom.xml", "application/atom+xml"),
    ("feed.json", "application/feed+json"),
]

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


@pytest.fixture(scope="module")
def example_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The site deploy/nginx.conf is written for, with feeds built from a few articles."""
    root = tmp_path_factory.mktemp("nginx")
    site = Site(root, free_port())
    for day in range(1, 4):
        site.write_article(f"story-{day}", f"Story {day}", f"Body of story {day}. " * 40, day)
    config = config_from_dict(
        {
            "site": {"title": "Example News", "url": "https://news.example.org/"},
            "articles": {"dir": str(site.articles)},
            "feeds": {"output": str(site.output)},
            "ping": {"websub_hubs": ["https://pubsubhubbub.appspot.com/"]},
            "serve": {"max_age_s": 300},
        },
        root,
    )
    build(config)
    return config


@pytest.fixture(scope="module")
def nginx(example_config: Config) -> Iterator[NginxServer]:
    run = example_config.feeds.output.parent / "nginx-run"
    server = NginxServer(NGINX, example_config.feeds.output, free_port(), run)
    yield server
    server.stop()


@pytest.fixture
def client(nginx: NginxServer) -> Iterator[httpx.Client]:
    base = f"http://127.0.0.1:{nginx.port}"
    with httpx.Client(base_url=base, headers={"Accept-Encoding": "identity"}) as c:
        yield c


@pytest.mark.parametrize(("name", "media_type"), list(FEEDS))
def test_nginx_sends_the_headers_feedsvc_serve_sends(
    client: httpx.Client, example_config: Config, name: str, media_type: str
) -> None:
    response = client.get(f"/{name}")
    assert response.status_code == 200
    assert response.content == (example_config.feeds.output / name).read_bytes()
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.headers["etag"].startswith('"')
    assert "last-modified" in response.headers
    assert response.headers["cache-control"] == f"max-age={example_config.serve.max_age_s}"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["link"] == link_header(example_config, name).decode()


@pytest.mark.parametrize("validator", ["if-none-match", "if-modified-since"])
def test_nginx_answers_304_with_etag_cache_control_and_vary(
    client: httpx.Client, validator: str
) -> None:
    first = client.get("/atom.xml")
    source = {"if-none-match": "etag", "if-modified-since": "last-modified"}[validator]
    response = client.get("/atom.xml", headers={validator: first.headers[source]})
    assert response.status_code == 304
    assert response.headers["etag"] == first.headers["etag"]
    assert response.headers["cache-control"] == first.headers["cache-control"]
    assert response.headers["vary"] == "Accept-Encoding"


def test_nginx_compresses_with_a_different_etag(nginx: NginxServer, example_config: Config) -> None:
    request = (
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nAccept-Encoding: %s\r\nConnection: close\r\n\r\n"
    )
    plain = raw_request(nginx.port, request % b"identity")
    compressed = raw_request(nginx.port, request % b"gzip")
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert compressed.headers["etag"] != plain.headers["etag"]
    body = compressed.body
    if compressed.headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    assert gzip.decompress(body) == (example_config.feeds.output / "rss.xml").read_bytes()


def test_nginx_sends_precompressed_feeds_with_a_strong_etag(
    nginx: NginxServer, example_config: Config
) -> None:
    feed = example_config.feeds.output / "feed.json"
    precompressed = feed.with_name("feed.json.gz")
    encoded = gzip.compress(feed.read_bytes(), mtime=0)
    precompressed.write_bytes(encoded)
    try:
        request = b"GET /feed.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
        response = raw_request(nginx.port, request + b"Connection: close\r\n\r\n")
    finally:
        precompressed.unlink()
    assert response.headers["content-encoding"] == "gzip"
    assert response.body == encoded
    assert not response.headers["etag"].startswith("W/")


@pytest.mark.parametrize(
    "target",
    [b"/", b"/nothing.xml", b"/../nginx-run/nginx.conf", b"/%2e%2e/nginx-run/nginx.conf"]
    + [b"/.rss.xml.tmp", b"/rss.xml.gz"],
)
def test_nginx_serves_nothing_but_the_feeds(
    nginx: NginxServer, example_config: Config, target: bytes
) -> None:
    output = example_config.feeds.output
    (output / ".rss.xml.tmp").write_text("<half", encoding="utf-8")
    request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = raw_request(nginx.port, request)
    assert response.status in (400, 403, 404)
    assert b"<half" not in response.body


def test_nginx_refuses_a_feed_symlinked_out_of_the_directory(
    client: httpx.Client, example_config: Config
) -> None:
    feed = example_config.feeds.output / "feed.json"
    kept = feed.with_name("feed.json.kept")
    outside = feed.parent.parent / "secret.json"
    outside.write_text('{"secret": true}', encoding="utf-8")
    feed.rename(kept)
    try:
        feed.symlink_to(outside)
        response = client.get("/feed.json")
    finally:
        feed.unlink()
        kept.rename(feed)
    assert response.status_code in (403, 404)
    assert b"secret" not in response.content


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def test_a_build_with_gzip_copies_gives_nginx_a_strong_gzip_etag(
    nginx: NginxServer, example_config: Config
) -> None:
    build(replace(example_config, feeds=replace(example_config.feeds, gzip_copies=True)))
    try:
        request = b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
        response = raw_request(nginx.port, request + b"Connection: close\r\n\r\n")
        plain = raw_request(
            nginx.port, b"GET /atom.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    finally:
        build(example_config)  # turned off again: the copies go
    assert not (example_config.feeds.output / "atom.xml.gz").exists()
    assert response.headers["content-encoding"] == "gzip"
    assert not response.headers["etag"].startswith("W/")
    assert response.headers["etag"] != plain.headers["etag"]
    assert gzip.decompress(response.body) == plain.body
