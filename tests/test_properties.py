"""Any text at all in a title, body or summary yields well-formed feeds; any directory of
articles (any titles, bodies, dates, front matter and encodings) yields valid feeds holding
each publishable article once, and names each file that cannot be published."""

from __future__ import annotations

import codecs
import json
import shutil
import string
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feedsvc.build import build
from feedsvc.config import config_from_dict
from tests.feedcheck import ATOM, check_atom, check_json, check_rss

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


# Whole article directories: each file is generated with what a build must make of it
# ("shown", "draft", "scheduled", "rejected"), or None where any outcome is fair (random
# bytes, random dates and front matter) and only the partition and the feeds are checked.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LINT_AHEAD = timedelta(days=365)
SITE_URL = "https://news.example.org/"
SHARED_IDS = [f"{SITE_URL}id/shared-{n}" for n in range(2)]
INVALID_DATES = [
    "not a date",
    "2025-13-45",
    "June 2025",
    "31/31/2025",
    "2025-02-30",
    "9999-12-31T23:59:59-12:00",
    "yesterday",
]
BROKEN = [
    b"---\ntitle: [unclosed\ndate: 2025-01-01\n---\nBody.\n",  # invalid YAML
    b"---\ntitle: No closing fence\ndate: 2025-01-01\n\nBody.\n",
    b"---\n- a list\n- not a mapping\n---\nBody.\n",
    b"# A title and no date\n\nBody.\n",
    b"",
    b"\x00\x01\x02\x03binary" * 40,
    codecs.BOM_UTF16_LE + b"a",  # half a UTF-16 character
    b"# " + b"Long title " * 100 + b"\n\nBody.\n\n---\n\nPublished: 2025-01-01\n",
]
words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
line_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=60
)
body_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"], include_characters="\n\t"),
    max_size=300,
)
C1_IN_CP1252 = frozenset(b"\x81\x8d\x8f\x90\x9d")  # the bytes Windows-1252 leaves undefined
STRAY = "\x1e"  # where a good article may hold a byte that is not UTF-8 (no text has it)
past = st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2025, 12, 31))
future = st.datetimes(min_value=datetime(2026, 6, 1), max_value=datetime(2999, 12, 31))


def written(moment: datetime, shape: int) -> str:
    """A date in one of the shapes articles are written with (all UTC)."""
    shapes = (
        lambda: moment.date().isoformat(),
        lambda: moment.isoformat() + "Z",
        lambda: moment.strftime("%B %d, %Y"),
        lambda: moment.strftime("%d %b %Y %H:%M GMT"),
        lambda: format_datetime(moment.replace(tzinfo=UTC)),
        lambda: moment.strftime("%Y-%m-%d %H:%M UTC"),
    )
    return shapes[shape % len(shapes)]()


@st.composite
def good_article(draw: st.DrawFn, index: int) -> tuple[bytes, str | None, str | None]:
    """A well-formed article (either layout, any encoding feedsvc reads, CRLF or not), the
    ``index``-th of its directory, with what a build must make of it, and its shared id if it
    claims one."""
    title = f"{draw(words)} {draw(line_text)}".rstrip()
    if draw(st.booleans()):  # mojibake: UTF-8 read as Windows-1252 (ftfy repairs it)
        title = title.encode("utf-8").decode("cp1252", "ignore")
    body = draw(body_text)
    scheduled = draw(st.integers(0, 5)) == 0
    moment = draw(future if scheduled else past)
    date = written(moment, draw(st.integers(0, 5)))
    draft = draw(st.integers(0, 5)) == 0
    shared = draw(st.sampled_from([None, None, None, *SHARED_IDS]))
    if draw(st.booleans()):
        head = {"title": title, "date": date}
        if draft:
            head["draft"] = draw(st.sampled_from([True, "yes", "true"]))
        tags = draw(st.lists(line_text.map(lambda t: t[:50]), max_size=4))
        if tags:
            head["tags"] = tags
        if draw(st.booleans()):
            head["author"] = draw(st.one_of(line_text, st.lists(words, max_size=3)))
        if shared:
            head["id"] = shared
        elif draw(st.booleans()):
            head["id"] = draw(st.sampled_from([f"urn:uuid:{uuid.UUID(int=index)}", f"p{index}"]))
        front = yaml.safe_dump(head, allow_unicode=True, sort_keys=False, default_style='"')
        text = f"---\n{front}---\n{body}{STRAY}\n\nEnd.\n"
    else:
        if draft or shared:  # the seed layout has no draft flag or id
            draft, shared = False, None
        text = f"# {title}\n\n{body}{STRAY}\n\n---\n\nPublished: {date}\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "stray"]))
    if encoding == "stray":  # UTF-8 with an invalid byte: read as Windows-1252
        data = text.encode("utf-8").replace(STRAY.encode(), b"\xff")
    elif encoding == "cp1252":
        data = text.replace(STRAY, "").encode("cp1252", "replace")
    else:
        data = text.replace(STRAY, "").encode(encoding)
    if encoding == "stray" and text.startswith("---") and C1_IN_CP1252.intersection(data):
        # Read as Windows-1252 (Latin-1 for these bytes), such a file holds C1 controls, which
        # YAML refuses: its front matter may be rejected by name rather than published.
        return data, None, None
    expected = "draft" if draft else "scheduled" if scheduled else "shown"
    latest = (NOW + LINT_AHEAD).replace(tzinfo=None)
    if expected == "scheduled" and abs(moment - latest) < timedelta(days=2):
        expected = None  # a shape without the time may fall either side of the lint's limit
    elif expected == "scheduled" and moment > latest:
        expected = "rejected"  # more than a year ahead: the lint rejects it ("dates")
    return data, expected, shared


@st.composite
def rejected_article(draw: st.DrawFn) -> tuple[bytes, str, None]:
    """A file no build can publish: broken front matter or encoding, no title or date."""
    if draw(st.booleans()):
        return draw(st.sampled_from(BROKEN)), "rejected", None
    date = draw(st.sampled_from(INVALID_DATES))
    text = f"---\ntitle: {draw(words)}\ndate: {json.dumps(date)}\n---\n{draw(body_text)}\n"
    return text.encode("utf-8"), "rejected", None


@st.composite
def wild_article(draw: st.DrawFn) -> tuple[bytes, None, None]:
    """Anything: random bytes, random front matter, a random date."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=300)), None, None
    if kind == 1:
        document = f"---\n{draw(text)}\n---\n{draw(body_text)}\n"
    else:
        document = f"# {draw(words)}\n\n{draw(body_text)}\n\n---\n\nPublished: {draw(line_text)}\n"
    return document.encode("utf-8"), None, None


articles = st.integers(1, 8).flatmap(
    lambda count: st.tuples(
        *(
            st.one_of(good_article(index), good_article(index), rejected_article(), wild_article())
            for index in range(count)
        )
    )
)


def feed_links(output: Path) -> dict[str, list[str]]:
    """Each feed's entry links, in order, once each document is held to its format's rules."""
    rss = check_rss((output / "rss.xml").read_bytes(), SITE_URL + "rss.xml")
    atom = check_atom((output / "atom.xml").read_bytes(), SITE_URL + "atom.xml")
    feed = check_json((output / "feed.json").read_bytes(), SITE_URL + "feed.json")
    return {
        "rss.xml": [item.findtext("link") for item in rss.iter("item")],
        "atom.xml": [
            link.get("href")
            for link in atom.iterfind(f"{ATOM}entry/{ATOM}link")
            if link.get("rel") == "alternate"
        ],
        "feed.json": [item["url"] for item in feed["items"]],
    }


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=articles)
def test_any_articles_directory_publishes_each_publishable_article_once(
    files: tuple[tuple[bytes, str | None, str | None], ...],
) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        (root / "articles").mkdir()
        paths = [root / "articles" / f"a{index:02d}.md" for index in range(len(files))]
        for path, (data, _expected, _shared) in zip(paths, files, strict=True):
            path.write_bytes(data)
        config = config_from_dict(
            {
                "site": {"title": "Example News", "url": SITE_URL},
                "feeds": {"max_items": 1000, "archives": False},
            },
            root,
        )
        result = build(config, now=NOW, allow_empty=True)
        shown = {article.path for article in result.shown}
        rejected = [error.path for error in result.rejected]
        scheduled = {article.path for article in result.scheduled}
        # Every file has one outcome; a rejected file is named once.
        assert len(rejected) == len(set(rejected))
        outcomes = [shown, set(rejected), set(result.drafts), scheduled]
        assert sum(map(len, outcomes)) == len(paths) == len(set().union(*outcomes))
        claimants: dict[str, list[Path]] = {}
        for path, (_data, expected, shared) in zip(paths, files, strict=True):
            if shared and expected == "shown":
                claimants.setdefault(shared, []).append(path)
            elif expected == "shown":
                assert path in shown, (path, [str(e) for e in result.rejected])
            elif expected == "rejected":
                assert path in rejected
            elif expected == "draft":
                assert path in result.drafts
            elif expected == "scheduled":
                assert path in scheduled
        for claimed in claimants.values():  # one file keeps a shared id; the others are named
            assert len(shown.intersection(claimed)) == 1
            assert len(set(rejected).intersection(claimed)) == len(claimed) - 1
        # Each feed is well-formed and valid, and holds every shown article exactly once.
        links = {f"{SITE_URL}{path.stem}/" for path in shown}
        for name, found in feed_links(root / "public").items():
            assert sorted(found) == sorted(links), name
    finally:
        shutil.rmtree(root)
