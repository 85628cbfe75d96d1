"""A Feed as an Atom 1.0 document (RFC 4287)."""

from __future__ import annotations

import html

from lxml import etree

from feedsvc import __version__
from feedsvc.formats.atomlink import ATOM_NS, Link, append_links, feed_links
from feedsvc.formats.updated import distinct_updated, feed_updated
from feedsvc.model import ATOM_TYPE, Entry, Feed

ATOM = f"{{{ATOM_NS}}}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def write_atom(feed: Feed, self_url: str) -> bytes:
    """Atom 1.0 with self, hub and alternate links; each entry's link marked rel="alternate"."""
    root = etree.Element(f"{ATOM}feed", {XML_LANG: feed.language}, nsmap={None: ATOM_NS})
    _text(root, "id", feed.home_url)
    _text(root, "title", feed.title)
    _text(root, "updated", feed_updated(feed).isoformat())
    if feed.author:
        _text(etree.SubElement(root, f"{ATOM}author"), "name", feed.author)
    append_links(root, (*feed_links(feed, self_url, ATOM_TYPE), Link(feed.home_url, "alternate")))
    _text(root, "generator", "feedsvc").set("version", __version__)
    _text(root, "subtitle", feed.description)
    for entry in feed.entries:
        _append_entry(root, entry)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _append_entry(root: etree._Element, entry: Entry) -> None:
    element = etree.SubElement(root, f"{ATOM}entry")
    _text(element, "id", entry.entry_id)
    _text(element, "title", entry.title)
    _text(element, "updated", distinct_updated(entry).isoformat())
    if entry.author:
        _text(etree.SubElement(element, f"{ATOM}author"), "name", entry.author)
    has_content = bool(entry.content_html.strip())
    if has_content:
        _text(element, "content", entry.content_html).set("type", "html")
    append_links(element, (Link(entry.link, "alternate"),))
    # The plain-text summary goes in as escaped HTML, as declared: literal text such as
    # "a < b" or "&amp;" then reads the same in every reader. An entry needs some text:
    # with no summary and no body, its title.
    if entry.summary or not has_content:
        summary = html.escape(entry.summary or entry.title, quote=False)
        _text(element, "summary", summary).set("type", "html")
    for tag in entry.tags:
        etree.SubElement(element, f"{ATOM}category", term=tag)
    _text(element, "published", entry.published.isoformat())


def _text(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, f"{ATOM}{name}")
    element.text = text
    return element
