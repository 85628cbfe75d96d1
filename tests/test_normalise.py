from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedsvc.articles.read import read_body, read_source
from feedsvc.config import Config
from feedsvc.content import to_entry
from feedsvc.dates import DateError
from feedsvc.errors import ArticleError
from feedsvc.model import Article, Entry
from feedsvc.normalise import normalise
from feedsvc.render import Renderer
from tests.conftest import article


@pytest.fixture
def understand(articles_dir: Path, make_config: Callable[..., Config]) -> Callable[..., Article]:
    renderer = Renderer()

    def run(path: Path, **tables: dict[str, object]) -> Article:
        return normalise(read_source(path, articles_dir), make_config(**tables), renderer)

    return run


def test_id_is_a_tag_uri_from_host_the_site_tag_date_and_slug(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("2025/peace-talks.md", article("Talks", "Body.", "June 02, 2025"))
    assert understand(path).entry_id == "tag:news.example.org,2000-01-01:2025/peace-talks"
    dated = understand(path, site={"tag_date": "2019-03"})
    assert dated.entry_id == "tag:news.example.org,2019-03:2025/peace-talks"


def test_id_does_not_change_with_the_publish_date(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("a.md", article("T", "Body.", "June 02, 2025"))
    before = understand(path).entry_id
    write_article("a.md", article("T", "Body.", "July 14, 2024"))
    assert understand(path).entry_id == before


def test_id_does_not_change_with_the_body_or_the_title(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("a.md", article("First title", "First body.", "June 02, 2025"))
    before = understand(path).entry_id
    write_article("a.md", article("Second title", "Another body.", "June 02, 2025", "New."))
    assert understand(path).entry_id == before


def test_id_does_not_change_with_the_default_zone(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("a.md", article("T", "Body.", "June 02, 2025"))
    tokyo = understand(path, articles={"default_timezone": "Asia/Tokyo"})
    assert tokyo.entry_id == understand(path).entry_id


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "urn:uuid:6f1c0b52-8a8e-4b8e-9e0e-3c1d2f1a7b10",
            "urn:uuid:6f1c0b52-8a8e-4b8e-9e0e-3c1d2f1a7b10",
        ),
        ("https://news.example.org/p/42", "https://news.example.org/p/42"),
        ("story 42", "tag:news.example.org,2000-01-01:story%2042"),
    ],
)
def test_a_given_id_is_kept_or_made_absolute(
    write_article: Callable[..., Path],
    understand: Callable[..., Article],
    given: str,
    expected: str,
) -> None:
    path = write_article("a.md", f"---\ntitle: T\ndate: 2025-01-02\nid: {given}\n---\nBody.\n")
    assert understand(path).entry_id == expected


def test_link_from_template_or_front_matter(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("a-story.md", article("T", "Body.", "June 02, 2025"))
    assert understand(path).link == "https://news.example.org/a-story/"
    dated = understand(path, feeds={"article_url": "{site_url}{year}/{month}/{day}/{slug}.html"})
    assert dated.link == "https://news.example.org/2025/06/02/a-story.html"
    path = write_article("b.md", "---\ntitle: T\ndate: 2025-01-02\nlink: /x/y/\n---\nBody.\n")
    assert understand(path).link == "https://news.example.org/x/y/"


def test_updated_defaults_to_published(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("a.md", article("T", "Body.", "June 02, 2025"))
    result = understand(path)
    assert result.updated == result.published == datetime(2025, 6, 2, tzinfo=UTC)
    path = write_article(
        "b.md", "---\ntitle: T\ndate: 2025-01-02\nupdated: 2025-02-03T10:00Z\n---\nB\n"
    )
    assert understand(path).updated == datetime(2025, 2, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ("Just text, no heading.\n\n---\n\nPublished: June 02, 2025\n", "no title", 1),
        ("# Title\n\nBody.\n", "no publish date", None),
        ("# T\n\nBody.\n\n---\n\nPublished: the day after tomorrow-ish\n", "cannot understand", 7),
        ("---\ntitle: T\ndate: 2025-13-45\n---\nBody.\n", "cannot understand", 3),
        ("---\ntitle: T\ndate: 2025-01-01\nlink: 'javascript:alert(1)'\n---\nB\n", "link", None),
        ("---\ntitle: T\ndate: 2025-01-01\nid: urn:uuid:1234\n---\nB\n", "not a valid UUID", None),
    ],
)
def test_rejections_name_file_line_and_problem(
    write_article: Callable[..., Path],
    understand: Callable[..., Article],
    content: str,
    message: str,
    line: int | None,
) -> None:
    path = write_article("bad.md", content)
    with pytest.raises(ArticleError, match=message) as caught:
        understand(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}:" if line else f"{path}:")


def test_summary_from_the_first_paragraph_when_none_is_given(
    write_article: Callable[..., Path],
    understand: Callable[..., Article],
    make_config: Callable[..., Config],
) -> None:
    body = "![lead](lead.png)\n\nThe *first* paragraph " + "goes on and on " * 40 + "\n\nSecond."
    path = write_article("a.md", article("T", body, "June 02, 2025"))
    entry = entry_of(understand(path), make_config())
    assert entry.summary.startswith("The first paragraph goes on")
    assert len(entry.summary) <= 300 and entry.summary.endswith("…")
    assert "Second" not in entry.summary


def test_given_summary_is_kept_as_written(
    write_article: Callable[..., Path],
    understand: Callable[..., Article],
    make_config: Callable[..., Config],
) -> None:
    path = write_article(
        "a.md", article("T", "Body.", "June 02, 2025", "Exactly   this — â€” too.")
    )
    entry = entry_of(understand(path), make_config())
    assert entry.summary == "Exactly this — — too."


def test_a_long_given_summary_is_not_cut(
    write_article: Callable[..., Path],
    understand: Callable[..., Article],
    make_config: Callable[..., Config],
) -> None:
    written = "A carefully written description. " * 15
    path = write_article("a.md", article("T", "Body.", "June 02, 2025", written))
    entry = entry_of(understand(path), make_config())
    assert entry.summary == written.strip()
    assert len(entry.summary) > 300


def test_links_and_given_ids_are_made_ascii_uris(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article(
        "a.md",
        "---\ntitle: T\ndate: 2025-01-02\nlink: https://bücher.example/über uns?q=ä\n"
        "id: https://example.org/ids/über\n---\nBody.\n",
    )
    result = understand(path)
    assert result.link == "https://xn--bcher-kva.example/%C3%BCber%20uns?q=%C3%A4"
    assert result.entry_id == "https://example.org/ids/%C3%BCber"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("link", "http://[oops/"),
        ("link", "http://exämple.com:99999/"),
        ("id", "http://ä..com/x"),
        ("slug", "café au lait"),
    ],
)
def test_malformed_links_and_ids_are_the_articles_error_or_made_safe(
    write_article: Callable[..., Path],
    understand: Callable[..., Article],
    field: str,
    value: str,
) -> None:
    path = write_article("a.md", f"---\ntitle: T\ndate: 2025-01-02\n{field}: '{value}'\n---\nB\n")
    try:
        result = understand(path)
    except ArticleError as error:
        assert error.path == path and "not a valid" in str(error)
    else:
        assert result.link.isascii() and " " not in result.link


def test_a_date_rejection_keeps_the_date_error_as_its_cause(
    write_article: Callable[..., Path], understand: Callable[..., Article]
) -> None:
    path = write_article("bad.md", "# T\n\nBody.\n\n---\n\nPublished: someday\n")
    with pytest.raises(ArticleError) as caught:
        understand(path)
    assert isinstance(caught.value.__cause__, DateError)
    assert str(caught.value) == f"{path}:7: {caught.value.__cause__}"


def entry_of(article: Article, config: Config) -> Entry:
    """What a feed shows of ``article``, its body read again from its file."""
    return to_entry(article, read_body(article, config.articles.dir), config, Renderer())
