"""Several publishers, one truth, against the real SeaweedFS (tests/seaweed.py): two `feedsvc
run` processes racing over one bucket converge on what one publisher makes, each change is
pinged once, an older view never replaces a newer feed, and a store stopped mid-publish is
caught up by the daemon's retry. Each publisher reaches the store through its own recording
proxy (tests/recording_proxy.py), which tells which publisher's write changed which object."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import feedparser
import pytest

from feedsvc.build import build
from feedsvc.catalog.records import read_pending
from feedsvc.config import Config, load_config
from feedsvc.outputs.localdir import LocalDirSink
from tests.daemon_process import DaemonProcess, served
from tests.peers import Recorder, endpoint, ping_service, wait_until
from tests.recording_proxy import Exchange, Wire, recording_proxy
from tests.seaweed import ACCESS_KEY, REGION, SECRET_KEY, SeaweedServer, running_server
from tests.servers import free_port

SITE = "https://news.example.org/"
PREFIX = "site"
ANNOUNCED = ("subscription", "topic")
SETTLE_S = 60.0


def story(number: int, day: str, tags: tuple[str, ...] = ("alpha",)) -> str:
    """An article with front matter: its title, publish date and tags."""
    listed = ", ".join(json.dumps(tag) for tag in tags)
    return f"---\ntitle: Story {number}\ndate: {day}T09:00:00Z\ntags: [{listed}]\n---\nBody.\n"


def site_toml(articles: Path, hub: str, xmlrpc: str, s3: str = "", endpoint_url: str = "") -> str:
    """A publisher's configuration: small feeds and archive pages (so adding articles changes
    archives and topic feeds), the shared articles, hub and ping service, and a bucket."""
    text = (
        f'[site]\ntitle = "Example News"\nurl = "{SITE}"\n'
        f'[articles]\ndir = "{articles}"\n'
        '[feeds]\noutput = "public"\nmax_items = 5\narchive_page_size = 4\ntag_feeds = true\n'
        '[watch]\ndebounce_ms = 100\n[schedule]\nrescan = "1h"\n[state]\ndir = "."\n'
        f'[ping]\nwebsub_hubs = ["{hub}"]\nxmlrpc = ["{xmlrpc}"]\ntimeout_s = 5\nbackoff_s = 0.05\n'
    )
    if s3:
        text += f'[[outputs.s3]]\nurl = "{s3}"\nendpoint_url = "{endpoint_url}"\n'
    return text


def aws_env(tmp_path: Path) -> dict[str, str]:
    """The store's credentials through the standard AWS chain (the environment), and nothing
    from this machine's own AWS files or instance role."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def bucket_files(server: SeaweedServer, bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object below ``prefix``, by path below it, with its bytes (the index too)."""
    client = server.client()
    files: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            files[item["Key"][len(prefix) + 1 :]] = body
    return files


def local_files(directory: Path) -> dict[str, bytes]:
    """The published files of a local output directory (its dot files left out)."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(directory).parts)
    }


def reference(config_path: Path, root: Path) -> dict[str, bytes]:
    """What one fresh publisher given every article makes: a build with the same
    configuration into a new local directory, with a new state."""
    output, state = root / "public", root / "state"
    config = load_config(
        config_path,
        {"feeds": {"output": output}, "state": {"dir": state}, "outputs": {"s3": []}},
    )
    build(config, sink=LocalDirSink(output))
    return local_files(output)


def topic(key: str) -> str:
    """The WebSub topic of the object at ``key``: the public URL of its path."""
    return SITE + key.removeprefix(PREFIX + "/")


def idle(daemon: DaemonProcess) -> bool:
    """True when every build the daemon started has ended."""
    ended = daemon.count("built ") + daemon.count("build failed") + daemon.count("cancelled")
    return daemon.count("build started") == ended


def pinged(daemon: DaemonProcess, kind: str, endpoint_url: str) -> Counter[str]:
    """The pings of ``kind`` the daemon logged delivered to ``endpoint_url``, by topic."""
    head = f"ping {kind} {endpoint_url} about "
    return Counter(
        line.split(head, 1)[1].rsplit(": ok", 1)[0]
        for line in daemon.lines()
        if head in line and ": ok," in line
    )


def owed_websub(changes: list[Exchange]) -> Counter[str]:
    """One WebSub ping per change of a feed subscribers follow, by topic."""
    return Counter(topic(change.key) for change in changes if change.kind in ANNOUNCED)


def announced(changes: list[Exchange], hub: Recorder) -> bool:
    """True when, for each followed feed, the hub heard about it after its last change."""
    last: dict[str, float] = {}
    for change in changes:
        if change.kind in ANNOUNCED:
            last[topic(change.key)] = change.at
    heard: dict[str, float] = {}
    for request in list(hub.requests):
        heard[request["form"]["hub.topic"][0]] = float(request["at"])  # type: ignore[index]
    return all(heard.get(url, 0.0) > at for url, at in last.items())


def owed_xmlrpc(changes: list[Exchange]) -> int:
    """One weblogUpdates ping per publish (one writer token) that changed a followed feed."""
    return len({change.writer for change in changes if change.kind in ANNOUNCED})


@pytest.fixture
def peers() -> Iterator[tuple[Recorder, str, list[tuple[str, tuple]], str]]:
    """A recording WebSub hub and a weblogUpdates ping service, shared by every publisher."""
    hub, calls = Recorder(), []
    with endpoint(hub) as hub_url, ping_service(calls) as xmlrpc_url:
        yield hub, hub_url, calls, xmlrpc_url


def test_two_daemons_racing_over_one_bucket_converge_and_ping_each_change_once(
    seaweed: SeaweedServer, tmp_path: Path, peers: tuple[Recorder, str, list, str]
) -> None:
    """Both daemons watch one articles directory and publish to one bucket, each through its
    own recording proxy, while 24 articles arrive in bursts and one by one (some dated
    earlier, so they land in the archive pages; new tags make new topic feeds).

    The changes are counted on the wire, not from the publishers' own word: a change is a PUT
    the store accepted whose bytes differ from what the object held just before (in the order
    the store answered: a conditional write succeeds only over the object its writer saw, so
    that order is each object's history). Each change of a followed feed (a subscription or
    topic feed) owes one WebSub ping about it from the publisher that made it (its proxy
    names it), each publish that changed one a weblogUpdates ping.

    The count allows for one thing by design: a daemon folds the changes of a feed made while
    its ping about that feed is still being sent into one more ping after it (the hub then
    fetches the newest bytes), so a publisher's pings about a feed are between one and its own
    changes of it, never more, and never about a feed only the other one changed. Every feed
    is announced after its last change (hub and proxy times), and the pings the daemons logged
    are the ones the hub received. A PUT that changed nothing, or a ping for the other
    publisher's write, breaks these bounds.
    """
    hub, hub_url, calls, xmlrpc_url = peers
    bucket = seaweed.create_bucket()
    articles = tmp_path / "articles"
    articles.mkdir()
    days = iter(f"2025-06-{day:02d}" for day in range(1, 31))
    for number in range(4):
        (articles / f"s{number:02d}.md").write_text(story(number, next(days)))
    wire = Wire()
    daemons: list[DaemonProcess] = []
    with ExitStack() as stack:
        for name in ("a", "b"):
            proxy = stack.enter_context(recording_proxy(seaweed.endpoint_url, wire, name))
            root = tmp_path / name
            root.mkdir()
            toml = site_toml(articles, hub_url, xmlrpc_url, f"s3://{bucket}/{PREFIX}", proxy)
            daemon = DaemonProcess(root, toml, env=aws_env(tmp_path))
            stack.callback(daemon.kill)
            daemons.append(daemon)
        for daemon in daemons:
            daemon.start(wait_ready=False)
        for daemon in daemons:
            daemon.wait_log("built ", timeout=30)
        a, b = daemons

        number = 4
        for burst, pause, dated, tags in [
            (6, 0.4, "new", ("alpha",)),
            (1, 0.3, "new", ("beta",)),
            (1, 0.3, "new", ("alpha", "beta")),
            (5, 0.5, "old", ("alpha",)),
            (1, 0.2, "new", ("gamma",)),
            (1, 0.2, "old", ("beta",)),
            (4, 0.4, "new", ("alpha", "gamma")),
            (1, 0.0, "new", ("beta",)),
        ]:
            for _ in range(burst):
                day = next(days) if dated == "new" else f"2025-01-{number:02d}"
                (articles / f"s{number:02d}.md").write_text(story(number, day, tags))
                number += 1
            time.sleep(pause)
        assert number == 24

        expected = reference(a.config, tmp_path / "reference")
        assert {"rss.xml", "tags/gamma/rss.xml", "archive/rss/4.xml"} <= set(expected)

        def converged() -> bool:
            held = bucket_files(seaweed, bucket, PREFIX)
            held.pop(".feedsvc-index.json", None)
            return held == expected

        wait_until(converged, SETTLE_S)
        for daemon in daemons:
            wait_until(lambda d=daemon: idle(d) and local_files(d.public) == expected, SETTLE_S)
        changes = wire.changes()
        wait_until(lambda: announced(changes, hub), SETTLE_S)

        # A no-op rescan by both (a reload: fresh catalogs and sinks) makes no PUT.
        puts = seaweed.requests("PUT", bucket)
        seen = len(wire.exchanges)
        for daemon in daemons:
            unchanged = daemon.count("wrote nothing (feeds unchanged)")
            daemon.config.write_text(daemon.config.read_text().replace('"1h"', '"2h"'))
            daemon.signal(signal.SIGHUP)
            daemon.wait_log("wrote nothing (feeds unchanged)", unchanged + 1, timeout=30)
        assert seaweed.requests("PUT", bucket) == puts
        assert [e for e in wire.exchanges[seen:] if e.method == "PUT"] == []
        for daemon in daemons:  # every ping owed was sent: none left for a restart to resend
            wait_until(lambda d=daemon: read_pending(d.root / "state.sqlite") == [], SETTLE_S)
            assert daemon.stop() == 0

    assert wire.changes() == changes
    received = Counter(request["form"]["hub.topic"][0] for request in hub.requests)
    websub = owed_websub(changes)
    assert set(received) == set(websub)
    assert all(received[url] <= websub[url] for url in websub), (received, websub)
    assert 1 <= len(calls) <= owed_xmlrpc(changes)
    logged: Counter[str] = Counter()
    for daemon, name in zip(daemons, ("a", "b"), strict=True):
        mine = [change for change in changes if change.publisher == name]
        sent, owed = pinged(daemon, "websub", hub_url), owed_websub(mine)
        assert set(sent) == set(owed), name
        assert all(sent[url] <= owed[url] for url in owed), (name, sent, owed)
        xmlrpc_sent = sum(pinged(daemon, "xmlrpc", xmlrpc_url).values())
        assert (xmlrpc_sent > 0) == (owed_xmlrpc(mine) > 0)
        assert xmlrpc_sent <= owed_xmlrpc(mine), name
        logged += sent
    assert logged == received

    for path, body in expected.items():
        if path.endswith(".json"):
            assert json.loads(body)["items"], path
        else:
            assert not feedparser.parse(body).bozo, path
    entries = {
        entry.id
        for path, body in expected.items()
        if path == "rss.xml" or path.startswith("archive/rss/")
        for entry in feedparser.parse(body).entries
    }
    assert len(entries) == 24


def publisher(root: Path, articles: Path, bucket: str, endpoint_url: str) -> Config:
    """A publisher of its own (state and local copy below ``root``) over ``articles``,
    publishing to ``bucket`` as the racing daemons do."""
    root.mkdir()
    path = root / "feedsvc.toml"
    hub, xmlrpc = "http://127.0.0.1:9/hub", "http://127.0.0.1:9/RPC2"  # owed, never sent here
    path.write_text(site_toml(articles, hub, xmlrpc, f"s3://{bucket}/{PREFIX}", endpoint_url))
    return load_config(path)


def checkout(directory: Path, numbers: range, at: float) -> None:
    """A copy of the articles ``numbers`` last updated at ``at`` (files and directory)."""
    directory.mkdir(exist_ok=True)
    for number in numbers:
        path = directory / f"s{number:02d}.md"
        path.write_text(story(number, f"2025-06-{number + 1:02d}", ("alpha", f"t{number}")))
        os.utime(path, (at, at))
    os.utime(directory, (at, at))


def test_a_publisher_with_an_older_view_never_overwrites_a_newer_feed(
    seaweed: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checkouts of the articles: A's was updated with one article more (and a tag only it
    has) a minute after B's last update. B, building after A published, writes nothing to
    the bucket, reports nothing written and owes no ping; A's feeds stay. Once B's checkout
    catches up, B's build makes A's bytes exactly: again no PUT, no ping."""
    for name, value in aws_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    bucket = seaweed.create_bucket()
    pulled = time.time() - 600
    checkout(tmp_path / "a-articles", range(7), pulled + 60)
    checkout(tmp_path / "b-articles", range(6), pulled)
    a = publisher(tmp_path / "a", tmp_path / "a-articles", bucket, seaweed.endpoint_url)
    b = publisher(tmp_path / "b", tmp_path / "b-articles", bucket, seaweed.endpoint_url)

    published = build(a)
    assert {"rss.xml", "tags/t6/rss.xml"} <= set(published.manifest.changed)
    assert read_pending(a.state_path)  # A owes the pings about its change
    held = bucket_files(seaweed, bucket, PREFIX)
    puts = seaweed.requests("PUT", bucket)

    stale = build(b)
    assert stale.articles == 6
    assert stale.written == () and stale.manifest.changed == ()
    assert seaweed.requests("PUT", bucket) == puts
    assert bucket_files(seaweed, bucket, PREFIX) == held
    assert feedparser.parse(held["rss.xml"]).entries[0].title == "Story 6"
    assert read_pending(b.state_path) == []

    checkout(tmp_path / "b-articles", range(7), time.time())  # B pulls A's article later
    caught_up = build(b)
    assert caught_up.articles == 7
    assert caught_up.written == () and caught_up.manifest.changed == ()
    assert seaweed.requests("PUT", bucket) == puts
    assert bucket_files(seaweed, bucket, PREFIX) == held
    assert read_pending(b.state_path) == []
    held.pop(".feedsvc-index.json")
    assert local_files(b.feeds.output) == local_files(a.feeds.output) == held


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[SeaweedServer]:
    """A store of this test's own, to stop and start again."""
    yield from running_server(tmp_path / "seaweed")


def test_a_store_stopped_mid_publish_is_caught_up_by_the_daemon_and_pinged_once(
    own_server: SeaweedServer, tmp_path: Path, peers: tuple[Recorder, str, list, str]
) -> None:
    """The store dies mid-publish: of a daemon's new feeds it stored one and answered, stored
    a second and died before answering, and stored no more. The build fails naming an object
    it could not write, the local copy holds the new feeds whole and the daemon keeps serving
    them; once the store is back, the daemon's retry brings the bucket level with the local
    copy, and each feed the change touched is pinged once: the two the failed publish stored
    included (the second told from another publisher's write by the writer token it carries),
    each publish that changed one pinging the weblogUpdates service at most once."""
    hub, hub_url, calls, xmlrpc_url = peers
    bucket = own_server.create_bucket()
    articles = tmp_path / "articles"
    articles.mkdir()
    for number in range(3):
        (articles / f"s{number:02d}.md").write_text(story(number, f"2025-06-{number + 1:02d}"))
    wire, armed, first, lock = Wire(), threading.Event(), threading.Event(), threading.Lock()
    stored: list[str] = []  # the feeds the armed publish stored

    def stop_the_store(exchange: Exchange) -> bool:
        """During the armed publish: the first feed stored is answered; the second is stored,
        then the store dies before it answers; nothing more is stored."""
        if not armed.is_set() or exchange.method != "PUT" or exchange.kind not in ANNOUNCED:
            return False
        with lock:
            turn = len(stored)
            stored.append(exchange.key)
        if turn == 0:
            first.set()
            return False
        if turn > 1:
            return False
        first.wait(SETTLE_S)
        armed.clear()
        own_server.stop(kill=True)
        return True

    port = free_port()
    with recording_proxy(own_server.endpoint_url, wire, "a", after=stop_the_store) as proxy:
        toml = site_toml(articles, hub_url, xmlrpc_url, f"s3://{bucket}/{PREFIX}", proxy)
        daemon = DaemonProcess(
            tmp_path, toml + f'[serve]\nbind = "127.0.0.1:{port}"\n', aws_env(tmp_path)
        )
        try:
            daemon.start()
            wait_until(lambda: announced(wire.changes(), hub), SETTLE_S)
            wait_until(lambda: len(calls) == 1)
            before, pings = len(wire.changes()), len(hub.requests)
            old = bucket_files(own_server, bucket, PREFIX)
            armed.set()
            (articles / "s03.md").write_text(story(3, "2025-06-04", ("alpha", "beta")))
            daemon.wait_log("build failed", timeout=SETTLE_S)
            assert own_server.process is None and len(stored) >= 2  # stopped mid-publish
            failure = next(line for line in daemon.lines() if "build failed" in line)
            assert re.search(
                rf"build failed: s3://{bucket}/{PREFIX}/\S+: cannot \w+.*the store cannot be"
                r" reached",
                failure,
            ), failure
            local = local_files(daemon.public)
            assert feedparser.parse(local["rss.xml"]).entries[0].title == "Story 3"
            assert all(
                not feedparser.parse(body).bozo for p, body in local.items() if p.endswith(".xml")
            )
            assert served(port, "rss.xml") == local["rss.xml"]
            assert daemon.process.poll() is None

            own_server.start()

            def caught_up() -> bool:
                held = bucket_files(own_server, bucket, PREFIX)
                held.pop(".feedsvc-index.json", None)
                return held == local

            wait_until(caught_up, SETTLE_S)
            changes = wire.changes()[before:]
            wait_until(lambda: announced(changes, hub) and idle(daemon), SETTLE_S)
            wait_until(lambda: read_pending(tmp_path / "state.sqlite") == [], SETTLE_S)
            assert daemon.stop() == 0
        finally:
            daemon.kill()
    assert local_files(daemon.public) == local
    received = Counter(request["form"]["hub.topic"][0] for request in hub.requests[pings:])
    changed = [path for path, body in local.items() if old.get(path) != body]
    # Each feed the change touched, once: those whose upload got no answer included.
    assert received == Counter(SITE + path for path in changed if not path.startswith("archive/"))
    assert SITE + "rss.xml" in received and SITE + "tags/beta/rss.xml" in received
    assert 1 <= len(calls) - 1 <= owed_xmlrpc(changes)  # one per publish that changed a feed
