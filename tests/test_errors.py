from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedsvc.errors import ArticleError


@pytest.fixture
def in_site(tmp_path: Path) -> Iterator[Path]:
    before = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


def test_str_of_an_article_error_names_the_path_as_given_whatever_the_cwd(in_site: Path) -> None:
    error = ArticleError(in_site / "articles" / "bad.md", "empty file")
    assert str(error) == f"{in_site}/articles/bad.md: empty file"


def test_describe_names_the_path_relative_to_the_cwd(in_site: Path) -> None:
    error = ArticleError(in_site / "articles" / "bad-date.md", "cannot understand it", line=7)
    assert error.describe() == "articles/bad-date.md:7: cannot understand it"


def test_describe_outside_the_cwd_is_the_path_as_given(in_site: Path) -> None:
    assert ArticleError(Path("/elsewhere/a.md"), "bad").describe() == "/elsewhere/a.md: bad"


def test_describe_escapes_a_name_that_could_forge_a_log_line(in_site: Path) -> None:
    error = ArticleError(in_site / "bad\nname.md", "bad")
    assert error.describe() == r"'bad\nname.md': bad"


@pytest.mark.parametrize(
    ("show_cause", "expected"),
    [(True, "/a.md: bad: FileNotFoundError: gone"), (False, "/a.md: bad")],
)
def test_a_cause_is_kept_chained_and_shown_unless_the_message_says_it(
    show_cause: bool, expected: str
) -> None:
    cause = FileNotFoundError("gone")
    with pytest.raises(ArticleError) as caught:
        raise ArticleError(Path("/a.md"), "bad", show_cause=show_cause) from cause
    assert str(caught.value) == expected
    assert caught.value.__cause__ is cause
