"""The lint before publishing: each rule through real builds on real files, refusing (nothing
written, the published feeds byte for byte as they were) or only warning, and `feedsvc
check` running the same lint."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import LINT_RULES, Config, config_from_dict
from feedsvc.errors import ConfigError, LintRefused, PublishError
from feedsvc.lint import is_absolute, lint_documents, lint_site
from feedsvc.model import ATOM_TYPE, ArtifactKind
from feedsvc.outputs.base import Put
from feedsvc.outputs.localdir import LocalDirSink
from feedsvc.plan import Plan, plan_build
from feedsvc.publish import publish
from feedsvc.scan import scan
from tests.conftest import run_feedsvc
from tests.daemon_process import DaemonProcess
from tests.daemon_process import article as daemon_article

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SITE = "https://news.example.org/"
BAD_LINK = "See [the report](http:report.html) for more."


def article(title: str, published: str, body: str = "Text.") -> str:
    return f"---\ntitle: {title}\ndate: {published}\n---\n{body}\n"


def warn_only(rule: str) -> dict[str, list[str]]:
    """[lint] refusing every rule but ``rule``."""
    return {"refuse": [other for other in LINT_RULES if other != rule]}


def published(config: Config) -> dict[str, bytes]:
    """Every file below the output directory (the state lives beside it), by relative path."""
    root = config.feeds.output
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def titles(config: Config) -> list[str]:
    return [e.title for e in feedparser.parse(config.feeds.output / "atom.xml").entries]


@pytest.fixture
def site(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> Callable[..., Config]:
    """A site with one good article published; returns a maker of its config."""
    write_article("good.md", article("Good", "2025-06-01"))
    build(make_config(), now=NOW)
    return make_config


def assert_refused(config: Config, before: dict[str, bytes], *expected: str) -> LintRefused:
    """The build is refused naming everything in ``expected``; nothing was written."""
    with pytest.raises(LintRefused) as caught:
        build(config, now=NOW)
    message = str(caught.value)
    for text in expected:
        assert text in message
    assert "the published feeds are kept" in message
    assert published(config) == before
    return caught.value


def test_a_feed_over_max_feed_bytes_is_refused_and_the_published_feeds_kept(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    config = site(lint={"max_feed_bytes": 4096})
    before = published(config)
    write_article("long.md", article("Long", "2025-06-02", "Many words here. " * 400))
    error = assert_refused(config, before, "rss.xml: is ", "max_feed_bytes = 4,096")
    assert {p.rule for p in error.problems} == {"size"}
    assert {p.where for p in error.problems} == {"rss.xml"}  # the first document made
    assert 'set [lint] refuse without "size"' in str(error)


def test_a_feed_over_max_feed_bytes_is_published_with_a_warning_when_size_only_warns(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    config = site(lint={"max_feed_bytes": 4096, **warn_only("size")})
    write_article("long.md", article("Long", "2025-06-02", "Many words here. " * 400))
    result = build(config, now=NOW)
    assert titles(config) == ["Long", "Good"]
    assert any(w.startswith("rss.xml: is ") and "max_feed_bytes" in w for w in result.warnings)


def test_archive_pages_are_not_held_to_max_feed_bytes(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    """Aggregators poll the subscription feeds; archive pages are walked by RFC 5005 clients."""
    for day in range(1, 6):
        write_article(f"a{day}.md", article(f"Day {day}", f"2025-06-0{day}", "Words. " * 150))
    config = make_config(lint={"max_feed_bytes": 4096}, feeds={"max_items": 1})
    result = build(config, now=NOW)
    pages = [a for a in result.manifest.artifacts if a.kind is ArtifactKind.ARCHIVE]
    assert pages and all(page.size > 4096 for page in pages)
    assert titles(config) == ["Day 5"]


def test_a_link_readers_would_resolve_elsewhere_is_refused_naming_document_url_and_entry(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    config = site()
    before = published(config)
    write_article("bad.md", article("Bad", "2025-06-02", BAD_LINK + " [x](https:/x/y)"))
    error = assert_refused(config, before, "rss.xml: the URL 'http:report.html'", ":bad'")
    assert {p.rule for p in error.problems} == {"links"}
    assert {p.where for p in error.problems} == {"rss.xml"}  # the first document made
    assert "'https:/x/y'" in str(error)


def test_a_refused_subscription_feed_leaves_the_archive_pages_as_they_were(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    """The new article would push the older one into the newest archive page: the lint sees
    the subscription files before that page is stored."""
    write_article("one.md", article("One", "2025-06-01"))
    write_article("two.md", article("Two", "2025-06-02"))
    config = make_config(feeds={"max_items": 1})
    build(config, now=NOW)
    before = published(config)
    assert "archive/rss/1.xml" in before
    write_article("three.md", article("Three", "2025-06-03", BAD_LINK))
    assert_refused(config, before, "rss.xml: the URL 'http:report.html'")


def test_a_bad_link_in_an_archive_page_is_refused_before_any_page_is_stored(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    write_article("old.md", article("Old", "2025-06-01", BAD_LINK))
    write_article("new.md", article("New", "2025-06-02"))
    config = make_config(feeds={"max_items": 1})
    with pytest.raises(LintRefused, match="archive/atom/1.xml: the URL 'http:report.html'"):
        build(config, now=NOW)
    assert published(config) == {}


def test_a_bad_link_is_published_with_a_warning_when_links_only_warn(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    config = site(lint=warn_only("links"))
    write_article("bad.md", article("Bad", "2025-06-02", BAD_LINK))
    result = build(config, now=NOW)
    assert titles(config) == ["Bad", "Good"]
    assert any("atom.xml: the URL 'http:report.html'" in w for w in result.warnings)


def test_mail_phone_and_relative_links_in_bodies_pass_the_lint(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    """render.py makes relative URLs absolute against the article's link: no problem left."""
    body = "[mail](mailto:desk@example.org) [call](tel:+441234) [rel](../other/) ![i](i.png)"
    write_article("fine.md", article("Fine", "2025-06-02", body + " [p](//cdn.example.org/x)"))
    config = site()
    result = build(config, now=NOW)
    assert titles(config) == ["Fine", "Good"] and result.warnings == ()
    atom = etree.parse(config.feeds.output / "atom.xml")  # feedparser would drop the tel: link
    content = atom.findtext(
        "{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}content"
    )
    fragment = lxml.html.fragment_fromstring(content, create_parent="div")
    assert [e.get("href") or e.get("src") for e in fragment.iter("a", "img")] == [
        "mailto:desk@example.org",
        "tel:+441234",
        "https://news.example.org/other/",
        "https://news.example.org/fine/i.png",
        "https://cdn.example.org/x",
    ]


@pytest.mark.parametrize(
    ("url", "absolute"),
    [
        ("https://news.example.org/a/", True),
        (" HTTP://EXAMPLE.ORG ", True),
        ("mailto:desk@example.org", True),
        ("tel:+441234", True),
        ("data:image/png;base64,AAAA", True),
        ("tag:example.org,2025:x", True),
        ("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", True),
        ("//cdn.example.org/x", False),
        ("/about/", False),
        ("other/page", False),
        ("#top", False),
        ("", False),
        ("http:report.html", False),
        ("https:/x", False),
        ("http:///x", False),
    ],
)
def test_which_urls_are_absolute(url: str, absolute: bool) -> None:
    assert is_absolute(url) is absolute


def test_relative_links_in_every_place_of_a_document_are_found(
    make_config: Callable[..., Config],
) -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>T</title>
<link href="/" /><icon>icon.png</icon>
<entry><id>urn:e</id><title>E</title><link href="e/" />
<content type="html">&lt;p&gt;&lt;a href="ok"&gt;x&lt;/a&gt; href=text&lt;/p&gt;</content>
</entry></feed>"""
    problems = lint_documents(make_config(), [Put("atom.xml", atom, ATOM_TYPE)])
    assert [(p.rule, p.message) for p in problems] == [
        ("links", "the URL '/' is not absolute"),
        ("links", "the URL 'icon.png' is not absolute"),
        ("links", "the URL 'e/' in the entry 'urn:e' is not absolute"),
        ("links", "the URL 'ok' in the entry 'urn:e' is not absolute"),
    ]


@pytest.mark.parametrize("language", ["xx", "en-ZZZZ", "und", "en-Abcd", "qq-GB"])
def test_an_unregistered_language_is_refused_and_nothing_written(
    site: Callable[..., Config], language: str
) -> None:
    config = site(site={"language": language})
    before = published(config)
    error = assert_refused(config, before, "[site] language", repr(language))
    assert [p.rule for p in error.problems] == ["language"]


@pytest.mark.parametrize("language", ["en", "en-GB", "pt-BR", "zh-Hant-TW", "de-CH-1996"])
def test_registered_languages_pass(make_config: Callable[..., Config], language: str) -> None:
    assert lint_site(make_config(site={"language": language})) == []


def test_an_unregistered_language_only_warns_when_language_only_warns(
    site: Callable[..., Config],
) -> None:
    config = site(site={"language": "xx"}, lint=warn_only("language"))
    result = build(config, now=NOW)
    assert feedparser.parse(config.feeds.output / "rss.xml").feed.language == "xx"
    assert any(w.startswith("[site] language: the language 'xx'") for w in result.warnings)


@pytest.mark.parametrize(
    ("published_on", "why"),
    [("1989-12-31", "is before 1990"), ("2027-01-03", "is more than a year ahead")],
)
def test_an_implausible_date_rejects_that_article_by_name_and_publishes_the_rest(
    site: Callable[..., Config],
    write_article: Callable[..., Path],
    published_on: str,
    why: str,
) -> None:
    path = write_article("typo.md", article("Typo", published_on))
    write_article("next.md", article("Next", "2025-06-02"))
    config = site()
    result = build(config, now=NOW)
    assert titles(config) == ["Next", "Good"]
    assert [error.path for error in result.rejected] == [path]
    assert why in str(result.rejected[0])
    assert 'set [lint] refuse without "dates"' in str(result.rejected[0])
    assert result.scheduled == ()


def test_an_implausible_date_only_warns_when_dates_only_warn(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    write_article("old.md", article("Old", "1985-03-02"))
    config = site(lint=warn_only("dates"))
    result = build(config, now=NOW)
    assert titles(config) == ["Good", "Old"]
    assert result.rejected == ()
    assert any("old.md: its date 1985-03-02 is before 1990" in w for w in result.warnings)


def test_an_article_due_within_a_year_is_scheduled_not_linted(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    write_article("soon.md", article("Soon", "2026-12-30"))
    result = build(site(), now=NOW)
    assert [a.title for a in result.scheduled] == ["Soon"]
    assert result.rejected == () and result.warnings == ()


def _plan_with_one_id_twice(config: Config) -> tuple[Catalog, Plan]:
    """The plan of a build whose site feed holds two articles with one id, as a bug in
    plan.unique would make it (the plan is plain data: publish takes it as given)."""
    catalog = Catalog(config)
    plan = plan_build(config, scan(catalog).outcomes, NOW)
    feed = plan.feeds[0]
    first, second = feed.articles
    twin = replace(second, entry_id=first.entry_id)
    return catalog, replace(plan, feeds=(replace(feed, articles=(first, twin)),))


def test_two_entries_with_one_id_in_a_document_are_refused(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    write_article("other.md", article("Other", "2025-06-02"))
    config = site()
    before = published(config)
    catalog, plan = _plan_with_one_id_twice(config)
    sink = LocalDirSink(config.feeds.output)
    with pytest.raises(LintRefused, match=r"rss.xml: 2 entries have the id 'tag:") as caught:
        publish(config, plan, catalog, sink)
    assert {p.rule for p in caught.value.problems} == {"duplicates"}
    assert published(config) == before


def test_two_entries_with_one_id_are_published_with_a_warning_when_duplicates_only_warn(
    site: Callable[..., Config], write_article: Callable[..., Path]
) -> None:
    write_article("other.md", article("Other", "2025-06-02"))
    config = site(lint=warn_only("duplicates"))
    catalog, plan = _plan_with_one_id_twice(config)
    result = publish(config, plan, catalog, LocalDirSink(config.feeds.output))
    ids = [item["id"] for item in json.loads(published(config)["feed.json"])["items"]]
    assert len(ids) == 2 and len(set(ids)) == 1
    assert any("feed.json: 2 entries have the id" in w for w in result.warnings)


def test_a_refusal_is_a_publish_error_the_daemon_survives(daemon: DaemonProcess) -> None:
    """The daemon logs the refusal, keeps the last good feeds, and publishes once fixed."""
    bad = daemon.articles / "second.md"
    bad.write_text(daemon_article("Second story", "2025-06-03 09:00 UTC", BAD_LINK))
    daemon.wait_log("refusing to publish, the published feeds are kept")
    assert daemon.titles() == ["First story"]
    bad.write_text(daemon_article("Second story", "2025-06-03 09:00 UTC", "Fixed."))
    daemon.wait_titles(lambda shown: shown == ["Second story", "First story"])
    assert issubclass(LintRefused, PublishError)
    assert daemon.stop() == 0


@pytest.fixture
def cli_site(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "good.md").write_text(article("Good", "2025-06-01"))
    (tmp_path / "feedsvc.toml").write_text(
        f'[site]\ntitle = "Example News"\nurl = "{SITE}"\n[feeds]\noutput = "public"\n'
    )
    return tmp_path


def test_check_exits_1_when_the_lint_would_refuse_a_build_and_writes_nothing(
    cli_site: Path,
) -> None:
    (cli_site / "articles" / "bad.md").write_text(article("Bad", "2025-06-02", BAD_LINK))
    (cli_site / "articles" / "old.md").write_text(article("Old", "1985-03-02"))
    done = run_feedsvc("check", cwd=cli_site)
    assert done.returncode == 1, done.stderr
    assert "a build would be refused: rss.xml: the URL 'http:report.html'" in done.stderr
    assert "articles/old.md: its date 1985-03-02 is before 1990" in done.stderr
    assert "3 article files" in done.stdout and "1 rejected" in done.stdout
    assert not (cli_site / "public").exists()
    assert run_feedsvc("build", cwd=cli_site).returncode == 2
    assert not (cli_site / "public" / "rss.xml").exists()


def test_check_exits_0_when_the_lint_only_warns(cli_site: Path) -> None:
    (cli_site / "articles" / "bad.md").write_text(article("Bad", "2025-06-02", BAD_LINK))
    with (cli_site / "feedsvc.toml").open("a") as toml:
        toml.write('[lint]\nrefuse = ["size"]\n')
    done = run_feedsvc("check", cwd=cli_site)
    assert done.returncode == 0, done.stderr
    assert "WARNING rss.xml: the URL 'http:report.html'" in done.stderr
    assert "would be refused" not in done.stderr
    assert run_feedsvc("build", cwd=cli_site).returncode == 0
    assert len(feedparser.parse(cli_site / "public" / "rss.xml").entries) == 2


def test_check_of_a_clean_site_exits_0(cli_site: Path) -> None:
    done = run_feedsvc("check", cwd=cli_site)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    ("lint", "key"),
    [
        ({"refuse": ["size", "spelling"]}, "lint.refuse"),
        ({"refuse": "size"}, "lint.refuse"),
        ({"max_feed_bytes": 1023}, "lint.max_feed_bytes"),
        ({"max_feed_bytes": 2**30 + 1}, "lint.max_feed_bytes"),
        ({"max_feed_bytes": "1MB"}, "lint.max_feed_bytes"),
        ({"strict": True}, "lint.strict"),
    ],
)
def test_bad_lint_settings_are_named(tmp_path: Path, lint: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"lint": lint}, tmp_path)
    assert caught.value.key == key


def test_lint_settings_are_read(tmp_path: Path) -> None:
    config = config_from_dict({"lint": {"max_feed_bytes": 2048, "refuse": []}}, tmp_path)
    assert (config.lint.max_feed_bytes, config.lint.refuse) == (2048, ())
    assert config_from_dict({}, tmp_path).lint.refuse == LINT_RULES


def test_an_unreadable_document_is_a_links_problem(make_config: Callable[..., Config]) -> None:
    problems = lint_documents(make_config(), [Put("atom.xml", b"<feed", ATOM_TYPE)])
    assert [p.rule for p in problems] == ["links"]
    assert problems[0].message.startswith("cannot be read back")
