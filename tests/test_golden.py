"""The feeds' bytes for fixed input stay exactly what they were before the code was laid out
anew (issue 8): a copy of that output is the fixture, compared byte for byte."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feedsvc.build import build
from feedsvc.config import config_from_dict

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
FEEDS = ("rss.xml", "atom.xml", "feed.json")
SITE = {"title": "Example News", "url": "https://news.example.org/"}
CASES = {
    "bundled": (
        ROOT / "articles",
        {
            "site": {
                **SITE,
                "description": "Reporting, analysis and features from the Example News desk.",
                "author": "Example News Desk",
            },
            "articles": {"default_timezone": "UTC", "summary_length": 300},
        },
    ),
    "dirty": (
        FIXTURES / "dirty",
        {
            "site": SITE,
            "articles": {"default_timezone": "America/New_York", "summary_length": 120},
            "feeds": {"max_items": 10, "article_url": "{site_url}{year}/{month}/{slug}/"},
            "ping": {"websub_hubs": ["https://hub.example.org/", "https://hub2.example.net/x"]},
        },
    ),
    "dirty_all": (FIXTURES / "dirty", {"site": SITE, "feeds": {"max_items": 500}}),
    # '&' and '<' in every plain-text field, an entry with no body, one with no paragraph to
    # summarise, ids and links with query strings, and no site author.
    "edge": (
        FIXTURES / "edge",
        {
            "site": {
                **SITE,
                "title": "News & <Views>",
                "description": "Facts & figures < opinions",
                "author": "",
            },
            "ping": {"websub_hubs": ["https://hub.example.org/?topic=a&b"]},
        },
    ),
    "empty": (
        FIXTURES / "edge_empty",
        {"site": {"title": "Quiet", "url": "https://quiet.example.org/"}},
    ),
}


def publish_case(case: str, tmp_path: Path) -> Path:
    """Build one case's articles (copied, so file names are all that differs) into a fresh
    directory; returns the output directory."""
    source, tables = CASES[case]
    articles = tmp_path / "articles"
    shutil.copytree(source, articles)
    data = {name: dict(values) for name, values in tables.items()}
    data.setdefault("articles", {})["dir"] = str(articles)
    data.setdefault("feeds", {})["output"] = str(tmp_path / "public")
    build(config_from_dict(data, tmp_path), now=NOW)
    return tmp_path / "public"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", FEEDS)
def test_feeds_are_byte_for_byte_what_they_were(case: str, name: str, tmp_path: Path) -> None:
    output = publish_case(case, tmp_path)
    assert (output / name).read_bytes() == (GOLDEN / case / name).read_bytes()
