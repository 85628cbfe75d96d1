"""Hostile articles (issue 7): each is rejected by name, the others still publish, and the
work it costs is bounded. Every case builds through the real ``build`` and reads the feeds
back with feedparser and lxml."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from feedsvc.build import build
from feedsvc.catalog.memory import Catalog
from feedsvc.config import Config
from feedsvc.model import BuildResult
from tests.conftest import article

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GOOD = article("Good news", "A good article.", "2025-01-02")
# Generous ceilings: each input is large enough that the old code took many seconds.
QUICK = 2.0


def front_matter(*lines: str, body: str = "Body.") -> str:
    return "---\n" + "\n".join([*lines, "date: 2025-01-01"]) + f"\n---\n{body}\n"


def built(
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    hostile: str | bytes,
    name: str = "hostile.md",
) -> tuple[BuildResult, dict[str, feedparser.FeedParserDict], float]:
    """Build a good article beside a hostile one: the result, the parsed feeds, the time."""
    write_article("good.md", GOOD)
    write_article(name, hostile)
    config = make_config()
    start = time.perf_counter()
    result = build(config, now=NOW)
    took = time.perf_counter() - start
    feeds = {}
    for feed_name in ("rss.xml", "atom.xml"):
        data = (config.feeds.output / feed_name).read_bytes()
        etree.fromstring(data)  # well-formed XML, or this raises
        feeds[feed_name] = feedparser.parse(data)
    return result, feeds, took


def rejected(result: BuildResult) -> dict[str, str]:
    return {error.path.name: str(error) for error in result.rejected}


def titles(feeds: dict[str, feedparser.FeedParserDict]) -> set[tuple[str, ...]]:
    return {tuple(entry.title for entry in feed.entries) for feed in feeds.values()}


def assert_only_good_published(
    result: BuildResult, feeds: dict[str, feedparser.FeedParserDict]
) -> None:
    assert result.entries == 1
    assert titles(feeds) == {("Good news",)}
    for feed in feeds.values():
        assert not feed.bozo, feed.bozo_exception


# Section 1: one article never stops the others.


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('id: "tag:x.example,2026:a\\x01b"', "id"),
        ('link: "https://news.example.org/a\\x01b"', "link"),
        ('slug: "a\\x01b"', "slug"),
        ('id: "tag:x.example,2026:a\\tb"', "id"),
        ('id: "urn:x:a\\u2028b"', "id"),
        ('slug: "a\\uFFFEb"', "slug"),
        ('link: "https://news.example.org/\\u202Eevil"', "link"),
    ],
)
def test_a_forbidden_character_in_an_identity_field_rejects_that_article_only(
    write_article: Callable[..., Path], make_config: Callable[..., Config], line: str, field: str
) -> None:
    result, feeds, _ = built(write_article, make_config, front_matter("title: Bad", line))
    assert_only_good_published(result, feeds)
    message = rejected(result)["hostile.md"]
    assert message.startswith(str(result.rejected[0].path))
    assert f"the {field} contains" in message and ":3:" in message


def test_control_characters_in_free_text_are_removed_and_published(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    hostile = front_matter(
        'title: "Bell\\x07 and \\uFFFE noncharacter"',
        'summary: "Sum\\x01mary"',
        'tags: ["t\\x02ag", 7, 2.5, true]',
        'author: {name: "Au\\x1bthor"}',
        body="A paragraph.\n\n<div>A block of raw HTML: &#1;&#xFFFE;&#x0B;</div>",
    )
    write_article("good.md", GOOD)
    write_article("hostile.md", hostile)
    config = make_config()
    result = build(config, now=NOW)
    assert result.rejected == () and result.entries == 2
    for name in ("rss.xml", "atom.xml"):
        feed = feedparser.parse((config.feeds.output / name).read_bytes())
        assert not feed.bozo
        entry = next(e for e in feed.entries if e.title != "Good news")
        assert entry.title == "Bell and noncharacter"
        assert entry.summary == "Summary"
        assert [tag.term for tag in entry.tags] == ["tag", "7", "2.5", "True"]
        assert "\x01" not in entry.content[0].value


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("title: [a, b]", "the title must be text, not a list"),
        ("title: {a: b}", "the title must be text, not a mapping"),
        ("title: !!binary aGVsbG8=", "the title must be text, not binary data"),
        ("title: T\ntags: [[a]]", "the tags must be text, not a list"),
        ("title: T\nauthor: {name: [a]}", "the author must be text, not a list"),
        ("title: T\nid: {a: b}", "the id must be text, not a mapping"),
        ("title: T\ndraft: [yes]", "the draft flag must be true or false, not a list"),
    ],
)
def test_a_structured_value_where_text_belongs_is_rejected_by_field(
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    line: str,
    expected: str,
) -> None:
    result, feeds, _ = built(write_article, make_config, front_matter(line))
    assert_only_good_published(result, feeds)
    assert expected in rejected(result)["hostile.md"]


def test_a_date_in_a_list_is_rejected_by_field(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    hostile = "---\ntitle: T\ndate: [2025-01-01]\n---\nBody.\n"
    result, feeds, _ = built(write_article, make_config, hostile)
    assert_only_good_published(result, feeds)
    assert "the publish date must be a date, not a list" in rejected(result)["hostile.md"]


# Section 2: bounded, linear work per article.


def test_a_heading_with_a_long_run_of_spaces_is_rejected_quickly(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    # The old heading pattern took ~20 s on 40,000 spaces (quadratic backtracking).
    result, feeds, took = built(
        write_article, make_config, article("a" + " " * 30_000 + "b", "Body.", "2025-01-01")
    )
    assert took < QUICK
    assert_only_good_published(result, feeds)
    assert "the title is too long (30,002 characters" in rejected(result)["hostile.md"]


@pytest.mark.parametrize(
    "hostile",
    [
        "# T\n\nBody.\n\n---\n\nPublished:" + " " * 200_000 + "x\n",
        "# T\n\nBody.\n\n---\n\n**Published" + " " * 50 + ":" + " " * 200_000 + "x**\n",
        front_matter("title: T", "updated: '" + "1" * 60_000 + "'"),
    ],
)
def test_a_long_date_line_is_rejected_quickly(
    write_article: Callable[..., Path], make_config: Callable[..., Config], hostile: str
) -> None:
    result, feeds, took = built(write_article, make_config, hostile)
    assert took < QUICK
    assert_only_good_published(result, feeds)
    message = rejected(result)["hostile.md"]
    assert "too long for a date" in message or "cannot understand" in message
    assert len(message) < 300


def alias_bomb(field: str) -> str:
    names = "abcdefghi"
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for previous, name in zip(names, names[1:], strict=False):
        lines.append(f"{name}: &{name} [{','.join(['*' + previous] * 9)}]")
    return "\n".join(lines) + f"\n{field}: *i"


@pytest.mark.parametrize("field", ["title", "tags", "unknown_key"])
def test_a_yaml_alias_bomb_is_rejected_at_once(
    write_article: Callable[..., Path], make_config: Callable[..., Config], field: str
) -> None:
    # 382 bytes that took 55 s and 5.5 GB (title) or never finished (tags).
    hostile = front_matter(alias_bomb(field), "title: T" if field != "title" else "")
    result, feeds, took = built(write_article, make_config, hostile)
    assert took < QUICK
    assert_only_good_published(result, feeds)
    assert (
        "front matter uses the YAML alias *a: aliases are not allowed"
        in (rejected(result)["hostile.md"])
    )
    assert ":3:" in rejected(result)["hostile.md"]


def test_anchors_and_asterisks_in_quoted_text_are_not_aliases(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    hostile = front_matter('title: "Stars *a and &b anchors"', "tags: &t [x, '*y']")
    result, feeds, _ = built(write_article, make_config, hostile)
    assert result.rejected == ()
    assert ("Stars *a and &b anchors", "Good news") in titles(feeds) or (
        "Good news",
        "Stars *a and &b anchors",
    ) in titles(feeds)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["title: T", "x: " + "[" * 40 + "]" * 40], "front matter nests deeper than 16 levels"),
        (["title: T", "x: '" + "y" * 70_000 + "'"], "the front matter is too long"),
        (["title: T", "--- x"], "more than one YAML document"),
    ],
)
def test_front_matter_is_bounded(
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    lines: list[str],
    expected: str,
) -> None:
    result, feeds, took = built(write_article, make_config, front_matter(*lines))
    assert took < QUICK
    assert_only_good_published(result, feeds)
    assert expected in rejected(result)["hostile.md"]


def table(rows: int, columns: int = 10) -> str:
    header = "|" + "h|" * columns + "\n|" + "-|" * columns + "\n"
    return header + ("|" + "x|" * columns + "\n") * rows


@pytest.mark.parametrize(
    "body",
    [
        table(2_500),  # 55 KB, 25,000 cells
        "\n\n".join([table(400)] * 6),  # six tables of 4,000 cells
        "|" + "a|" * 12_000 + "\n|" + "-|" * 12_000 + "\n" + "|\n" * 10,  # padded rows
    ],
)
def test_large_tables_render_in_linear_time_and_bounded_size(
    write_article: Callable[..., Path], make_config: Callable[..., Config], body: str
) -> None:
    """cmark-gfm holds a few bytes per cell and pads short rows only so far: a table that
    cost markdown-it-py ~50 MB of tokens is published at once, its entry within bounds."""
    result, feeds, took = built(write_article, make_config, article("Table", body, "2025-01-01"))
    assert took < QUICK
    assert result.rejected == () and result.entries == 2
    for feed in feeds.values():
        assert "Table" in [entry.title for entry in feed.entries]


def test_a_table_within_the_limit_is_published(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    result, feeds, _ = built(write_article, make_config, article("Table", table(100), "2025-01-01"))
    assert result.rejected == () and result.entries == 2


@pytest.mark.parametrize(
    "body",
    [
        "<div>" * 90_000 + "x" + "</div>" * 90_000,  # ~1 MB before the body limit: 26 s
        "<div><!--</div>-->" * 300,  # end tags in comments close nothing
        '<div title="</div>">' * 300,  # nor in attribute values
        "<div><textarea></div></textarea>" * 300,  # nor in raw text
        "<li><dd>" * 300,  # elements that close only their own kind
        "> " * 300 + "x",  # Markdown block quotes, nested 300 deep
    ],
)
def test_html_nesting_over_the_depth_limit_is_rejected(
    write_article: Callable[..., Path], make_config: Callable[..., Config], body: str
) -> None:
    hostile = article("Deep", body[:450_000], "2025-01-01")
    result, feeds, took = built(write_article, make_config, hostile)
    assert took < QUICK
    assert_only_good_published(result, feeds)
    assert "its HTML nests more than 256 elements deep" in rejected(result)["hostile.md"]


@pytest.mark.parametrize(
    "body",
    [
        ("<div>" * 100 + "x" + "</div>" * 100 + "\n\n") * 50,
        "<ul>\n" + "<li>item\n" * 1_000 + "</ul>",  # list items left open, as HTML allows
        "<table>" + "<tr><td>a<td>b" * 1_000 + "</table>",
        "<p>one\n<p>two\n" * 500,
    ],
)
def test_long_but_shallow_html_is_published(
    write_article: Callable[..., Path], make_config: Callable[..., Config], body: str
) -> None:
    result, feeds, _ = built(write_article, make_config, article("Shallow", body, "2025-01-01"))
    assert result.rejected == () and result.entries == 2


def test_a_huge_body_is_rejected_before_rendering(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    # A 10 MB body once crashed every build ("Text node too long") after replacing rss.xml.
    body = ("Lorem ipsum dolor sit amet. " * 40 + "\n\n") * 9_000
    result, feeds, took = built(write_article, make_config, article("Huge", body, "2025-01-01"))
    assert took < QUICK
    assert_only_good_published(result, feeds)
    assert "the body is too long" in rejected(result)["hostile.md"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["title: " + "t" * 1_001], "the title is too long (1,001 characters; at most 1,000)"),
        (["title: T", "summary: " + "s" * 10_001], "the summary is too long"),
        (["title: T", "author: " + "a" * 501], "the author is too long"),
        (["title: T", "tags: [" + ",".join(str(n) for n in range(101)) + "]"], "too many tags"),
        (["title: T", "tags: " + "t" * 101], "a tag is too long"),
        (["title: T", "id: tag:x.example,2026:" + "i" * 2_000], "the id is too long"),
    ],
)
def test_fields_are_held_to_their_lengths(
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
    lines: list[str],
    expected: str,
) -> None:
    result, feeds, _ = built(write_article, make_config, front_matter(*lines))
    assert_only_good_published(result, feeds)
    assert expected in rejected(result)["hostile.md"]


def test_a_rejection_does_not_echo_a_huge_value(
    write_article: Callable[..., Path], make_config: Callable[..., Config]
) -> None:
    hostile = front_matter("title: T", "link: 'ftp://x.example/" + "v" * 1_900 + "'")
    result, _, _ = built(write_article, make_config, hostile)
    message = rejected(result)["hostile.md"]
    assert "is not an http(s) URL" in message
    assert len(message) < len(str(result.rejected[0].path)) + 150 and "…" in message


# Section 3: dates whose UTC value overflows.


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "1000-01-01T00:30:00+01:00"])
def test_a_date_out_of_range_in_utc_is_rejected(
    write_article: Callable[..., Path], make_config: Callable[..., Config], value: str
) -> None:
    result, feeds, _ = built(
        write_article, make_config, f"---\ntitle: T\ndate: '{value}'\n---\nx\n"
    )
    assert_only_good_published(result, feeds)
    assert "is out of range" in rejected(result)["hostile.md"]


# Section 4: symlinks out of the articles directory.


def test_a_link_to_a_file_outside_the_articles_is_refused(
    tmp_path: Path,
    articles_dir: Path,
    write_article: Callable[..., Path],
    make_config: Callable[..., Config],
) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text(article("Secrets", "db password hunter2", "2025-01-01"))
    (articles_dir / "leak.md").symlink_to(secret)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "more.md").write_text(article("More secrets", "db password", "2025-01-01"))
    (articles_dir / "linked_dir").symlink_to(outside)
    write_article("inside.md", article("Inside", "Fine.", "2025-01-03"))
    (articles_dir / "alias.md").symlink_to(articles_dir / "inside.md")
    write_article("good.md", GOOD)
    config = make_config()

    catalog = Catalog(config)
    result = build(config, now=NOW, catalog=catalog)
    watched = [articles_dir / "linked_dir" / "more.md"]  # as a watcher following links saw it
    through_watcher = build(config, now=NOW, catalog=catalog, changed=watched)

    published = b"".join((config.feeds.output / n).read_bytes() for n in ("rss.xml", "feed.json"))
    assert b"password" not in published
    assert rejected(result) == {
        "leak.md": f"{articles_dir / 'leak.md'}: links outside the articles directory"
    }
    assert "links outside the articles directory" in rejected(through_watcher)["more.md"]
    assert result.entries == 3  # good, inside and its alias (a link within the root)


# Section 7: file names and undecodable files, through the real CLI.


def test_odd_file_names_and_a_bare_bom_are_one_line_rejections(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "good.md").write_text(GOOD)
    (articles / "bom.md").write_bytes(b"\xff\xfe")
    (articles / "forged\nERROR all feeds deleted.md").write_text("# T\n\nno date\n")
    descriptor = os.open(os.fsencode(articles) + b"/\xff\xfe.md", os.O_WRONLY | os.O_CREAT)
    os.write(descriptor, GOOD.encode())
    os.close(descriptor)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "feedsvc",
            "build",
            "--articles",
            str(articles),
            "--output",
            str(tmp_path / "out"),
            "--site-url",
            "https://x.example/",
            "--title",
            "T",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": ""},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    lines = done.stderr.splitlines()
    assert sorted(lines) == sorted(
        [
            "articles/bom.md: empty file",
            "'articles/forged\\nERROR all feeds deleted.md': no publish date: add 'Published: …'"
            " or 'date:'",
            "'articles/\\xff\\xfe.md': the file name is not valid UTF-8",
        ]
    )


def test_many_html_comments_are_checked_in_linear_time() -> None:
    from feedsvc.htmldepth import check_depth

    started = time.perf_counter()
    check_depth("<!---->" * 100_000, 256)  # 700 KB: minutes when each comment searched to the end
    assert time.perf_counter() - started < 2.0
