"""Every output [outputs] lists, as builds and `feedsvc publish` use them, against a real
SeaweedFS and real ping peers on 127.0.0.1: the local copy and the bucket hold the same
bytes, a file the bucket misses is caught up, and a publisher owes pings only for the objects
its own writes changed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from feedsvc.build import build
from feedsvc.catalog.records import read_pending
from feedsvc.config import Config, config_from_dict
from feedsvc.outputs.fanout import FanOut
from feedsvc.outputs.memory import MemorySink
from feedsvc.outputs.s3 import S3Sink
from feedsvc.outputs.targets import outputs
from tests.daemon_process import article
from tests.peers import Recorder, endpoint, ping_service
from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedServer
from tests.test_s3 import isolate_aws, site

FEEDS = ("rss.xml", "atom.xml", "feed.json")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The store's credentials in this process's environment (the AWS chain), and as an
    environment for a `feedsvc` process."""
    isolate_aws(monkeypatch, tmp_path)
    for name, value in credentials().items():
        monkeypatch.setenv(name, value)
    return {**os.environ}


def credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture
def hub() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder()
    with endpoint(recorder) as url:
        yield recorder, url


def settings(root: Path, articles: Path, bucket: str, prefix: str, endpoint_url: str) -> dict:
    """A publisher's configuration: its own output and state below ``root``, the shared
    articles and bucket."""
    return {
        "site": {"title": "Example News", "url": "https://news.example.org/"},
        "articles": {"dir": str(articles)},
        "feeds": {"output": str(root / "public"), "max_items": 5, "archive_page_size": 4},
        "state": {"dir": str(root / "state")},
        "outputs": {"s3": [{"url": f"s3://{bucket}/{prefix}", "endpoint_url": endpoint_url}]},
    }


def toml(data: dict) -> str:
    """``data`` (tables of strings, numbers, lists and arrays of tables) as TOML."""
    lines: list[str] = []
    for table, values in data.items():
        scalars = {k: v for k, v in values.items() if not isinstance(v, list | dict)}
        lines.append(f"[{table}]")
        lines += [f"{key} = {_value(value)}" for key, value in scalars.items()]
        for key, value in values.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    lines.append(f"[[{table}.{key}]]")
                    lines += [f"{k} = {_value(v)}" for k, v in item.items()]
            elif isinstance(value, list):
                lines.append(f"{key} = [{', '.join(_value(v) for v in value)}]")
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower()


def write_articles(directory: Path, count: int, start: int = 0) -> None:
    directory.mkdir(exist_ok=True)
    for number in range(start, start + count):
        day = 1 + number % 28
        (directory / f"story-{number:03d}.md").write_text(
            article(f"Story {number}", f"2025-{1 + number // 28:02d}-{day:02d} 09:00 UTC")
        )


def publish(config_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "feedsvc", "-v", "publish", "--config", str(config_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def bucket_files(sink: S3Sink) -> dict[str, bytes]:
    return {path: sink.read(path) or b"" for path in sink.list()}


def local_files(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.suffix != ".gz"
    }


def test_feedsvc_publish_brings_every_output_up_to_date_and_pings_each_change_once(
    seaweed: SeaweedServer,
    s3_bucket: str,
    s3_prefix: str,
    tmp_path: Path,
    aws: dict[str, str],
    hub: tuple[Recorder, str],
) -> None:
    recorder, hub_url = hub
    calls: list[tuple[str, tuple]] = []
    articles = tmp_path / "articles"
    write_articles(articles, 12)
    with ping_service(calls) as rpc_url:
        data = settings(tmp_path, articles, s3_bucket, s3_prefix, seaweed.endpoint_url)
        data["ping"] = {"websub_hubs": [hub_url], "xmlrpc": [rpc_url]}
        config_path = tmp_path / "feedsvc.toml"
        config_path.write_text(toml(data))
        sink = S3Sink(s3_bucket, s3_prefix, seaweed.client())

        first = publish(config_path, aws)
        assert first.returncode == 0, first.stderr
        assert f"s3://{s3_bucket}/{s3_prefix}" in first.stderr
        held = bucket_files(sink)
        assert held == local_files(tmp_path / "public")
        assert {"rss.xml", "atom.xml", "feed.json", "archive/rss/1.xml"} <= set(held)
        for path in ("rss.xml", "atom.xml"):
            parsed = feedparser.parse(held[path])
            assert not parsed.bozo and len(parsed.entries) == 5
        head = seaweed.client().head_object(Bucket=s3_bucket, Key=f"{s3_prefix}/atom.xml")
        assert head["ContentType"] == "application/atom+xml; charset=utf-8"
        assert head["CacheControl"].startswith("max-age=")
        topics = sorted(request["form"]["hub.url"][0] for request in recorder.requests)
        assert topics == sorted(f"https://news.example.org/{path}" for path in FEEDS)
        assert len(calls) == 1  # the ping service hears of the RSS feed once

        puts = seaweed.requests("PUT", s3_bucket)
        again = publish(config_path, aws)
        assert again.returncode == 0, again.stderr
        assert seaweed.requests("PUT", s3_bucket) == puts  # nothing changed: no upload
        assert len(recorder.requests) == 3 and len(calls) == 1

        # The bucket loses a feed (another tool, a lifecycle rule): the next publish puts it
        # back from what the local copy holds, and nothing else.
        seaweed.client().delete_object(Bucket=s3_bucket, Key=f"{s3_prefix}/rss.xml")
        puts = seaweed.requests("PUT", s3_bucket)
        caught_up = publish(config_path, aws)
        assert caught_up.returncode == 0, caught_up.stderr
        assert bucket_files(sink) == local_files(tmp_path / "public")
        assert seaweed.requests("PUT", s3_bucket) == puts + 2  # rss.xml and the index

        write_articles(articles, 1, start=40)
        newer = publish(config_path, aws)
        assert newer.returncode == 0, newer.stderr
        assert "Story 40" in (sink.read("rss.xml") or b"").decode()
        assert bucket_files(sink) == local_files(tmp_path / "public")
        assert len(recorder.requests) == 3 + 1 + 3  # rss.xml's return, then each feed
        assert read_pending(tmp_path / "state" / "state.sqlite3") == []


def test_a_publisher_owes_no_ping_for_what_another_wrote_while_it_was_publishing(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str, tmp_path: Path, aws: dict[str, str]
) -> None:
    """B lists the bucket, then A publishes the same articles before B's first upload: B's
    conditional writes find A's identical objects, so B wrote nothing and takes back the pings
    it had owed; A owes one per feed."""
    articles = tmp_path / "articles"
    write_articles(articles, 12)

    def publisher(name: str) -> Config:
        data = settings(tmp_path / name, articles, s3_bucket, s3_prefix, seaweed.endpoint_url)
        data["ping"] = {"websub_hubs": ["http://127.0.0.1:9/hub"]}  # owed, never sent here
        return config_from_dict(data, tmp_path)

    first, second = publisher("a"), publisher("b")
    late = outputs(second)
    assert isinstance(late, FanOut)
    raced: list[bool] = []
    lock = threading.Lock()  # B's uploads run on several threads: all wait for A

    def the_other_publishes_first(**_: object) -> None:
        with lock:
            if not raced:
                raced.append(True)
                assert build(first).manifest.changed

    late.public[0].client.meta.events.register(
        "before-call.s3.PutObject", the_other_publishes_first
    )
    result = build(second, sink=late)
    assert raced
    assert result.manifest.changed == ()
    assert read_pending(second.state_path) == []
    assert sorted(message.topic for message in read_pending(first.state_path)) == sorted(
        f"https://news.example.org/{path}" for path in FEEDS
    )
    ours = S3Sink(s3_bucket, s3_prefix, seaweed.client())
    assert bucket_files(ours) == local_files(tmp_path / "b" / "public")


def test_a_fan_out_counts_as_published_only_what_every_output_holds() -> None:
    local, bucket = MemorySink(), MemorySink()
    both = FanOut([local], [bucket])
    files = site()
    assert both.put(files) == [put.path for put in files]
    assert set(both.list()) == {put.path for put in files}
    bucket.delete(["rss.xml"])
    assert "rss.xml" not in both.list()  # made again by the next publish, and caught up
    assert both.put(files) == ["rss.xml"]
    assert local.files == bucket.files
    assert both.read("rss.xml") == bucket.files["rss.xml"]
    assert both.delete(["tags/x/atom.xml"]) == ["tags/x/atom.xml"]
    assert "tags/x/atom.xml" not in local.files and "tags/x/atom.xml" not in bucket.files
