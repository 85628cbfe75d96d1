"""What a build checks before it publishes: pure functions over the configuration, the
articles and the documents about to be written, each returning the problems it finds.

The rules, named as ``[lint] refuse`` names them: "size" (a feed readers poll over
``max_feed_bytes``), "links" (a URL a reader would resolve against the wrong base),
"language" (a ``[site] language`` the IANA registry does not know), "dates" (an article
dated before 1990 or more than a year ahead) and "duplicates" (two entries of one document
with one id). Publish decides what a problem does: refuse, or warn.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import lxml.html
from lxml import etree

from feedsvc.config import Config
from feedsvc.errors import display_path, quote_value
from feedsvc.model import ATOM_TYPE, JSON_TYPE, Article, ArtifactKind, Entry
from feedsvc.outputs.base import Put

EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=365)
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
# A URL that means the same in any document: one with a host where its scheme names one
# (http:foo and https:/x are resolved like relative URLs), else any scheme (mailto:, tel:,
# data:, urn:, tag:). Leading and trailing whitespace is dropped, as readers drop it.
ABSOLUTE_URL = re.compile(
    r"\s*(?:(?:https?|ftp|wss?)://[^/?#\s]|(?!(?:https?|ftp|wss?):)[a-z][a-z0-9+.-]*:)",
    re.IGNORECASE,
)
# Subtags that say "unknown": valid in the registry, but they tell a reader nothing.
UNKNOWN_SUBTAGS = frozenset({"und", "zzzz", "zz"})
# An href= or src= whose value does not start as an absolute URL does: a superset of the
# relative href and src attributes of HTML (it finds them in text too), so when there is
# none, no parse is needed; one search, no copy of the text.
MAYBE_RELATIVE = re.compile(
    r"""(?:href|src)\s*=\s*["']?\s*(?!(?:https?|ftp|wss?)://[^/?#\s"'>]"""
    r"""|(?!(?:https?|ftp|wss?):)[a-z][a-z0-9+.-]*:)""",
    re.IGNORECASE,
)
HTML_LINK_ATTRIBUTES = ("href", "src")
XML_PARSER = etree.XMLParser(resolve_entities=False, huge_tree=True, no_network=True)


@dataclass(frozen=True)
class Problem:
    """One thing a rule found: in an article file or a feed document (``where``), and what."""

    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def lint_site(config: Config) -> list[Problem]:
    """The site's own settings: its language tag names a language the registry knows."""
    language = config.site.language
    if language_is_valid(language):
        return []
    message = f"the language {quote_value(language)} is not a registered BCP 47 language tag"
    return [Problem("language", "[site] language", message)]


@cache
def language_is_valid(tag: str) -> bool:
    """True when ``tag`` is a valid BCP 47 tag (per the IANA registry, as langcodes holds it)
    naming a known language."""
    import langcodes  # ~30 ms to import: only the builds that lint pay for it

    known = not UNKNOWN_SUBTAGS & {subtag.lower() for subtag in tag.split("-")}
    return known and langcodes.tag_is_valid(tag)


def date_window(now: datetime) -> tuple[datetime, datetime]:
    """The publish dates taken as meant: from 1990 to a year after ``now``."""
    return EARLIEST, now + AHEAD


def date_problem(article: Article, window: tuple[datetime, datetime]) -> Problem | None:
    """A problem when the article's publish date is outside ``window`` (a mistyped year?):
    two comparisons, cheap enough for every article of every build (see plan)."""
    earliest, latest = window
    published = article.published
    if earliest <= published <= latest:
        return None
    when = "before 1990" if published < earliest else "more than a year ahead"
    message = f"its date {published.date().isoformat()} is {when}: is the year right?"
    return Problem("dates", display_path(article.path), message)


def lint_documents(config: Config, documents: Iterable[Put]) -> list[Problem]:
    """The problems of the documents about to be written: "size" (for the feeds readers poll,
    not archive pages, which only RFC 5005 clients walk), "links" and "duplicates"."""
    problems: list[Problem] = []
    limit = config.lint.max_feed_bytes
    for document in documents:
        size = len(document.content)
        if size > limit and document.kind is not ArtifactKind.ARCHIVE:
            message = (
                f"is {size:,} bytes, over [lint] max_feed_bytes = {limit:,}: some aggregators"
                " drop larger feeds (consider a lower [feeds] max_items)"
            )
            problems.append(Problem("size", document.path, message))
        try:
            held = _read(document.media_type, document.content)
        except (ValueError, etree.XMLSyntaxError) as exc:
            message = f"cannot be read back to check its links and ids ({exc})"
            problems.append(Problem("links", document.path, message))
            continue
        bad = [(url, entry) for url, entry in held.urls if not is_absolute(url)]
        for fragment, entry in held.html:
            bad += [(url, entry) for url in _relative_in_html(fragment)]
        for url, entry in dict.fromkeys(bad):
            place = f" in the entry {quote_value(entry)}" if entry is not None else ""
            message = f"the URL {quote_value(url)}{place} is not absolute"
            problems.append(Problem("links", document.path, message))
        for entry_id, count in Counter(held.ids).items():
            if count > 1:
                message = f"{count} entries have the id {quote_value(entry_id)}"
                problems.append(Problem("duplicates", document.path, message))
    return problems


def lint_entries(path: str, entries: Iterable[Entry]) -> list[Problem]:
    """The "links" and "duplicates" problems of an archive page, read from its entries (not
    from its bytes: a cold build makes every page, and reading them all back would cost more
    than the build); the channel's links are those of the subscription feed, linted there."""
    problems: list[Problem] = []
    ids: Counter[str] = Counter()
    for entry in entries:
        ids[entry.entry_id] += 1
        bad = [] if is_absolute(entry.link) else [entry.link]
        bad += _relative_in_html(entry.content_html)
        for url in dict.fromkeys(bad):
            message = f"the URL {quote_value(url)} in the entry {quote_value(entry.entry_id)}"
            problems.append(Problem("links", path, message + " is not absolute"))
    problems += [
        Problem("duplicates", path, f"{count} entries have the id {quote_value(entry_id)}")
        for entry_id, count in ids.items()
        if count > 1
    ]
    return problems


def is_absolute(url: str) -> bool:
    """True for a URL that means the same in any document: a scheme, and a host where the
    scheme needs one (mailto:, tel:, data:, urn: and tag: need none)."""
    return ABSOLUTE_URL.match(url) is not None


@dataclass
class _Held:
    """What a document holds that the rules look at: its URLs and its entries' HTML, each
    with the id of its entry (None: the channel's), and its entries' ids."""

    urls: list[tuple[str, str | None]] = field(default_factory=list)
    html: list[tuple[str, str]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def _read(media_type: str, content: bytes) -> _Held:
    if media_type == JSON_TYPE:
        return _read_json(json.loads(content))
    root = etree.fromstring(content, XML_PARSER)
    if media_type == ATOM_TYPE:
        return _read_atom(root)
    return _read_rss(root)


def _read_atom(root: etree._Element) -> _Held:
    held = _Held()
    channel = [*root.iterchildren(f"{ATOM}link", f"{ATOM}icon", f"{ATOM}logo", f"{ATOM}author")]
    held.urls += [(url, None) for element in channel for url in _atom_urls(element)]
    for entry in root.iterchildren(f"{ATOM}entry"):
        entry_id = entry.findtext(f"{ATOM}id") or ""
        held.ids.append(entry_id)
        held.urls += [(url, entry_id) for url in _atom_urls(entry)]
        for text in entry.iterchildren(f"{ATOM}content", f"{ATOM}summary"):
            if text.get("type") == "html" and text.text:
                held.html.append((text.text, entry_id))
            elif text.get("type") == "xhtml":
                held.urls += [(url, entry_id) for url in _links_in(text)]
    return held


def _atom_urls(element: etree._Element) -> Iterator[str]:
    """The URLs in an Atom element (the element included): links' hrefs, out-of-line
    content's src, icons, logos and people's URIs."""
    for link in element.iter(f"{ATOM}link"):
        yield link.get("href", "")
    for content in element.iter(f"{ATOM}content"):
        if content.get("src") is not None:
            yield content.get("src", "")
    for text in element.iter(f"{ATOM}icon", f"{ATOM}logo", f"{ATOM}uri"):
        yield text.text or ""


def _read_rss(root: etree._Element) -> _Held:
    channel = root.find("channel")
    if channel is None:
        raise ValueError("no channel")
    held = _Held()
    urls = [e.text or "" for e in channel.iterfind("link")]
    urls += [e.text or "" for e in channel.iterfind("image/url")]
    urls += [e.text or "" for e in channel.iterfind("image/link")]
    urls += [link.get("href", "") for link in channel.iterchildren(f"{ATOM}link")]
    held.urls += [(url, None) for url in urls]
    for item in channel.iterfind("item"):
        guid = item.find("guid")
        entry_id = (guid.text or "") if guid is not None else item.findtext("link", "")
        held.ids.append(entry_id)
        urls = [e.text or "" for e in item.iterfind("link")]
        urls += [e.get("url", "") for e in item.iterfind("enclosure")]
        urls += [link.get("href", "") for link in item.iterchildren(f"{ATOM}link")]
        if guid is not None and guid.get("isPermaLink", "true") == "true":
            urls.append(guid.text or "")  # in RSS a guid is a URL unless it says otherwise
        held.urls += [(url, entry_id) for url in urls]
        for text in item.iterchildren("description", CONTENT_ENCODED):
            if text.text:
                held.html.append((text.text, entry_id))
    return held


def _read_json(document: Any) -> _Held:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    held = _Held()
    urls = _strings(document, ("home_page_url", "feed_url", "next_url", "icon", "favicon"))
    urls += [url for hub in _objects(document.get("hubs")) for url in _strings(hub, ("url",))]
    held.urls += [(url, None) for url in urls]
    for item in _objects(document.get("items")):
        entry_id = str(item.get("id", ""))
        held.ids.append(entry_id)
        urls = _strings(item, ("url", "external_url", "image", "banner_image"))
        urls += [u for a in _objects(item.get("attachments")) for u in _strings(a, ("url",))]
        held.urls += [(url, entry_id) for url in urls]
        if isinstance(item.get("content_html"), str):
            held.html.append((item["content_html"], entry_id))
    return held


def _strings(mapping: dict[str, Any], keys: Sequence[str]) -> list[str]:
    return [mapping[key] for key in keys if isinstance(mapping.get(key), str)]


def _objects(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))


def _relative_in_html(fragment: str) -> list[str]:
    """The href and src URLs of an HTML fragment that are not absolute."""
    if MAYBE_RELATIVE.search(fragment) is None:
        return []  # the usual case, found without a parse
    root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    return [url for url in _links_in(root) if not is_absolute(url)]


def _links_in(root: etree._Element) -> Iterator[str]:
    """The URL of each href and src attribute of ``root`` and the elements below it."""
    for element in root.iter(etree.Element):
        for attribute in HTML_LINK_ATTRIBUTES:
            url = element.get(attribute)
            if url is not None:
                yield url
