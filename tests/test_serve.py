"""`feedsvc serve` as a process on 127.0.0.1: headers, conditional GET, codings, bad requests."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from email.utils import formatdate, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import brotli
import httpx
import pytest

from feedsvc.model import ATOM_TYPE, RSS_TYPE, Artifact, ArtifactKind, Manifest
from feedsvc.outputs.base import Put, manifest_to_json
from feedsvc.outputs.localdir import MANIFEST_NAME, LocalDirSink
from feedsvc.serve.bind import parse_bind
from feedsvc.serve.ratelimit import PollLimit
from feedsvc.serve.server import serve_feeds
from tests.servers import HUB, FeedsvcServer, Site, free_port, raw_request, wait_for_port

# The subscription feeds every site publishes (plan.subscription_feeds), as readers see them.
FEEDS = [
    ("rss.xml", "application/rss+xml"),
    ("atom.xml", "application/atom+xml"),
    ("feed.json", "application/feed+json"),
]
FEED_NAMES = [name for name, _ in FEEDS]


def publish_one(path: Path, content: bytes) -> None:
    """Replace one published file as a build does: atomically."""
    media_type = dict(FEEDS)[path.name]
    LocalDirSink(path.parent).put([Put(path.name, content, media_type)])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    site = Site(tmp_path_factory.mktemp("serve"), free_port())
    for day in range(1, 4):
        site.write_article(f"story-{day}", f"Story {day}", f"Body of story {day}. " * 40, day)
    site.publish()
    return site


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[FeedsvcServer]:
    server = FeedsvcServer(site)
    yield server
    server.stop()


@pytest.fixture
def client(server: FeedsvcServer) -> Iterator[httpx.Client]:
    # httpx would decompress and ask for gzip itself: each test says what it accepts.
    with httpx.Client(base_url=server.site.url, headers={"Accept-Encoding": "identity"}) as c:
        yield c


@pytest.mark.parametrize(("name", "media_type"), list(FEEDS))
def test_feed_is_served_with_its_type_validators_and_links(
    client: httpx.Client, site: Site, name: str, media_type: str
) -> None:
    response = client.get(f"/{name}")
    assert response.status_code == 200
    assert response.content == (site.output / name).read_bytes()
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert int(modified.timestamp()) == int((site.output / name).stat().st_mtime)
    assert response.headers["cache-control"] == f"max-age={site.max_age_s}"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["link"] == f'<{HUB}>; rel="hub", <{site.url}{name}>; rel="self"'
    assert response.headers["content-length"] == str(len(response.content))


def test_head_has_the_headers_of_get_and_no_body(server: FeedsvcServer) -> None:
    request = b"%s /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    get = raw_request(server.site.port, request % b"GET")
    head = raw_request(server.site.port, request % b"HEAD")
    assert head.status == 200 and head.body == b""
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in get.headers.items() if k != "date"
    }


@pytest.mark.parametrize("name", FEED_NAMES)
def test_matching_if_none_match_gives_304_with_cache_headers(
    client: httpx.Client, name: str
) -> None:
    etag = client.get(f"/{name}").headers["etag"]
    response = client.get(f"/{name}", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"].startswith("max-age=")
    assert response.headers["vary"] == "Accept-Encoding"
    assert "content-type" not in response.headers


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ('"other", {etag}', 304),
        ("W/{etag}", 304),  # If-None-Match compares weakly
        ("*", 304),
        ('"other"', 200),
        ("not-quoted", 200),
    ],
)
def test_if_none_match_lists(client: httpx.Client, if_none_match: str, status: int) -> None:
    etag = client.get("/atom.xml").headers["etag"]
    response = client.get("/atom.xml", headers={"If-None-Match": if_none_match.format(etag=etag)})
    assert response.status_code == status


def test_if_none_match_wins_over_if_modified_since(client: httpx.Client) -> None:
    first = client.get("/rss.xml")
    future = formatdate(parsedate_to_datetime(first.headers["last-modified"]).timestamp() + 3600)
    stale = client.get("/rss.xml", headers={"If-None-Match": '"old"', "If-Modified-Since": future})
    assert stale.status_code == 200
    fresh = client.get(
        "/rss.xml",
        headers={"If-None-Match": first.headers["etag"], "If-Modified-Since": formatdate(0)},
    )
    assert fresh.status_code == 304


@pytest.mark.parametrize(("offset_s", "status"), [(0, 304), (3600, 304), (-3600, 200), (None, 200)])
def test_if_modified_since_alone(client: httpx.Client, offset_s: int | None, status: int) -> None:
    modified = parsedate_to_datetime(client.get("/feed.json").headers["last-modified"])
    since = "yesterday-ish" if offset_s is None else formatdate(modified.timestamp() + offset_s)
    response = client.get("/feed.json", headers={"If-Modified-Since": since})
    assert response.status_code == status


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0, gzip;q=0", None),
        ("*", "br"),
        ("identity", None),
        ("", None),
        ("gzip;q=bogus, br;q=7", None),
    ],
)
def test_content_coding_is_negotiated(
    server: FeedsvcServer, site: Site, accept: str, coding: str | None
) -> None:
    request = f"GET /rss.xml HTTP/1.1\r\nHost: x\r\nAccept-Encoding: {accept}\r\n"
    response = raw_request(site.port, request.encode() + b"Connection: close\r\n\r\n")
    assert response.status == 200
    assert response.headers.get("content-encoding") == coding
    assert response.headers["vary"] == "Accept-Encoding"
    decode = {None: bytes, "gzip": gzip.decompress, "br": brotli.decompress}[coding]
    assert decode(response.body) == (site.output / "rss.xml").read_bytes()


def test_each_coding_has_its_own_etag_and_304(client: httpx.Client) -> None:
    etags = {
        accept: client.get("/atom.xml", headers={"Accept-Encoding": accept}).headers["etag"]
        for accept in ("identity", "gzip", "br")
    }
    assert len(set(etags.values())) == 3
    for accept, etag in etags.items():
        same = client.get("/atom.xml", headers={"Accept-Encoding": accept, "If-None-Match": etag})
        assert same.status_code == 304 and same.headers["etag"] == etag
    other = client.get(
        "/atom.xml", headers={"Accept-Encoding": "gzip", "If-None-Match": etags["identity"]}
    )
    assert other.status_code == 200 and other.headers["content-encoding"] == "gzip"


def test_index_page_lists_feeds_with_autodiscovery(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"

    class Links(HTMLParser):
        alternates: dict[str, str] = {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            attributes = dict(attrs)
            if tag == "link" and attributes.get("rel") == "alternate":
                self.alternates[attributes["type"]] = attributes["href"]

    parser = Links()
    parser.feed(response.text)
    assert set(parser.alternates) == {media_type for _, media_type in FEEDS}
    for media_type, href in parser.alternates.items():
        feed = client.get(str(response.url.join(href)))
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith(media_type)


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"])
def test_other_methods_get_405_with_allow(server: FeedsvcServer, method: bytes) -> None:
    request = method + b" /rss.xml HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
    response = raw_request(server.site.port, request + b"Connection: close\r\n\r\n")
    assert response.status == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        b"/nothing.xml",
        b"/rss.xml/",
        b"//rss.xml",
        b"/public/rss.xml",
        b"/../feedsvc.toml",
        b"/%2e%2e/feedsvc.toml",
        b"/%2E%2E%2Ffeedsvc.toml",
        b"/..%2ffeedsvc.toml",
        b"/articles/",
        b"/feedsvc.toml",
        b"/serve.log",
        b"/.rss.xml.tmp",
        b"/rss.xml%00",
        b"/index.html",
    ],
)
def test_nothing_but_the_feeds_is_reachable(server: FeedsvcServer, target: bytes) -> None:
    request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = raw_request(server.site.port, request)
    assert response.status in (400, 404)
    assert b"[site]" not in response.body and b"<li>" not in response.body


def test_symlink_pointing_out_of_the_output_is_not_followed(
    client: httpx.Client, site: Site
) -> None:
    outside = site.root / "secret.xml"
    outside.write_text("<secret/>", encoding="utf-8")
    feed = site.output / "feed.json"
    kept = site.root / "feed.json.kept"
    feed.rename(kept)
    try:
        feed.symlink_to(outside)
        assert client.get("/feed.json").status_code == 404
    finally:
        feed.unlink()
        kept.rename(feed)
    assert client.get("/feed.json").status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /rss.xml HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nBad\x00Name: y\r\n\r\n",
        b"GET /rss.xml HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"GET /rss.xml HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n",
    ],
    ids=["garbage", "no-colon", "nul-in-name", "bad-version", "huge-header", "many-headers"],
)
def test_malformed_requests_are_refused_and_the_server_carries_on(
    server: FeedsvcServer, request_bytes: bytes
) -> None:
    try:
        response = raw_request(server.site.port, request_bytes)
    except (BrokenPipeError, ConnectionResetError):
        response = None
    assert response is None or response.status in (400, 413, 431)
    after = raw_request(
        server.site.port, b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert after.status == 200


def test_replaced_feed_is_served_from_the_next_request(client: httpx.Client, site: Site) -> None:
    before = client.get("/atom.xml")
    original = (site.output / "atom.xml").read_bytes()
    try:
        publish_one(site.output / "atom.xml", original.replace(b"Loopback News", b"Replaced"))
        after = client.get("/atom.xml", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert b"Replaced" in after.content and after.headers["etag"] != before.headers["etag"]
    finally:
        publish_one(site.output / "atom.xml", original)
    assert client.get("/atom.xml").headers["etag"] == before.headers["etag"]


def test_missing_feed_is_404_until_it_is_written(client: httpx.Client, site: Site) -> None:
    feed = site.output / "rss.xml"
    content = feed.read_bytes()
    feed.unlink()
    try:
        assert client.get("/rss.xml").status_code == 404
    finally:
        publish_one(feed, content)
    assert client.get("/rss.xml").content == content


def test_each_request_writes_one_access_log_line(server: FeedsvcServer) -> None:
    marker = "access-log-probe"
    with httpx.Client(base_url=server.site.url) as c:
        for path in ("/rss.xml", "/atom.xml", "/nope"):
            c.get(path, headers={"User-Agent": marker})
        c.post("/rss.xml", headers={"User-Agent": marker})
    lines = [line for line in server.log.splitlines() if marker in line]
    assert len(lines) == 4
    assert '"GET /rss.xml HTTP/1.1" 200' in lines[0]
    assert '"GET /nope HTTP/1.1" 404' in lines[2]
    assert '"POST /rss.xml HTTP/1.1" 405' in lines[3]


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    site = Site(tmp_path, free_port())
    site.write_article("only", "Only", "Text", 1)
    site.publish()
    server = FeedsvcServer(site)
    assert server.stop(signal.SIGTERM) == 0


def test_taken_address_is_a_one_line_error(server: FeedsvcServer, tmp_path: Path) -> None:
    site = Site(tmp_path, server.site.port)
    result = subprocess.run(
        [sys.executable, "-m", "feedsvc", "serve", "--config", str(site.config_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"feedsvc: error: 127.0.0.1:{server.site.port}: cannot listen here")
    )


def test_serve_feeds_runs_in_the_callers_loop_until_stop(site: Site, tmp_path: Path) -> None:
    config = replace(Site(tmp_path, free_port()).config, feeds=site.config.feeds)

    async def scenario() -> tuple[int, object]:
        stop = asyncio.Event()
        handler = signal.getsignal(signal.SIGINT)
        task = asyncio.create_task(serve_feeds(config, stop))
        await asyncio.to_thread(wait_for_port, parse_bind(config.serve.bind)[1])
        async with httpx.AsyncClient() as c:
            status = (await c.get(f"http://{config.serve.bind}/rss.xml")).status_code
        unchanged = signal.getsignal(signal.SIGINT) is handler
        stop.set()
        await asyncio.wait_for(task, 10)
        return status, unchanged

    assert asyncio.run(scenario()) == (200, True)


def test_a_client_polling_too_often_is_told_when_to_come_back(tmp_path: Path) -> None:
    site = Site(tmp_path, free_port(), max_requests_per_minute=3)
    site.write_article("story", "Story", "Body.", 1)
    site.publish()
    server = FeedsvcServer(site)
    try:
        with httpx.Client(base_url=site.url) as polling:
            statuses = [polling.get("/rss.xml").status_code for _ in range(3)]
            refused = polling.get("/rss.xml")
            index = polling.get("/")
    finally:
        server.stop()
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429 and index.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert '" 429 ' in server.log


def test_the_poll_limit_counts_per_client_per_minute() -> None:
    now = [1000.0]
    limit = PollLimit(2, clock=lambda: now[0])
    assert [limit.retry_after("a"), limit.retry_after("a"), limit.retry_after("b")] == [None] * 3
    assert limit.retry_after("a") == 60
    now[0] += 45
    assert limit.retry_after("a") == 15
    now[0] += 15
    assert limit.retry_after("a") is None  # a new minute


def listed(output: Path, path: str, media_type: str, kind: ArtifactKind) -> Artifact:
    """The artifact a manifest lists for the file at ``path`` below ``output``."""
    content = (output / path).read_bytes()
    return Artifact(path, media_type, kind, hashlib.sha256(content).hexdigest(), len(content))


def write_manifest(output: Path, *artifacts: Artifact) -> None:
    """Replace the output's manifest atomically, as a build does."""
    temporary = output / f"{MANIFEST_NAME}.tmp"
    temporary.write_bytes(manifest_to_json(Manifest(artifacts)))
    os.replace(temporary, output / MANIFEST_NAME)


@pytest.fixture
def topic_site(tmp_path: Path) -> Site:
    """A published site with a tag feed beside the subscription feeds, not yet in a manifest."""
    site = Site(tmp_path, free_port())
    site.write_article("story", "Story", "Body of the story.", 1)
    site.publish()
    (site.output / "tags" / "x").mkdir(parents=True)
    (site.output / "tags" / "x" / "rss.xml").write_bytes((site.output / "rss.xml").read_bytes())
    return site


def test_an_artifact_the_manifest_lists_is_served_with_its_type_and_link(
    topic_site: Site,
) -> None:
    site = topic_site
    server = FeedsvcServer(site)
    try:
        with httpx.Client(base_url=site.url, headers={"Accept-Encoding": "identity"}) as c:
            unlisted = c.get("/tags/x/rss.xml")
            write_manifest(
                site.output,
                listed(site.output, "rss.xml", RSS_TYPE, ArtifactKind.SUBSCRIPTION),
                listed(site.output, "atom.xml", ATOM_TYPE, ArtifactKind.SUBSCRIPTION),
                listed(site.output, "tags/x/rss.xml", RSS_TYPE, ArtifactKind.TOPIC),
            )
            topic = c.get("/tags/x/rss.xml")
            index = c.get("/")
            json_feed = c.get("/feed.json")
    finally:
        server.stop()
    assert unlisted.status_code == 404
    assert topic.status_code == 200
    assert topic.content == (site.output / "tags" / "x" / "rss.xml").read_bytes()
    assert topic.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert topic.headers["link"] == f'<{HUB}>; rel="hub", <{site.url}tags/x/rss.xml>; rel="self"'
    assert topic.headers["cache-control"] == f"max-age={site.max_age_s}"
    assert 'href="rss.xml"' in index.text and 'href="atom.xml"' in index.text
    assert "tags/x" not in index.text  # the index lists subscription feeds only
    assert json_feed.status_code == 404  # on disk, but the manifest does not list it


def test_a_path_dropped_from_the_manifest_is_a_404(topic_site: Site) -> None:
    site = topic_site
    feeds = [listed(site.output, name, media, ArtifactKind.SUBSCRIPTION) for name, media in FEEDS]
    topic = listed(site.output, "tags/x/rss.xml", RSS_TYPE, ArtifactKind.TOPIC)
    write_manifest(site.output, *feeds, topic)
    server = FeedsvcServer(site)
    try:
        with httpx.Client(base_url=site.url) as c:
            served = [c.get(f"/{name}").status_code for name in (*FEED_NAMES, "tags/x/rss.xml")]
            write_manifest(site.output, feeds[0], feeds[2])
            dropped = [c.get(f"/{name}").status_code for name in (*FEED_NAMES, "tags/x/rss.xml")]
            (site.output / MANIFEST_NAME).unlink()  # no manifest: the plan's feeds
            planned = [c.get(f"/{name}").status_code for name in (*FEED_NAMES, "tags/x/rss.xml")]
    finally:
        server.stop()
    assert served == [200, 200, 200, 200]
    assert dropped == [200, 404, 200, 404]
    assert planned == [200, 200, 200, 404]


def test_a_manifest_path_out_of_the_output_is_not_served(topic_site: Site) -> None:
    site = topic_site
    secret = listed(site.root, "feedsvc.toml", "text/plain", ArtifactKind.TOPIC)
    escaping = [
        Artifact(f"../{secret.path}", secret.media_type, secret.kind, secret.digest, secret.size),
        Artifact("tags/x/rss.xml", "text/html\r\nx-injected: 1", ArtifactKind.TOPIC, "0", 0),
        listed(site.output, "rss.xml", RSS_TYPE, ArtifactKind.SUBSCRIPTION),
    ]
    write_manifest(site.output, *escaping)
    server = FeedsvcServer(site)
    try:
        targets = [b"/../feedsvc.toml", b"/%2e%2e/feedsvc.toml", b"/tags/x/rss.xml", b"/rss.xml"]
        responses = [
            raw_request(site.port, b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % t)
            for t in targets
        ]
    finally:
        server.stop()
    assert [response.status for response in responses] == [404, 404, 404, 200]
    assert all(b"[site]" not in response.body for response in responses)
