"""The store failing as S3 stores do, through a real proxy in front of the real SeaweedFS
(tests/s3_proxy.py): throttling and 5xx are retried with backoff, then reported naming the
object; refused credentials are reported at once; a build keeps its local copy and the next
one catches the bucket up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from feedsvc.build import build
from feedsvc.catalog.records import read_pending, remove_pending
from feedsvc.config import S3OutputConfig, config_from_dict
from feedsvc.errors import PublishError
from feedsvc.outputs.fanout import FanOut
from feedsvc.outputs.localdir import LocalDirSink
from feedsvc.outputs.s3 import S3Sink
from feedsvc.outputs.targets import s3_client
from tests.s3_proxy import Faults, failing_proxy
from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedServer
from tests.test_outputs import aws, bucket_files, local_files, settings, write_articles
from tests.test_s3 import site

__all__ = ["aws"]  # the fixture, used by name


@pytest.fixture
def proxy(seaweed: SeaweedServer) -> Iterator[tuple[Faults, str]]:
    faults = Faults()
    with failing_proxy(seaweed.endpoint_url, faults) as url:
        yield faults, url


def through(url: str, max_attempts: int):  # noqa: ANN201 (a boto3 client)
    """A client as feedsvc makes one, talking to the store through the proxy at ``url``."""
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
    )
    target = S3OutputConfig("s3://feedsvc-probe", endpoint_url=url)
    return s3_client(target, session=session, max_attempts=max_attempts)


@pytest.mark.parametrize("code", ["SlowDown", "InternalError"])
def test_throttling_and_server_errors_are_retried_until_the_store_answers(
    proxy: tuple[Faults, str], s3_bucket: str, s3_prefix: str, code: str
) -> None:
    faults, url = proxy
    faults.code, faults.method, faults.times = code, "PUT", 2
    sink = S3Sink(s3_bucket, s3_prefix, through(url, max_attempts=5))
    files = site(pages=1)
    assert sink.put(files) == [put.path for put in files]
    assert faults.answered(503 if code == "SlowDown" else 500, "PUT") == 2
    assert bucket_files(sink) == {put.path: put.content for put in files}


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("SlowDown", "the store kept throttling, after retries"),
        ("InternalError", "the store kept failing, after retries"),
    ],
)
def test_a_store_failing_every_attempt_is_a_clear_error_after_max_attempts(
    proxy: tuple[Faults, str], s3_bucket: str, s3_prefix: str, code: str, reason: str
) -> None:
    faults, url = proxy
    sink = S3Sink(s3_bucket, s3_prefix, through(url, max_attempts=3))
    sink.list()
    faults.code, faults.method, faults.times = code, "PUT", None
    with pytest.raises(PublishError) as caught:
        sink.put(site(pages=1)[:1])
    expected = f"s3://{s3_bucket}/{s3_prefix}/rss.xml: cannot upload ({reason})"
    assert str(caught.value).startswith(expected)
    assert len([seen for seen in faults.seen if seen[0] == "PUT"]) == 3


def test_an_expired_token_is_reported_at_once_not_retried(
    proxy: tuple[Faults, str], s3_bucket: str, s3_prefix: str
) -> None:
    faults, url = proxy
    faults.code, faults.times = "ExpiredToken", None
    with pytest.raises(PublishError, match="the store refused the credentials"):
        S3Sink(s3_bucket, s3_prefix, through(url, max_attempts=5)).list()
    assert len(faults.seen) == 1


def test_a_build_keeps_its_local_copy_while_the_bucket_fails_and_the_next_catches_it_up(
    proxy: tuple[Faults, str],
    s3_bucket: str,
    s3_prefix: str,
    tmp_path: Path,
    aws: dict[str, str],  # noqa: ARG001 (the credentials, in the environment)
) -> None:
    faults, url = proxy
    articles = tmp_path / "articles"
    write_articles(articles, 6)
    data = settings(tmp_path, articles, s3_bucket, s3_prefix, url)
    config = config_from_dict(data, tmp_path)
    build(config)
    write_articles(articles, 1, start=30)
    faults.code, faults.method, faults.times = "InternalError", "PUT", None
    with pytest.raises(PublishError, match=rf"^s3://{s3_bucket}/{s3_prefix}/"):
        build(config)
    assert "Story 30" in (tmp_path / "public" / "rss.xml").read_text()  # the local copy
    sink = S3Sink(s3_bucket, s3_prefix, through(url, max_attempts=1))
    assert b"Story 30" not in (sink.read("rss.xml") or b"")
    faults.code = ""
    assert "rss.xml" in build(config).manifest.changed
    assert bucket_files(sink) == local_files(tmp_path / "public")


def test_a_publish_failing_part_way_owes_pings_only_for_the_objects_it_wrote(
    proxy: tuple[Faults, str],
    s3_bucket: str,
    s3_prefix: str,
    tmp_path: Path,
) -> None:
    faults, url = proxy
    articles = tmp_path / "articles"
    write_articles(articles, 6)
    data = settings(tmp_path, articles, s3_bucket, s3_prefix, url)
    data["ping"] = {"websub_hubs": ["http://127.0.0.1:9/hub"]}  # owed, never sent here
    config = config_from_dict(data, tmp_path)

    def outputs() -> FanOut:
        local = LocalDirSink(config.feeds.output)
        return FanOut([local], [S3Sink(s3_bucket, s3_prefix, through(url, max_attempts=1))])

    def owed() -> set[str]:
        return {message.topic for message in read_pending(config.state_path)}

    build(config, sink=outputs())
    for message in read_pending(config.state_path):
        remove_pending(config.state_path, message)  # as if sent
    write_articles(articles, 1, start=30)
    faults.code, faults.method, faults.times = "InternalError", "PUT", None
    faults.path = "/atom.xml"  # the Atom feed only; the archive pages before it go up
    with pytest.raises(PublishError) as caught:
        build(config, sink=outputs())
    assert caught.value.target == f"s3://{s3_bucket}/{s3_prefix}/atom.xml"
    assert caught.value.manifest is not None
    changed = set(caught.value.manifest.changed)
    assert {path for path in changed if not path.startswith("archive/")} == {"rss.xml", "feed.json"}
    site = "https://news.example.org/"
    assert owed() == {f"{site}rss.xml", f"{site}feed.json"}  # not atom.xml: not written
    assert "Story 30" in (tmp_path / "public" / "atom.xml").read_text()  # the local copy

    faults.code = ""
    assert build(config, sink=outputs()).manifest.changed == ("atom.xml",)
    assert owed() == {f"{site}rss.xml", f"{site}feed.json", f"{site}atom.xml"}
    sink = S3Sink(s3_bucket, s3_prefix, through(url, max_attempts=1))
    assert bucket_files(sink) == local_files(tmp_path / "public")
