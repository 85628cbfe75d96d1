"""SIGKILL at random moments during hundreds of builds whose articles change every time: each
feed left behind is whole (the last good version or the new one, never a mix or a torn file),
temporaries never pile up, and the state database stays usable.

One process imports feedsvc once and forks a builder per kill, so the time goes into builds,
not into starting Python: 40 kills or more land among 300 builds or more in ~15 s.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

from feedsvc.build import build
from feedsvc.catalog.cache import load_parsed
from feedsvc.catalog.records import read_state
from feedsvc.config import load_config
from feedsvc.outputs.localdir import MANIFEST_NAME
from tests.conftest import run_feedsvc
from tests.feedcheck import ATOM, check_atom, check_json, check_rss

SITE_URL = "https://news.example.org/"
FEEDS = ("rss.xml", "atom.xml", "feed.json")
COPIES = tuple(f"{name}.gz" for name in FEEDS)
# At least this many kills, and more (up to MOST_KILLS) until BUILDS builds have run: a
# loaded machine builds more slowly.
KILLS, MOST_KILLS, BUILDS = 40, 150, 300
MOST_STORIES = 6
# A kill leaves at most one publish's temporaries (each feed, its copy, the manifest); the next
# publish removes them.
MOST_TEMPORARIES = len(FEEDS) + len(COPIES) + 1
ENTRY_TITLES = f"{ATOM}entry/{ATOM}title"
STATE_FILES = {"state.sqlite", "state.sqlite-wal", "state.sqlite-shm"}
CONFIG = (
    f'[site]\ntitle = "Example News"\nurl = "{SITE_URL}"\n'
    '[articles]\ndir = "articles"\n[feeds]\noutput = "public"\ngzip_copies = true\n'
)


def stories(version: int) -> int:
    """How many articles a version has (3 to 6): builds add and remove entries too."""
    return 3 + version % 4


def write_version(articles: Path, version: int) -> None:
    """Every article at ``version``, and none past its count. Each file is a byte longer than
    at the version before, so that no rewrite keeps the (size, mtime, inode) it was cached
    under, however fast the builds follow each other."""
    for number in range(stories(version)):
        (articles / f"story-{number}.md").write_text(
            f"# Version {version} story {number}\n\n{'Body. ' * 50}{'.' * version}\n\n"
            f"---\n\nPublished: June {number + 1}, 2025\n"
        )
    for number in range(stories(version), MOST_STORIES):
        (articles / f"story-{number}.md").unlink(missing_ok=True)


def build_forever(site: Path, version: int) -> None:
    """What each forked builder runs until killed: a new version of the articles, a build,
    and a line saying it is done."""
    config = load_config(site / "feedsvc.toml")
    while True:
        write_version(site / "articles", version)
        build(config)
        print(f"built {version}", flush=True)
        version += 1


FORKER = textwrap.dedent(
    """
    import os, sys, traceback
    from pathlib import Path
    from tests.test_fault_kills import build_forever

    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            try:
                build_forever(Path(sys.argv[1]), int(line))
            finally:
                traceback.print_exc()
                os._exit(1)
        print(f"started {pid}", flush=True)
        print(f"reaped {pid} {os.waitpid(pid, 0)[1]}", flush=True)
    """
)


def whole_version(path: Path) -> int:
    """The version of the feed document at ``path`` (or of its .gz copy), once it is shown to
    be whole: well-formed (lxml), parsed without bozo, valid for its format, and holding every
    entry of one version."""
    data = path.read_bytes()
    name = path.name
    if name.endswith(".gz"):
        data, name = gzip.decompress(data), name.removesuffix(".gz")
    if name == "feed.json":
        titles = [item["title"] for item in check_json(data, SITE_URL + name)["items"]]
    elif name == "rss.xml":
        titles = [item.findtext("title") for item in check_rss(data, SITE_URL + name).iter("item")]
    else:
        titles = [t.text for t in check_atom(data, SITE_URL + name).findall(ENTRY_TITLES)]
    versions = {int(title.split()[1]) for title in titles}
    assert len(versions) == 1, (path.name, titles)
    [version] = versions
    assert len(titles) == stories(version), (path.name, titles)
    return version


def check_output(public: Path) -> None:
    """The feeds, their copies and the manifest, and at most one publish's temporaries."""
    names = {path.name for path in public.iterdir()}
    temporaries = {name for name in names if name.endswith(".tmp")}
    assert len(temporaries) <= MOST_TEMPORARIES, sorted(temporaries)
    assert names - temporaries == {MANIFEST_NAME, *FEEDS, *COPIES}
    json.loads((public / MANIFEST_NAME).read_bytes())


def check_state(site: Path) -> None:
    """The state database passes its integrity check and reads back; nothing was moved
    aside as corrupt."""
    config = load_config(site / "feedsvc.toml")
    assert {path.name for path in config.state_path.parent.iterdir()} <= STATE_FILES
    with closing(sqlite3.connect(config.state_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert read_state(config.state_path).build is not None
    assert load_parsed(config.state_path, config)


def test_sigkill_at_random_moments_in_hundreds_of_builds_leaves_whole_feeds(
    tmp_path: Path,
) -> None:
    (tmp_path / "feedsvc.toml").write_text(CONFIG)
    (tmp_path / "articles").mkdir()
    write_version(tmp_path / "articles", 1)
    assert run_feedsvc("build", cwd=tmp_path).returncode == 0
    public = tmp_path / "public"
    shown = {name: 1 for name in (*FEEDS, *COPIES)}  # the version each file holds
    rng = random.Random(10)
    forker = subprocess.Popen(
        [sys.executable, "-c", FORKER, str(tmp_path)],
        cwd=Path(__file__).parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert forker.stdin is not None and forker.stdout is not None
    version, builds, kills, mixed = 2, 0, 0, 0
    try:
        while kills < KILLS or (builds < BUILDS and kills < MOST_KILLS):
            kills += 1
            forker.stdin.write(f"{version}\n")
            forker.stdin.flush()
            started = forker.stdout.readline().split()
            assert started[0] == "started", started
            time.sleep(rng.uniform(0, 0.5))
            os.kill(int(started[1]), signal.SIGKILL)
            built = []
            while (line := forker.stdout.readline().split())[0] == "built":
                built.append(int(line[1]))
            assert line[0] == "reaped" and os.WTERMSIG(int(line[2])) == signal.SIGKILL, line
            # Each file holds the version it held when the last build ended, or the one the
            # killed build was writing.
            for name, before in shown.items():
                allowed = {built[-1], built[-1] + 1} if built else {before, version}
                shown[name] = whole_version(public / name)
                assert shown[name] in allowed, (name, shown[name], allowed)
            mixed += len(set(shown.values())) > 1
            check_output(public)
            check_state(tmp_path)
            builds += len(built)
            version = (built[-1] if built else version) + 2
    finally:
        forker.stdin.close()
        forker.kill()
        forker.wait()
    print(f"\n{kills} kills in {builds} builds: {mixed} left feeds at different versions")
    assert builds >= BUILDS
    write_version(tmp_path / "articles", version)  # what the killed builder was writing
    result = run_feedsvc("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {name: whole_version(public / name) for name in shown} == dict.fromkeys(shown, version)
    assert not [path for path in public.iterdir() if path.name.endswith(".tmp")]
    for name in FEEDS:
        assert gzip.decompress((public / f"{name}.gz").read_bytes()) == (public / name).read_bytes()
    check_state(tmp_path)
