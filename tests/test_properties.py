"""Any text at all in a title, body or summary yields well-formed feeds."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import feedparser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.build import build
from feedsvc.config import config_from_dict
from tests.feedcheck import check_json

text = st.text(st.characters(codec="utf-8"), max_size=200)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=text, body=text, summary=text, tag=text)
def test_any_text_gives_well_formed_feeds(title: str, body: str, summary: str, tag: str) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        (root / "articles").mkdir()
        (root / "articles" / "a.md").write_text(
            f"# {title}\n\n{body}\n\n---\n\n"
            f"**META_DESCRIPTION:** {summary}\n\nPublished: 2025-01-01\n",
            encoding="utf-8",
        )
        (root / "articles" / "b.md").write_text(
            f"---\ntitle: x\ndate: 2025-01-02\ntags: [{tag!r}]\n---\n{body}\n",
            encoding="utf-8",
        )
        config = config_from_dict(
            {"articles": {"dir": "articles"}, "feeds": {"output": "public"}}, root
        )
        build(config, now=datetime(2026, 1, 1, tzinfo=UTC))
        for name in ("rss.xml", "atom.xml"):
            document = (root / "public" / name).read_bytes()
            etree.fromstring(document)
            parsed = feedparser.parse(document)
            assert not parsed.bozo, parsed.bozo_exception
        check_json((root / "public" / "feed.json").read_bytes(), "http://localhost:8080/feed.json")
    finally:
        shutil.rmtree(root)
