"""Checks of the rules in CONFORMANCE.md that a parser alone does not enforce, with lxml.

feedparser is lenient (it reads nearly anything), so the end-to-end tests parse with it *and*
hold the documents to these rules.
"""

from __future__ import annotations

import json
import re
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import feedparser
from lxml import etree
from lxml import html as lxml_html

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
RFC822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
TAG_URI = re.compile(r"tag:[A-Za-z0-9.-]+,\d{4}(-\d{2}(-\d{2})?)?:[\x21-\x7e]*")
PLAIN_TEXT_ESCAPES = re.compile(rb"<(title|category|dc:creator)>[^<]*&(amp|lt);")
IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"]+")
UNSAFE_ELEMENTS = frozenset({"script", "iframe", "object", "embed", "form", "style", "svg"})


def absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_html(html: str) -> None:
    """No unsafe element or handler, and every link and image source absolute."""
    if not html.strip():
        return
    tree = lxml_html.fragment_fromstring(html, create_parent="div")
    for element in tree.iter():
        assert element.tag not in UNSAFE_ELEMENTS, html
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), html
            if name in ("href", "src"):
                assert absolute(value), value


def check_rss(document: bytes, self_url: str) -> etree._Element:
    """RSS 2.0 rules 1-8: returns the parsed root."""
    assert not feedparser.parse(document).bozo
    # RSS Profile: '&' and '<' in plain text as hex references, never markup [CharacterData].
    assert not PLAIN_TEXT_ESCAPES.search(document)
    root = etree.fromstring(document)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel.findtext("title").strip()
    assert absolute(channel.findtext("link"))
    assert channel.findtext("description").strip()
    selfs = [ln for ln in channel.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    assert len(selfs) == 1 and selfs[0].get("href") == self_url
    assert selfs[0].get("type") == "application/rss+xml"
    assert RFC822.fullmatch(channel.findtext("lastBuildDate"))
    guids = []
    for item in channel.findall("item"):
        assert item.findtext("title") or item.findtext("description")
        for name in ("title", "description", CONTENT):
            assert item.find(name) is None or item.findtext(name).strip(), name
        guid = item.find("guid")
        assert guid.get("isPermaLink") == "false"
        guids.append(guid.text)
        assert RFC822.fullmatch(item.findtext("pubDate"))
        parsedate_to_datetime(item.findtext("pubDate"))
        assert absolute(item.findtext("link"))
        children = [child.tag for child in item]
        if CONTENT in children:
            assert children.index("description") < children.index(CONTENT)
            check_html(item.findtext(CONTENT))
    assert len(guids) == len(set(guids))
    return root


def check_atom(document: bytes, self_url: str) -> etree._Element:
    """Atom (RFC 4287) rules 9-12: returns the parsed root."""
    assert not feedparser.parse(document).bozo
    root = etree.fromstring(document)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(root.findall(f"{ATOM}{name}")) == 1
    assert RFC3339.fullmatch(root.findtext(f"{ATOM}updated"))
    assert root.find(f"{ATOM}author/{ATOM}name").text.strip()
    selfs = [ln for ln in root.findall(f"{ATOM}link") if ln.get("rel") == "self"]
    assert len(selfs) == 1 and selfs[0].get("href") == self_url
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1
        entry_id = entry.findtext(f"{ATOM}id")
        if entry_id.startswith("tag:"):
            assert TAG_URI.fullmatch(entry_id), entry_id
        else:
            assert IRI.fullmatch(entry_id), entry_id
        ids.append(entry_id)
        assert RFC3339.fullmatch(entry.findtext(f"{ATOM}updated"))
        assert RFC3339.fullmatch(entry.findtext(f"{ATOM}published"))
        alternates = [ln for ln in entry.findall(f"{ATOM}link") if ln.get("rel") == "alternate"]
        assert len(alternates) == 1 and absolute(alternates[0].get("href"))
        content = entry.find(f"{ATOM}content")
        if content is not None:
            assert content.get("type") == "html"
            assert content.text.strip()
            check_html(content.text)
        summary = entry.find(f"{ATOM}summary")
        assert summary is None or summary.text.strip()
        assert content is not None or summary is not None  # [MissingTextualContent]
    assert len(ids) == len(set(ids))
    return root


def check_json(document: bytes, self_url: str) -> dict:
    """JSON Feed 1.1 rule 14: returns the parsed document."""
    feed = json.loads(document)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] and feed["feed_url"] == self_url and absolute(feed["home_page_url"])
    assert isinstance(feed["authors"], list)
    ids = [item["id"] for item in feed["items"]]
    assert all(isinstance(i, str) and i for i in ids) and len(ids) == len(set(ids))
    for item in feed["items"]:
        assert item.get("content_html") is not None
        assert RFC3339.fullmatch(item["date_published"])
        check_html(item["content_html"])
    return feed
