"""Minor edits (whitespace, typography, or marked ``minor_edit: true``) leave an article's
updated date where it was, so readers do not show it again; a real change moves it. Every
build here is a separate ``build()`` (or CLI process) over real files and the real state
database, so what one build learned reaches the next only through the catalog."""

from __future__ import annotations

import html
import json
import pickle
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

import feedsvc.pool
from feedsvc.articles.read import read_source
from feedsvc.build import build
from feedsvc.catalog.cache import fingerprint as cache_fingerprint
from feedsvc.catalog.cache import load_parsed
from feedsvc.catalog.db import MIGRATIONS
from feedsvc.config import Config, config_from_dict
from feedsvc.fingerprint import content_fingerprint, fold
from tests.conftest import run_feedsvc

SITE = {"title": "Example News", "url": "https://news.example.org/"}
PUBLISHED = "2025-06-01T09:00:00Z"


def story(
    body: str,
    *,
    title: str = "A story",
    minor_edit: str | None = None,
    updated: str | None = None,
    published: str = PUBLISHED,
) -> str:
    head = f"---\ntitle: {title}\ndate: {published}\n"
    if minor_edit is not None:
        head += f"minor_edit: {minor_edit}\n"
    if updated is not None:
        head += f"updated: {updated}\n"
    return head + f"---\n\n{body}\n"


def make(tmp_path: Path, **articles: object) -> Config:
    (tmp_path / "articles").mkdir(exist_ok=True)
    data = {
        "site": SITE,
        "articles": {"dir": "articles", **articles},
        "feeds": {"output": "public"},
    }
    return config_from_dict(data, tmp_path)


def write(tmp_path: Path, text: str, name: str = "story.md") -> Path:
    path = tmp_path / "articles" / name
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Shown:
    """What readers get of the one entry, in every format the build publishes."""

    atom_updated: str
    atom_published: str
    rss_pub_date: str
    rss_last_build: str
    json_modified: str
    content: str  # HTML, character references resolved

    @property
    def dates(self) -> tuple[str, ...]:
        return (
            self.atom_updated,
            self.atom_published,
            self.rss_pub_date,
            self.rss_last_build,
            self.json_modified,
        )

    @property
    def updated(self) -> datetime:
        return datetime.fromisoformat(self.atom_updated)


def shown(root: Path) -> Shown:
    public = root / "public"
    atom = feedparser.parse((public / "atom.xml").read_bytes())
    rss = feedparser.parse((public / "rss.xml").read_bytes())
    assert not atom.bozo and not rss.bozo
    assert len(atom.entries) == len(rss.entries) == 1
    (item,) = json.loads((public / "feed.json").read_bytes())["items"]
    entry = atom.entries[0]
    return Shown(
        atom_updated=entry.updated,
        atom_published=entry.published,
        rss_pub_date=rss.entries[0].published,
        rss_last_build=rss.feed.updated,
        json_modified=item["date_modified"],
        content=html.unescape(entry.content[0].value),
    )


# (before, after, text only the edited version's content shows)
MINOR_EDITS = {
    "whitespace": (
        "The council met on Monday.\nIt voted  to fund the library.",
        "  The council met on Monday. It voted to fund\n\tthe library.   ",
        "Monday. It voted to fund",
    ),
    "straight-to-curly-quotes": (
        'The mayor said "it\'s done" and left.',
        "The mayor said \u201cit\u2019s done\u201d and left.",
        "\u201cit\u2019s done\u201d",
    ),
    "double-hyphen-to-em-dash": (
        "The vote -- a close one -- passed.",
        "The vote\u2014a close one\u2014passed.",
        "vote\u2014a close one",
    ),
    "ellipsis-and-no-break-space": (
        "Wait for it... 10 km away.",
        "Wait for it\u2026 10\u00a0km away.",
        "it\u2026 10\u00a0km",
    ),
}


@pytest.mark.parametrize(("before", "after", "new_text"), MINOR_EDITS.values(), ids=MINOR_EDITS)
def test_a_minor_edit_publishes_the_new_text_but_keeps_every_date(
    tmp_path: Path, before: str, after: str, new_text: str
) -> None:
    config = make(tmp_path)
    path = write(tmp_path, story(before))
    build(config)
    first = shown(tmp_path)
    assert new_text not in first.content

    write(tmp_path, story(after))
    result = build(config)
    edited = shown(tmp_path)
    assert result.written  # the feeds were written again: the content changed
    assert new_text in edited.content
    assert edited.dates == first.dates
    assert load_parsed(config.state_path, config)[path].changed is None


def test_a_word_change_moves_updated(tmp_path: Path) -> None:
    config = make(tmp_path)
    write(tmp_path, story("The council met on Monday."))
    build(config)
    first = shown(tmp_path)
    before = datetime.now(UTC).replace(microsecond=0)
    write(tmp_path, story("The council met on Tuesday."))
    build(config)
    edited = shown(tmp_path)
    assert "Tuesday" in edited.content
    assert edited.updated >= before and edited.atom_updated != first.atom_updated
    assert edited.rss_last_build != first.rss_last_build
    assert edited.json_modified != first.json_modified
    assert edited.atom_published == first.atom_published  # the same entry, shown as updated
    assert edited.rss_pub_date == first.rss_pub_date


def test_a_minor_edit_after_a_real_one_keeps_the_time_of_the_real_one(tmp_path: Path) -> None:
    config = make(tmp_path)
    path = write(tmp_path, story("Results are due on Monday."))
    build(config)
    write(tmp_path, story('Results are due on "Friday".'))
    build(config)
    real = shown(tmp_path)
    changed = load_parsed(config.state_path, config)[path].changed
    assert changed is not None

    write(tmp_path, story("Results are due on \u201cFriday\u201d."))
    build(config)
    assert shown(tmp_path).dates == real.dates
    assert load_parsed(config.state_path, config)[path].changed == changed


def test_a_real_change_marked_minor_edit_keeps_updated_until_an_unmarked_one(
    tmp_path: Path,
) -> None:
    config = make(tmp_path)
    write(tmp_path, story("The bridge opens in May."))
    build(config)
    first = shown(tmp_path)

    write(tmp_path, story("The bridge opens in June.", minor_edit="true"))
    build(config)
    marked = shown(tmp_path)
    assert "June" in marked.content and marked.dates == first.dates

    before = datetime.now(UTC).replace(microsecond=0)
    write(tmp_path, story("The bridge opens in July."))
    build(config)
    assert shown(tmp_path).updated >= before


def test_with_quiet_minor_edits_off_any_edit_moves_updated(tmp_path: Path) -> None:
    config = make(tmp_path, quiet_minor_edits=False)
    write(tmp_path, story("The council met on Monday."))
    build(config)
    first = shown(tmp_path)

    before = datetime.now(UTC).replace(microsecond=0)
    write(tmp_path, story("The council  met on Monday.\n"))
    build(config)
    spaced = shown(tmp_path)
    assert spaced.updated >= before and spaced.atom_updated != first.atom_updated

    write(tmp_path, story("The council met on Monday.", minor_edit="true"))
    build(config)
    assert shown(tmp_path).atom_updated != spaced.atom_updated  # the mark counts for nothing


def test_an_explicit_updated_date_wins_over_a_minor_edit(tmp_path: Path) -> None:
    config = make(tmp_path)
    write(tmp_path, story("Text.", updated="2025-06-05T00:00:00Z"))
    build(config)
    assert shown(tmp_path).atom_updated.startswith("2025-06-05T00:00:00")

    write(tmp_path, story("Text.", updated="2025-06-07T00:00:00Z", minor_edit="true"))
    build(config)
    assert shown(tmp_path).atom_updated.startswith("2025-06-07T00:00:00")

    write(tmp_path, story("Text, longer now.", updated="2025-06-07T00:00:00Z"))
    build(config)
    assert shown(tmp_path).atom_updated.startswith("2025-06-07T00:00:00")


def test_a_version_that_fails_to_parse_keeps_the_last_good_fingerprint(tmp_path: Path) -> None:
    config = make(tmp_path)
    path = write(tmp_path, story("It's settled."))
    build(config)
    first = shown(tmp_path)

    write(tmp_path, story("Nothing is settled.", published="the day after tomorrow-ish"))
    broken = build(config)
    assert [error.path for error in broken.rejected] == [path]
    assert shown(tmp_path) == first  # the last good version stays published

    write(tmp_path, story("It\u2019s settled."))  # the last good text, typeset
    result = build(config)
    assert result.rejected == () and shown(tmp_path).dates == first.dates
    assert load_parsed(config.state_path, config)[path].changed is None


def test_the_switch_is_part_of_what_the_parse_cache_was_made_under(tmp_path: Path) -> None:
    quiet, loud = make(tmp_path), make(tmp_path, quiet_minor_edits=False)
    assert quiet.articles.quiet_minor_edits is True
    write(tmp_path, story("Text."))
    build(quiet)
    assert cache_fingerprint(quiet) != cache_fingerprint(loud)
    assert len(load_parsed(quiet.state_path, quiet)) == 1
    assert load_parsed(loud.state_path, loud) == {}  # made under the other policy: unused


def test_the_fingerprint_is_kept_in_the_parse_cache(tmp_path: Path) -> None:
    config = make(tmp_path)
    path = write(tmp_path, story("The \u201cbody\u201d.", title="A \u2018title\u2019"))
    build(config)
    article = load_parsed(config.state_path, config)[path].article
    assert article is not None
    assert article.fingerprint == content_fingerprint("A 'title'", 'The "body".', None)
    assert pickle.loads(pickle.dumps(article)).fingerprint == article.fingerprint


def test_a_state_file_from_before_fingerprints_is_migrated(tmp_path: Path) -> None:
    config = make(tmp_path)
    config.state_path.parent.mkdir(parents=True)
    version = next(n for n, step in enumerate(MIGRATIONS) if "fingerprint" in step)
    with sqlite3.connect(config.state_path) as db:
        for step in MIGRATIONS[:version]:
            db.executescript(step)
        db.execute(f"PRAGMA user_version = {version}")
    db.close()
    path = write(tmp_path, story("Text."))
    build(config)
    with sqlite3.connect(config.state_path) as db:
        (stored,) = db.execute("SELECT fingerprint FROM article").fetchone()
    db.close()
    assert stored == load_parsed(config.state_path, config)[path].article.fingerprint
    assert len(stored) == 32


def test_fingerprints_come_back_from_the_parse_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedsvc.pool, "MIN_PARALLEL", 1)
    monkeypatch.setattr(feedsvc.pool, "CHUNK", 1)  # one job per chunk: two workers
    config = make(tmp_path)
    for n in range(3):
        write(tmp_path, story(f"Story {n}.", title=f"Story {n}"), f"s{n}.md")
    build(config)
    parsed = load_parsed(config.state_path, config)
    assert {p.article.fingerprint for p in parsed.values()} == {
        content_fingerprint(f"Story {n}", f"Story {n}.", None) for n in range(3)
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("maybe", "the minor-edit flag must be true or false, not 'maybe'"),
        ("2", "the minor-edit flag must be true or false, not '2'"),
        ("[yes]", "the minor-edit flag must be true or false, not a list"),
    ],
)
def test_minor_edit_that_is_not_a_boolean_is_refused_at_its_line(
    tmp_path: Path, value: str, message: str
) -> None:
    config = make(tmp_path)
    path = write(tmp_path, story("Text.", minor_edit=value))
    (error,) = build(config).rejected
    assert (error.path, error.line, error.reason) == (path, 4, message)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("no", False), ("On", True)])
def test_minor_edit_takes_the_words_of_a_boolean(
    tmp_path: Path, value: str, expected: bool
) -> None:
    make(tmp_path)
    path = write(tmp_path, story("Text.", minor_edit=value))
    assert read_source(path, tmp_path / "articles").minor_edit is expected


def test_a_minor_edit_line_at_the_foot_stays_in_the_body(tmp_path: Path) -> None:
    config = make(tmp_path)
    text = "# A story\n\nText.\n\nMinor edit: a typo fixed\n\n---\n\nPublished: 2025-06-01\n"
    write(tmp_path, text)
    result = build(config)
    assert result.rejected == ()
    assert "Minor edit: a typo fixed" in shown(tmp_path).content


def test_minor_edits_are_told_apart_across_cli_processes(tmp_path: Path) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "feedsvc.toml").write_text(
        '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'
        '[articles]\ndir = "articles"\n[feeds]\noutput = "public"\n'
    )
    write(tmp_path, story('He said "it\'s done" -- and left...'))
    assert run_feedsvc("build", cwd=tmp_path).returncode == 0
    first = shown(tmp_path)

    write(tmp_path, story("He said \u201cit\u2019s done\u201d\u2014and  left\u2026"))
    done = run_feedsvc("build", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    typeset = shown(tmp_path)
    assert "\u201cit\u2019s done\u201d" in typeset.content and typeset.dates == first.dates

    before = datetime.now(UTC).replace(microsecond=0)
    write(tmp_path, story("He said \u201cit\u2019s done\u201d\u2014and stayed\u2026"))
    assert run_feedsvc("build", cwd=tmp_path).returncode == 0
    assert shown(tmp_path).updated >= before


@pytest.mark.parametrize(
    "variant",
    [
        "It\u2019s \u201cdone\u201d \u2014 nearly\u2026",
        'It\'s "done" -- nearly...',
        "It\u2018s \u201edone\u201f --- nearly...",
        '  It\'s\n"done"\u00a0\u2013\u2009nearly...\n',
        "It\u2032s \u2033done\u2033 \u2212 nearly\u2026",
    ],
)
def test_typographic_variants_share_a_fingerprint(variant: str) -> None:
    plain = content_fingerprint("Title", 'It\'s "done" - nearly...', None)
    assert content_fingerprint("Title", variant, None) == plain


@pytest.mark.parametrize(
    ("title", "body", "summary"),
    [
        ("Title", 'It\'s "done" - barely...', None),  # a word
        ("title", 'It\'s "done" - nearly...', None),  # a capital
        ("Title", 'It\'s "done" - nearly..', None),  # a full stop
        ("Title", 'It\'s "done" - nearly...', "A summary."),  # a summary
        ("Title It's", '"done" - nearly...', None),  # text moved from body to title
    ],
)
def test_a_real_change_changes_the_fingerprint(title: str, body: str, summary: str | None) -> None:
    plain = content_fingerprint("Title", 'It\'s "done" - nearly...', None)
    assert content_fingerprint(title, body, summary) != plain


def test_fold_reads_text_as_the_fingerprint_does() -> None:
    # A decomposed e-acute, curly quotes, an em dash, a no-break, a narrow and a thin space.
    text = " \u201cCafe\u0301\u201d\u00a0\u2014 it\u2019s  open\u2026\n\t-- 10\u202f\u2212\u20092 "
    assert fold(text) == '"Caf\u00e9"-it\'sopen...-10-2'.encode()
