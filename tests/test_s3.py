"""The S3 output against a real SeaweedFS (tests/seaweed.py): objects carry their headers and
digest, a no-op publish makes no PUT (counted by the client and by the server), archive pages
go up before the feeds, writes are conditional, failures are clear and caught up. The sink's
contract itself runs in tests/test_sinks.py; [outputs] is read and turned into sinks here."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import pytest

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config, config_from_dict
from feedsvc.errors import ConfigError, PublishError
from feedsvc.model import ATOM_TYPE, JSON_TYPE, RSS_TYPE, ArtifactKind
from feedsvc.outputs.base import Put
from feedsvc.outputs.fanout import FanOut
from feedsvc.outputs.localdir import LocalDirSink
from feedsvc.outputs.s3 import IMMUTABLE, INDEX_NAME, S3Sink
from feedsvc.outputs.targets import outputs
from tests.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedServer, running_server

PAGES = 4


def site(version: int = 1, pages: int = PAGES, generation: int | None = None) -> list[Put]:
    """A site's files as a publish hands them over: the feeds first, then archive pages,
    the newest (last) one partial; made from the view ``generation`` (by default, the
    version)."""
    made = version if generation is None else generation
    feeds = [
        Put("rss.xml", b"<rss>%d</rss>" % version, RSS_TYPE, generation=made),
        Put(
            "tags/x/atom.xml",
            b"<feed>%d</feed>" % version,
            ATOM_TYPE,
            ArtifactKind.TOPIC,
            generation=made,
        ),
    ]
    archive = [
        Put(
            f"archive/rss/{n}.xml",
            b"<rss>page %d v%d</rss>" % (n, version),
            RSS_TYPE,
            ArtifactKind.ARCHIVE,
            immutable=n < pages,
            generation=made,
        )
        for n in range(1, pages + 1)
    ]
    return feeds + archive


def record(client) -> list[tuple[str, str]]:  # noqa: ANN001
    """Every request ``client`` sends from now on (each attempt): (method, key or bucket)."""
    sent: list[tuple[str, str]] = []

    def heard(request, **_) -> None:  # noqa: ANN001
        path = unquote(urlsplit(request.url).path).lstrip("/")
        sent.append((request.method, path.partition("/")[2]))

    client.meta.events.register("before-send.s3", heard)
    return sent


@pytest.fixture
def client(seaweed: SeaweedServer):  # noqa: ANN201
    return seaweed.client()


@pytest.fixture
def make_sink(client, s3_bucket: str, s3_prefix: str) -> Callable[..., S3Sink]:  # noqa: ANN001
    return lambda **options: S3Sink(s3_bucket, s3_prefix, client, **options)


def test_a_no_op_publish_makes_no_put(
    seaweed: SeaweedServer, client, s3_bucket: str, make_sink: Callable[..., S3Sink]
) -> None:  # noqa: ANN001
    make_sink().put(site())
    before = seaweed.requests("PUT", s3_bucket)
    sent = record(client)
    assert make_sink().put(site()) == []
    assert [method for method, _ in sent] == ["GET", "GET"]  # the listing and the index
    assert seaweed.requests("PUT", s3_bucket) == before


def test_one_changed_feed_costs_one_put_and_the_index(
    seaweed: SeaweedServer, client, s3_bucket: str, s3_prefix: str, make_sink
) -> None:  # noqa: ANN001
    make_sink().put(site())
    before = seaweed.requests("PUT", s3_bucket)
    sent = record(client)
    files = site()
    files[0] = Put("rss.xml", b"<rss>changed</rss>", RSS_TYPE, generation=2)
    assert make_sink().put(files) == ["rss.xml"]
    puts = [key for method, key in sent if method == "PUT"]
    assert puts == [f"{s3_prefix}/rss.xml", f"{s3_prefix}/{INDEX_NAME}"]
    assert seaweed.requests("PUT", s3_bucket) == before + 2


def test_objects_are_stored_with_their_type_cache_control_and_digest(
    client, s3_bucket: str, s3_prefix: str, make_sink
) -> None:  # noqa: ANN001
    make_sink(max_age_s=120).put(site())

    def head(path: str) -> dict:
        return client.head_object(Bucket=s3_bucket, Key=f"{s3_prefix}/{path}")

    feed, topic = head("rss.xml"), head("tags/x/atom.xml")
    full, newest = head("archive/rss/1.xml"), head(f"archive/rss/{PAGES}.xml")
    assert (feed["ContentType"], feed["CacheControl"]) == (
        f"{RSS_TYPE}; charset=utf-8",
        "max-age=120",
    )
    assert (topic["ContentType"], topic["CacheControl"]) == (
        f"{ATOM_TYPE}; charset=utf-8",
        "max-age=120",
    )
    assert full["CacheControl"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert newest["CacheControl"] == "max-age=120"  # it fills up: never immutable
    assert feed["Metadata"]["sha256"] == hashlib.sha256(b"<rss>1</rss>").hexdigest()
    assert (feed["Metadata"]["kind"], full["Metadata"]["kind"]) == ("subscription", "archive")
    body = client.get_object(Bucket=s3_bucket, Key=f"{s3_prefix}/rss.xml")["Body"].read()
    assert body == b"<rss>1</rss>"


def test_a_changed_max_age_is_applied_to_unchanged_objects(
    client, s3_bucket: str, s3_prefix: str, make_sink
) -> None:  # noqa: ANN001
    make_sink(max_age_s=120).put(site())
    rewritten = make_sink(max_age_s=60).put(site())
    assert set(rewritten) == {"rss.xml", "tags/x/atom.xml", f"archive/rss/{PAGES}.xml"}
    head = client.head_object(Bucket=s3_bucket, Key=f"{s3_prefix}/rss.xml")
    assert head["CacheControl"] == "max-age=60"


def test_archive_pages_go_up_before_the_feeds_that_link_them(client, make_sink) -> None:  # noqa: ANN001
    sent = record(client)
    make_sink().put(site())
    keys = [key.partition("/feeds/")[2] for method, key in sent if method == "PUT"]
    pages = [i for i, key in enumerate(keys) if key.startswith("archive/")]
    feeds = [i for i, key in enumerate(keys) if key in ("rss.xml", "tags/x/atom.xml")]
    assert len(pages) == PAGES and len(feeds) == 2
    assert max(pages) < min(feeds)
    assert keys[-1] == INDEX_NAME  # the index last, once every object is stored


def test_before_commit_hears_the_changes_before_the_first_upload(client, make_sink) -> None:  # noqa: ANN001
    sent = record(client)
    heard: list[tuple[list[str], int]] = []
    make_sink().put(site(), lambda paths: heard.append((paths, len(sent))))
    assert heard == [([put.path for put in site()], 1)]  # after the listing only
    assert [method for method, _ in sent[1:]].count("PUT") == len(site()) + 1


def test_a_fresh_sink_lists_without_reading_any_object(client, make_sink) -> None:  # noqa: ANN001
    make_sink().put(site())
    sent = record(client)
    listed = make_sink().list()
    assert set(listed) == {put.path for put in site()}
    assert listed["archive/rss/2.xml"].kind is ArtifactKind.ARCHIVE
    assert [method for method, _ in sent] == ["GET", "GET"]  # no HEAD, no object's body


def test_an_older_view_never_overwrites_what_a_newer_one_wrote_after_it_looked(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str, make_sink
) -> None:
    """The precondition fails; the object, looked at again, comes from a newer view: it is
    kept, and the older publisher reports nothing written (it owes no ping)."""
    make_sink().put(site())
    mine = make_sink()
    mine.list()  # what this publisher saw
    S3Sink(s3_bucket, s3_prefix, seaweed.client()).put(site(version=3))
    assert mine.put(site(version=2)) == []
    assert make_sink().read("rss.xml") == b"<rss>3</rss>"
    assert make_sink().read("archive/rss/1.xml") == b"<rss>page 1 v3</rss>"
    assert mine.delete(["tags/x/atom.xml"], generation=2) == []
    assert make_sink().read("tags/x/atom.xml") == b"<feed>3</feed>"


def test_an_older_view_listed_after_the_newer_write_does_not_even_try(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str, make_sink, client
) -> None:  # noqa: ANN001
    make_sink().put(site(version=3))
    mine = make_sink()
    sent = record(client)
    assert mine.put(site(version=2)) == []
    assert [method for method, _ in sent if method == "PUT"] == []


def test_a_newer_view_replaces_what_another_publisher_wrote_after_it_looked(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str, make_sink
) -> None:
    make_sink().put(site())
    mine = make_sink()
    mine.list()
    S3Sink(s3_bucket, s3_prefix, seaweed.client()).put(site(version=2))
    assert mine.put(site(version=3)) == [put.path for put in site(version=3)]
    assert make_sink().read("rss.xml") == b"<rss>3</rss>"
    assert make_sink().list()["rss.xml"].digest == hashlib.sha256(b"<rss>3</rss>").hexdigest()


def test_a_new_object_another_publisher_created_first_from_a_newer_view_is_kept(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str, make_sink
) -> None:
    mine = make_sink()
    mine.list()  # an empty bucket
    S3Sink(s3_bucket, s3_prefix, seaweed.client()).put(site(version=3)[:1])
    assert mine.put(site(version=2)[:1]) == []
    assert make_sink().read("rss.xml") == b"<rss>3</rss>"


def test_the_same_bytes_from_another_publisher_are_no_conflict_and_not_counted_as_written(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str, make_sink
) -> None:
    make_sink().put(site())
    mine = make_sink()
    mine.list()
    other = S3Sink(s3_bucket, s3_prefix, seaweed.client())
    assert other.put(site(version=2)) == [put.path for put in site(version=2)]
    assert mine.put(site(version=2)) == []  # the other one wrote them: it pings, not this one
    assert mine.put(site(version=2)) == []


def test_an_upload_retried_after_its_response_was_lost_counts_as_written(client, make_sink) -> None:  # noqa: ANN001
    """The retry's precondition fails over the first attempt's own write, which the object's
    writer token tells from another publisher's."""
    sent = record(client)

    def lose_the_first_response(attempts: int, response, **_) -> int | None:  # noqa: ANN001
        return 0 if attempts == 1 and response and response[0].status_code == 200 else None

    client.meta.events.register("needs-retry.s3.PutObject", lose_the_first_response)
    assert make_sink().put(site()[:1]) == ["rss.xml"]
    assert [key.rpartition("/")[2] for method, key in sent if method == "PUT"][:2] == [
        "rss.xml",
        "rss.xml",
    ]


def test_refused_credentials_are_a_clear_publish_error(
    seaweed: SeaweedServer, s3_bucket: str, s3_prefix: str
) -> None:
    sink = S3Sink(s3_bucket, s3_prefix, seaweed.client(secret_key="wrong"))
    with pytest.raises(PublishError) as caught:
        sink.put(site())
    message = str(caught.value)
    assert message.startswith(f"s3://{s3_bucket}/{s3_prefix}/: cannot list")
    assert "the store refused the credentials" in message
    assert "SignatureDoesNotMatch" in message


def test_no_credentials_anywhere_is_a_clear_publish_error(
    seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_bucket: str
) -> None:
    isolate_aws(monkeypatch, tmp_path)
    config = config_from_dict(s3_config(f"s3://{s3_bucket}/x", seaweed.endpoint_url), tmp_path)
    with pytest.raises(PublishError, match="no AWS credentials") as caught:
        outputs(config).list()
    assert caught.value.target == f"s3://{s3_bucket}/x/"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A server of this test's own, to stop and start again."""
    yield from running_server(tmp_path / "seaweed")


def test_a_store_stopped_mid_publish_loses_nothing_and_the_next_publish_catches_up(
    own_server: SeaweedServer,
) -> None:
    bucket = own_server.create_bucket()
    client = own_server.client(max_attempts=2)
    S3Sink(bucket, "site", client).put(site(pages=12))
    new = site(version=2, pages=12)
    sent = record(client)
    stopped = threading.Event()

    def stop_after_the_first_upload(**_) -> None:  # noqa: ANN003
        if not stopped.is_set():
            stopped.set()
            own_server.stop(kill=True)

    client.meta.events.register("after-call.s3.PutObject", stop_after_the_first_upload)
    with pytest.raises(PublishError, match="the store cannot be reached") as caught:
        S3Sink(bucket, "site", client).put(new)
    assert caught.value.target.startswith(f"s3://{bucket}/site/archive/")
    retried = [key for method, key in sent if method == "PUT"]
    assert len(retried) > len(set(retried))  # retried before giving up
    client.meta.events.unregister("after-call.s3.PutObject", stop_after_the_first_upload)
    own_server.start()
    sink = S3Sink(bucket, "site", own_server.client())
    held = {put.path: sink.read(put.path) for put in new}
    old = {put.path: put.content for put in site(pages=12)}
    assert all(held[put.path] in (old[put.path], put.content) for put in new)  # none torn
    assert held["rss.xml"] == b"<rss>1</rss>"  # no feed went up before its archive pages
    behind = [put.path for put in new if held[put.path] != put.content]
    assert sink.put(new) == behind  # only what the failed publish did not store
    assert all(sink.read(put.path) == put.content for put in new)
    assert S3Sink(bucket, "site", own_server.client()).put(new) == []


def test_an_unreachable_store_is_a_clear_publish_error_after_retries(tmp_path: Path) -> None:
    server = SeaweedServer(Path("/nonexistent/weed"), tmp_path)  # never started: its port is free
    client = server.client(max_attempts=2)
    sent = record(client)
    with pytest.raises(PublishError) as caught:
        S3Sink("feeds", "site", client).list()
    assert str(caught.value).startswith("s3://feeds/site/: cannot list (the store cannot be")
    assert len(sent) == 2


# A real build published to a bucket, and [outputs] read into sinks.

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def isolate_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials from this machine's AWS files or environment, and never the instance
    metadata service (no request leaves 127.0.0.1)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def s3_config(url: str, endpoint_url: str, **target: object) -> dict:
    return {
        "site": {"title": "Example News", "url": "https://news.example.org/"},
        "outputs": {"s3": [{"url": url, "endpoint_url": endpoint_url, **target}]},
    }


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The store's credentials in the environment, as the standard AWS chain reads them."""
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


def test_a_build_publishes_every_feed_and_archive_page_to_the_bucket(
    seaweed: SeaweedServer,
    aws_environment: None,
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    s3_bucket: str,
    s3_prefix: str,
) -> None:
    for number in range(60):
        published = (NOW - timedelta(days=60 - number)).isoformat()
        write_article(
            f"s{number:02d}.md", f"---\ntitle: Story {number}\ndate: {published}\n---\nText.\n"
        )
    config = make_config(
        feeds={"max_items": 10, "archive_page_size": 20},
        outputs={
            "local": False,
            "s3": [{"url": f"s3://{s3_bucket}/{s3_prefix}", "endpoint_url": seaweed.endpoint_url}],
        },
    )
    fanout = outputs(config)
    assert isinstance(fanout, FanOut) and fanout.copies == ()
    [sink] = fanout.public
    assert isinstance(sink, S3Sink)
    catalog = Catalog(config)
    result = build(config, now=NOW, catalog=catalog, sink=sink)
    paths = {artifact.path for artifact in result.manifest.artifacts}
    assert {"rss.xml", "atom.xml", "feed.json", "archive/rss/3.xml"} <= paths
    for artifact in result.manifest.artifacts:
        body = sink.read(artifact.path)
        assert body is not None and hashlib.sha256(body).hexdigest() == artifact.digest
        if artifact.media_type != JSON_TYPE:
            assert not feedparser.parse(body).bozo, artifact.path
    entries = feedparser.parse(sink.read("rss.xml")).entries
    assert [entry.title for entry in entries][:2] == ["Story 59", "Story 58"]
    sent = record(sink.client)
    assert build(config, now=NOW, catalog=catalog, sink=sink).manifest.changed == ()
    assert [method for method, _ in sent if method == "PUT"] == []


def test_outputs_make_the_local_directory_and_each_bucket_a_sink(tmp_path: Path) -> None:
    data = s3_config("s3://feeds-bucket/site/", "http://127.0.0.1:9000", max_age_s=30)
    data["outputs"]["s3"].append({"url": "s3://other-bucket"})
    data["serve"] = {"max_age_s": 90}
    config = config_from_dict(data, tmp_path)
    fanout = outputs(config)
    assert isinstance(fanout, FanOut)
    [local], (first, second) = fanout.copies, fanout.public
    assert isinstance(local, LocalDirSink)
    assert (first.bucket, first.prefix, first.max_age_s) == ("feeds-bucket", "site", 30)
    assert (second.bucket, second.prefix, second.max_age_s) == ("other-bucket", "", 90)
    assert first.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert first.locate("rss.xml") == "s3://feeds-bucket/site/rss.xml"
    assert second.locate("rss.xml") == "s3://other-bucket/rss.xml"
    assert isinstance(outputs(config_from_dict({}, tmp_path)), LocalDirSink)


@pytest.mark.parametrize(
    ("target", "key", "reason"),
    [
        ({"url": "s3://b/x"}, "outputs.s3[0].url", "valid bucket name"),
        ({"url": "https://bucket/x"}, "outputs.s3[0].url", "must be s3://bucket/prefix"),
        ({"url": "s3://Bucket/x"}, "outputs.s3[0].url", "valid bucket name"),
        ({"url": "s3://bucket/a//b"}, "outputs.s3[0].url", "empty or dot segment"),
        ({"url": "s3://bucket/../b"}, "outputs.s3[0].url", "empty or dot segment"),
        ({}, "outputs.s3[0].url", "must be set"),
        ({"url": "s3://bucket", "endpoint_url": "ftp://x"}, "outputs.s3[0].endpoint_url", "http"),
        (
            {"url": "s3://bucket", "endpoint_url": "http://key:secret@127.0.0.1:9000"},
            "outputs.s3[0].endpoint_url",
            "must not hold credentials",
        ),
        ({"url": "s3://bucket", "region": "Moon Base"}, "outputs.s3[0].region", "region"),
        ({"url": "s3://bucket", "max_age_s": -1}, "outputs.s3[0].max_age_s", "between"),
        (
            {"url": "s3://bucket", "aws_secret_access_key": "x"},
            "outputs.s3[0].aws_secret_access_key",
            "credentials are never read from the configuration file",
        ),
        (
            {"url": "s3://bucket", "access_key": "x"},
            "outputs.s3[0].access_key",
            "standard AWS chain",
        ),
        ({"url": "s3://bucket", "bucket": "x"}, "outputs.s3[0].bucket", "unknown key"),
    ],
)
def test_outputs_are_validated(tmp_path: Path, target: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"outputs": {"s3": [target]}}, tmp_path)
    assert caught.value.key == key
    assert reason in str(caught.value)


def test_outputs_must_name_somewhere_to_publish(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no output") as caught:
        config_from_dict({"outputs": {"local": False}}, tmp_path)
    assert caught.value.key == "outputs.local"


def test_at_the_same_view_the_first_publisher_wins_and_a_publisher_replaces_its_own(
    client, make_sink
) -> None:  # noqa: ANN001
    """Publishers that cannot agree on some bytes (each saw an edit at its own moment) never
    take turns rewriting (and pinging) the object; a publisher's own rebuild of the same
    view (a fixed render, a changed config) replaces its own objects."""
    first, second = make_sink(publisher="a"), make_sink(publisher="b")
    assert first.put(site(version=1, generation=5)) != []
    assert second.put(site(version=2, generation=5)) == []
    assert make_sink().read("rss.xml") == b"<rss>1</rss>"
    assert make_sink(publisher="a").put(site(version=3, generation=5)) != []
    assert make_sink().read("rss.xml") == b"<rss>3</rss>"
    assert second.put(site(version=4, generation=6)) != []  # a newer view: replaced
    assert make_sink().read("rss.xml") == b"<rss>4</rss>"
