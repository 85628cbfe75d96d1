from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedsvc.articles.discover import (
    find_article_files,
    is_article_file,
    is_article_path,
    is_visible,
)
from feedsvc.articles.parse import _atx_title, slug_for
from feedsvc.articles.read import MAX_ARTICLE_BYTES, read_source
from feedsvc.errors import ArticleError
from tests.conftest import SEED


def test_finds_articles_recursively_and_ignores_leftovers(
    articles_dir: Path, write_article: Callable[..., Path]
) -> None:
    wanted = [write_article(name, "# T\n") for name in ("a.md", "b.markdown", "c.txt", "y/d.MD")]
    for name in (".hidden.md", "a.md.swp", "a.md~", "#a.md#", ".~lock.a.md#", "pic.png", "x.rst"):
        write_article(name, "# T\n")
    write_article(".git/e.md", "# T\n")
    assert find_article_files(articles_dir) == sorted(wanted)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.md", True), ("notes.md.swp", False), ("a.md~", False), ("#a.md#", False)],
)
def test_is_article_file(name: str, expected: bool) -> None:
    assert is_article_file(Path(name)) is expected


def test_seed_layout_splits_title_body_and_foot_metadata() -> None:
    source = read_source(SEED, SEED.parent)
    assert source.title == "Renewed Peace Talks Between Russia and Ukraine: Hope or Hopelessness?"
    assert source.title_line == 1
    assert source.published == "June 02, 2025"
    assert source.published_line == 29
    assert source.summary.startswith("Exploring the renewed Russia-Ukraine peace talks")
    assert "META_DESCRIPTION" not in source.body and "Published" not in source.body
    assert source.body.startswith("Amid ongoing conflict")
    assert source.body.endswith("remains fraught with obstacles.")


@pytest.mark.parametrize(
    "line",
    [
        "**META_DESCRIPTION:** The summary.",
        "META_DESCRIPTION: The summary.",
        "Meta Description: The summary.",
        "**meta description**: The summary.",
        "__Meta-Description:__ The summary.",
    ],
)
def test_meta_description_in_any_spelling(
    articles_dir: Path, write_article: Callable[..., Path], line: str
) -> None:
    path = write_article("a.md", f"# Title\n\nBody.\n\n---\n\n{line}\n\nPublished: 2025-01-02\n")
    source = read_source(path, articles_dir)
    assert source.summary == "The summary."
    assert source.body == "Body."


def test_front_matter_fields(articles_dir: Path, write_article: Callable[..., Path]) -> None:
    path = write_article(
        "fm.md",
        "---\ntitle: From YAML\ndate: 2025-03-04\nupdated: 2025-03-05 10:00\n"
        "summary: Short.\ntags: [one, two, one]\nauthor: Ana\nid: urn:uuid:1\n"
        "link: /elsewhere/\ndraft: false\n---\n\nThe body.\n",
    )
    source = read_source(path, articles_dir)
    assert source.title == "From YAML"
    assert source.published == "2025-03-04"
    assert source.published_line == 3
    assert source.updated == "2025-03-05 10:00"
    assert source.tags == ("one", "two")
    assert (source.author, source.entry_id, source.link) == ("Ana", "urn:uuid:1", "/elsewhere/")
    assert source.draft is False
    assert source.body == "The body."


def test_front_matter_title_drops_a_matching_heading(
    articles_dir: Path, write_article: Callable[..., Path]
) -> None:
    path = write_article("a.md", "---\ntitle: Same\ndate: 2025-01-01\n---\n# Same\n\nText.\n")
    assert read_source(path, articles_dir).body == "Text."


def test_a_body_line_with_a_colon_stays_in_the_body(
    articles_dir: Path, write_article: Callable[..., Path]
) -> None:
    path = write_article("a.md", "---\ntitle: T\ndate: 2025-01-01\n---\nText.\n\nNote: keep me.\n")
    assert read_source(path, articles_dir).body == "Text.\n\nNote: keep me."


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: codecs.BOM_UTF8 + text.encode("utf-8"),
        lambda text: text.replace("\n", "\r\n").encode("utf-8"),
        lambda text: text.encode("utf-16"),
    ],
    ids=["bom", "crlf", "utf16"],
)
def test_encodings_and_line_endings(
    articles_dir: Path, write_article: Callable[..., Path], encode: Callable[[str], bytes]
) -> None:
    path = write_article("a.md", encode("# Café\n\nBody.\n\n---\n\nPublished: 2025-01-02\n"))
    source = read_source(path, articles_dir)
    assert (source.title, source.body, source.published) == ("Café", "Body.", "2025-01-02")
    assert source.warnings == ()


def test_windows_1252_is_read_with_a_warning(
    articles_dir: Path, write_article: Callable[..., Path]
) -> None:
    text = "# \u201cCaf\u00e9\u201d\n\nBody.\n\n---\n\nPublished: 2025-01-02\n"
    path = write_article("a.md", text.encode("cp1252"))
    source = read_source(path, articles_dir)
    assert source.title == "\u201cCaf\u00e9\u201d"
    assert len(source.warnings) == 1 and "a.md" in source.warnings[0]
    assert "Windows-1252" in source.warnings[0]


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (b"", "empty file", None),
        (b"  \n\r\n\t", "empty file", None),
        (codecs.BOM_UTF8, "empty file", None),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary", None),
        (b"---\ntitle: [unclosed\ndate: 2025-01-01\n---\nBody\n", "invalid YAML", 3),
        (b"---\ntitle: T\nBody without an end\n", "no closing", 1),
        (b"---\n- a list\n---\nBody\n", "key: value", 2),
    ],
)
def test_unreadable_files_name_the_problem(
    articles_dir: Path,
    write_article: Callable[..., Path],
    content: bytes,
    message: str,
    line: int | None,
) -> None:
    path = write_article("bad.md", content)
    with pytest.raises(ArticleError, match=message) as caught:
        read_source(path, articles_dir)
    assert caught.value.path == path
    assert caught.value.line == line
    assert "bad.md" in str(caught.value)


def test_slug_comes_from_the_path(articles_dir: Path) -> None:
    assert slug_for(articles_dir / "2025" / "My Story!.md", articles_dir) == "2025/my-story"
    assert slug_for(articles_dir / "Zürich café.md", articles_dir) == "zurich-cafe"
    assert slug_for(articles_dir / "日本.md", articles_dir) == "%E6%97%A5%E6%9C%AC"


def test_special_files_named_like_articles_are_errors_not_hangs(articles_dir: Path) -> None:
    fifo = articles_dir / "pipe.md"
    os.mkfifo(fifo)
    with pytest.raises(ArticleError, match="not a regular file"):
        read_source(fifo, articles_dir)
    dangling = articles_dir / "gone.md"
    dangling.symlink_to(articles_dir / "nowhere.md")
    with pytest.raises(ArticleError, match="cannot read the file"):
        read_source(dangling, articles_dir)


def test_a_huge_file_is_not_read_as_an_article(articles_dir: Path) -> None:
    huge = articles_dir / "dump.txt"
    with huge.open("wb") as handle:
        handle.truncate(MAX_ARTICLE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ArticleError, match="too large"):
        read_source(huge, articles_dir)


# The heading pattern this replaced: right, but quadratic on a run of spaces.
OLD_HEADING = re.compile(r"#\s+(.+?)(?:\s+#+)?\s*")


@given(st.text(alphabet="# a\t\u3000b", max_size=12))
def test_heading_text_is_what_the_old_pattern_gave(line: str) -> None:
    line = line.strip()
    match = OLD_HEADING.fullmatch(line)
    assert _atx_title(line) == (match.group(1) if match else None)


def test_a_heading_line_of_spaces_takes_linear_time() -> None:
    line = "# a" + " " * 1_000_000 + "b ##"
    assert _atx_title(line) == "a" + " " * 1_000_000 + "b"


def test_a_file_name_that_is_not_utf8_is_rejected_by_name(articles_dir: Path) -> None:
    name = os.fsencode(articles_dir) + b"/\xff\xfe.md"
    descriptor = os.open(name, os.O_WRONLY | os.O_CREAT)
    os.write(descriptor, b"# T\n\nBody.\n")
    os.close(descriptor)
    (path,) = find_article_files(articles_dir)
    with pytest.raises(ArticleError, match="the file name is not valid UTF-8") as caught:
        read_source(path, articles_dir)
    assert str(caught.value).endswith("\\xff\\xfe.md': the file name is not valid UTF-8")


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("bad\nname.md", r"'/nowhere/bad\nname.md'"),
        ("tab\there.md", r"'/nowhere/tab\there.md'"),
        ("it's\x1b[31m.md", r"'/nowhere/it\'s\x1b[31m.md'"),
        ("caf\u00e9.md", "/nowhere/caf\u00e9.md"),
    ],
)
def test_a_file_name_that_could_forge_a_log_line_is_shown_escaped(name: str, shown: str) -> None:
    assert str(ArticleError(Path("/nowhere") / name, "bad")) == f"{shown}: bad"


def test_a_link_inside_the_articles_directory_is_read(articles_dir: Path) -> None:
    (articles_dir / "real.md").write_text("# Real\n\nBody.\n")
    (articles_dir / "link.md").symlink_to("real.md")
    assert read_source(articles_dir / "link.md", articles_dir).title == "Real"


def test_a_link_out_of_the_articles_directory_is_refused_before_reading(
    tmp_path: Path, articles_dir: Path
) -> None:
    (tmp_path / "secret.md").write_text("# db password\n")
    (articles_dir / "link.md").symlink_to(tmp_path / "secret.md")
    with pytest.raises(ArticleError, match="links outside the articles directory"):
        read_source(articles_dir / "link.md", articles_dir)


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("a.md", True),
        ("2025/06/b.markdown", True),
        (".git/c.md", False),
        ("notes/.obsidian/d.md", False),
        (".e.md", False),
        ("e.md~", False),
        ("pic.png", False),
    ],
)
def test_one_rule_says_which_paths_are_article_files(
    articles_dir: Path, relative: str, expected: bool
) -> None:
    assert is_article_path(articles_dir / relative, articles_dir) is expected


def test_nothing_outside_the_root_or_hidden_is_visible(articles_dir: Path) -> None:
    assert is_visible(articles_dir / "2025" / "a.md", articles_dir)
    assert not is_visible(articles_dir, articles_dir)
    assert not is_visible(articles_dir / ".git" / "HEAD", articles_dir)
    assert not is_visible(articles_dir.parent / "a.md", articles_dir)


def test_a_read_error_keeps_its_cause_and_its_one_line_message(articles_dir: Path) -> None:
    dangling = articles_dir / "gone.md"
    dangling.symlink_to(articles_dir / "nowhere.md")
    with pytest.raises(ArticleError) as caught:
        read_source(dangling, articles_dir)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert str(caught.value) == f"{dangling}: cannot read the file (No such file or directory)"


def test_invalid_yaml_keeps_its_cause_out_of_the_one_line_message(
    articles_dir: Path, write_article: Callable[..., Path]
) -> None:
    import yaml

    path = write_article("bad.md", "---\ntitle: [unclosed\n---\nBody\n")
    with pytest.raises(ArticleError) as caught:
        read_source(path, articles_dir)
    assert isinstance(caught.value.__cause__, yaml.YAMLError)
    assert "\n" not in str(caught.value)
    assert type(caught.value.__cause__).__name__ not in str(caught.value)
