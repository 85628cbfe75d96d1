"""Faults caused for real: kills mid-build, a full disk, an unwritable output, emptied
articles, an article too large to publish. The published feeds are always the previous good
version or the new complete one, and every copy matches its feed."""

from __future__ import annotations

import gzip
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import feedparser
import pytest

from feedsvc.articles.read import read_body
from feedsvc.budget import Budget
from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.catalog.records import read_pending
from feedsvc.config import config_from_dict
from feedsvc.content import to_entry
from feedsvc.outputs.localdir import MANIFEST_NAME
from feedsvc.render import Renderer
from tests.conftest import article, run_feedsvc

FEEDS = ("rss.xml", "atom.xml", "feed.json")
SITE = ("--site-url", "https://news.example.org/", "--title", "Example News")


def write_articles(directory: Path, version: int, count: int = 5) -> None:
    for number in range(count):
        (directory / f"story-{number}.md").write_text(
            article(f"Version {version} story {number}", "Body. " * 50, f"June {number + 1}, 2025")
        )


def versions(output: Path) -> set[str]:
    """The version each published feed shows: its newest entry's title, per format."""
    seen = set()
    for name in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse((output / name).read_bytes())
        assert not parsed.bozo, (name, parsed.bozo_exception)
        seen.add(parsed.entries[0].title.split(" story")[0])
    items = json.loads((output / "feed.json").read_bytes())["items"]
    seen.add(items[0]["title"].split(" story")[0])
    return seen


def snapshot(output: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(output.iterdir())}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    write_articles(tmp_path / "articles", 1)
    return tmp_path


def test_kill_9_leaves_gzip_copies_that_the_next_build_puts_in_step(site: Path) -> None:
    config = site / "feedsvc.toml"
    config.write_text(
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        "[feeds]\ngzip_copies = true\n"
    )
    assert run_feedsvc("build", cwd=site).returncode == 0
    public = site / "public"
    # As a kill between a feed's rename and its copy's would leave it: the copy one version old.
    stale = gzip.compress((public / "rss.xml").read_bytes())
    write_articles(site / "articles", 2)
    assert run_feedsvc("build", cwd=site).returncode == 0
    (public / "rss.xml.gz").write_bytes(stale)
    (public / ".rss.xml.abcd1234.tmp").write_bytes(b"<rss>half")
    result = run_feedsvc("build", cwd=site)
    assert result.returncode == 0, result.stderr
    for name in FEEDS:
        assert gzip.decompress((public / f"{name}.gz").read_bytes()) == (public / name).read_bytes()
    assert [p.name for p in public.glob(".*")] == [MANIFEST_NAME]


def _limit_file_size(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_write_past_the_file_size_limit_keeps_every_old_feed(site: Path) -> None:
    """RLIMIT_FSIZE makes the disk 'full' for the new, larger feeds (EFBIG): nothing moves."""
    assert run_feedsvc("build", *SITE, cwd=site).returncode == 0
    before = snapshot(site / "public")
    write_articles(site / "articles", 2, count=40)
    limit = max(len(content) for content in before.values()) + 1024
    result = run_feedsvc("build", *SITE, cwd=site, preexec_fn=lambda: _limit_file_size(limit))
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(site / "public") == before
    recovered = run_feedsvc("build", *SITE, cwd=site)
    assert recovered.returncode == 0, recovered.stderr
    assert versions(site / "public") == {"Version 2"}


def test_no_space_left_keeps_every_old_feed_and_recovers(site: Path, small_tmpfs: Path) -> None:
    output = small_tmpfs / "public"
    # The state directory elsewhere: the tmpfs is sized for the feeds alone.
    options = (*SITE, "--state-dir", str(site / "state"))
    assert run_feedsvc("build", *options, "--output", str(output), cwd=site).returncode == 0
    before = snapshot(output)
    write_articles(site / "articles", 2, count=40)  # feeds of ~30 KiB each: no room for all
    result = run_feedsvc("build", *options, "--output", str(output), cwd=site)
    assert result.returncode == 2
    assert "No space left" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(output) == before  # no temporaries left either
    for path in (site / "articles").iterdir():
        path.unlink()  # small again: the disk has room
    write_articles(site / "articles", 3)
    recovered = run_feedsvc("build", *options, "--output", str(output), cwd=site)
    assert recovered.returncode == 0, recovered.stderr
    assert versions(output) == {"Version 3"}


def test_an_unwritable_output_directory_keeps_the_feeds(site: Path) -> None:
    """A build run as an unprivileged user who may not write the output directory."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run as another user")
    shared = Path(tempfile.mkdtemp())
    try:
        shared.chmod(0o755)
        shutil.copytree(site / "articles", shared / "articles")
        assert run_feedsvc("build", *SITE, cwd=shared).returncode == 0
        before = snapshot(shared / "public")
        write_articles(shared / "articles", 2)
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        result = subprocess.run(
            [*nobody, sys.executable, "-m", "feedsvc", "build", *SITE],
            cwd=shared,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert result.returncode == 2, result.stderr
        assert "not writable" in result.stderr
        assert snapshot(shared / "public") == before
    finally:
        shutil.rmtree(shared)


def test_emptied_articles_never_empty_the_published_feeds(site: Path) -> None:
    assert run_feedsvc("build", *SITE, cwd=site).returncode == 0
    before = snapshot(site / "public")
    for path in (site / "articles").iterdir():
        path.unlink()  # rm articles/*, an rsync --delete gone wrong
    result = run_feedsvc("build", *SITE, cwd=site)
    assert result.returncode == 2
    assert "refusing to replace published entries with empty feeds" in result.stderr
    assert snapshot(site / "public") == before
    on_purpose = run_feedsvc("build", *SITE, "--allow-empty", cwd=site)
    assert on_purpose.returncode == 0, on_purpose.stderr
    assert feedparser.parse((site / "public" / "rss.xml").read_bytes()).entries == []


def test_an_article_too_large_to_publish_is_rejected_and_the_rest_published(site: Path) -> None:
    """A body that renders past an entry's limit (each '&' becomes '&amp;'): rejected by
    name by build and check alike, and no feed is written too large for libxml2."""
    huge = site / "articles" / "huge.md"
    huge.write_text(article("Huge", ("&" * 1000 + "\n\n") * 440, "June 30, 2025"))
    result = run_feedsvc("build", *SITE, "--strict", cwd=site)
    assert result.returncode == 1
    assert "huge.md: too large to publish" in result.stderr
    assert versions(site / "public") == {"Version 1"}
    assert all((site / "public" / name).stat().st_size < 2**20 for name in FEEDS)
    check = run_feedsvc("check", *SITE, "--strict", cwd=site)
    assert check.returncode == 1 and "huge.md: too large to publish" in check.stderr


def test_an_article_over_its_render_budget_is_rejected_by_name_in_that_time(
    tmp_path: Path,
) -> None:
    """A body that is slow to render (half a megabyte of emphasis: a second of sanitising) is
    stopped at the budget in its worker process; a large ordinary body renders there as it
    would here."""
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "slow.md").write_text(article("Slow", "*a* " * 124_000, "June 30, 2025"))
    large_body = "A paragraph of *ordinary* text & more.\n\n" * 2_000  # over IN_PROCESS_CHARS
    (articles / "large.md").write_text(article("Large", large_body, "June 29, 2025"))
    config = config_from_dict(
        {"site": {"title": "Example News", "url": "https://news.example.org/"}}, tmp_path
    )
    catalog = Catalog(config, budget=Budget(seconds=0.5))
    started = time.monotonic()
    result = build(config, catalog=catalog)
    assert time.monotonic() - started < 3.0
    assert [str(error) for error in result.rejected] == [
        f"{articles / 'slow.md'}: took more than 0.5 s to render: too complex"
    ]
    [entry] = feedparser.parse((tmp_path / "public" / "atom.xml").read_bytes()).entries
    large = next(a for a in result.shown if a.title == "Large")
    body = read_body(large, articles)
    assert entry.content[0].value == to_entry(large, body, config, Renderer()).content_html.strip()


KILLED_BEFORE_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from feedsvc.build import build
    from feedsvc.config import load_config

    config = load_config(Path(sys.argv[1]))

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # the worst moment: nothing renamed yet

    os.replace = die  # the first rename of the publish
    build(config)
    """
)


def test_a_kill_before_the_renames_keeps_the_pings_the_change_owes(site: Path) -> None:
    config = site / "feedsvc.toml"
    config.write_text(
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        '[ping]\nwebsub_hubs = ["http://127.0.0.1:9/hub"]\n'
        '[state]\ndir = "."\n'
    )
    assert run_feedsvc("build", cwd=site).returncode == 0
    before = snapshot(site / "public")
    write_articles(site / "articles", 2)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_RENAME, str(config)],
        cwd=Path(__file__).parent.parent,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    assert {k: v for k, v in snapshot(site / "public").items() if not k.endswith(".tmp")} == before
    pending = read_pending(site / "state.sqlite")
    assert sorted(p.topic for p in pending) == [
        f"https://news.example.org/{name}" for name in sorted(FEEDS)
    ]
