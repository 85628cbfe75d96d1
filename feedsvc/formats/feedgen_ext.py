"""What feedsvc's RSS and Atom need beyond what feedgen 1.0 writes, as feedgen extensions.

feedgen calls each registered extension on its own lxml tree before serialising it: a feed
extension once the head of the feed is built, an entry extension on each entry or item.
"""

from __future__ import annotations

import re

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from lxml import etree

from feedsvc.formats.atomlink import ATOM_NS, HISTORY_NS
from feedsvc.model import Link

DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
# RSS elements holding plain text (an item's description is HTML whose markup is escaped
# once it is text, so it takes the same references).
PLAIN_TEXT = frozenset({"title", "description", "category", DC_CREATOR})
MARKUP = re.compile("([&<])")
REFERENCES = {"&": "#x26", "<": "#x3C"}


class FeedLinks(BaseExtension):
    """The feed's own links (atomlink.feed_links) in RSS and Atom alike, in their order.

    feedgen writes only the self link in RSS and makes the RSS channel link whichever link
    it was given last; given the site's link alone, it keeps that right, and these go in
    beside it: in RSS where feedgen puts the self link, in Atom before the site's link.
    """

    def __init__(self) -> None:
        self._links: tuple[Link, ...] = ()

    def links(self, links: tuple[Link, ...]) -> None:
        """Set the links to write, in the order to write them."""
        self._links = links

    def extend_rss(self, rss_feed: etree._Element) -> etree._Element:
        channel = rss_feed.find("channel")
        position = channel.index(channel.find("description")) + 1
        channel[position:position] = [_link(f"{{{ATOM_NS}}}link", link) for link in self._links]
        return rss_feed

    def extend_atom(self, atom_feed: etree._Element) -> etree._Element:
        # feedgen builds Atom without namespaces (xmlns is a plain attribute of the root),
        # so its elements, and the ones added beside them, are unqualified.
        position = atom_feed.index(atom_feed.find("link"))
        atom_feed[position:position] = [_link("link", link) for link in self._links]
        return atom_feed


class ArchiveMark(BaseExtension):
    """RFC 5005's ``<fh:archive/>``: this document is an archive page, not the feed itself.

    Registered only for archive documents, so other feeds declare no ``fh`` namespace. It
    goes before the first item or entry, as a channel or feed extension element.
    """

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS}

    def extend_rss(self, rss_feed: etree._Element) -> etree._Element:
        _insert_before_first(rss_feed.find("channel"), "item")
        return rss_feed

    def extend_atom(self, atom_feed: etree._Element) -> etree._Element:
        _insert_before_first(atom_feed, "entry")
        return atom_feed


class AlternateEntryLinks(BaseEntryExtension):
    """Each Atom entry link marked rel="alternate", which feedgen 1.0 drops.

    feedgen reads the rel off the element it has just made rather than off the link it was
    given. An entry links only to its page, so each of its links is the alternate one.
    """

    def extend_atom(self, entry: etree._Element) -> etree._Element:
        for link in entry.iterfind("link"):
            link.set("rel", "alternate")
        return entry


class ChannelCharacterReferences(BaseExtension):
    """The channel's plain text with '&' and '<' as hexadecimal character references."""

    def extend_rss(self, rss_feed: etree._Element) -> etree._Element:
        _reference_markup(rss_feed.find("channel"))
        return rss_feed


class ItemCharacterReferences(BaseEntryExtension):
    """An item's plain text with '&' and '<' as hexadecimal character references.

    Registered after feedgen's dc extension, so that dc:creator is there to rewrite.
    """

    def extend_rss(self, item: etree._Element) -> etree._Element:
        _reference_markup(item)
        return item


def _reference_markup(parent: etree._Element) -> None:
    """Write each '&' and '<' in the plain-text children of ``parent`` as a character reference.

    The RSS Profile asks for these in plain text, where no reader can take them for markup.
    lxml always escapes text as '&amp;' and '&lt;'; an ``etree.Entity`` node is written as
    the very reference it names, so the text becomes runs of text between such nodes.
    """
    for element in parent:
        if element.tag not in PLAIN_TEXT:
            continue
        text, *rest = MARKUP.split(element.text or "")
        if not rest:
            continue
        element.text = text
        for character, following in zip(rest[::2], rest[1::2], strict=True):
            reference = etree.Entity(REFERENCES[character])
            reference.tail = following
            element.append(reference)


def _insert_before_first(parent: etree._Element, tag: str) -> None:
    mark = etree.Element(f"{{{HISTORY_NS}}}archive")
    first = parent.find(tag)
    if first is None:
        parent.append(mark)
    else:
        first.addprevious(mark)


def _link(tag: str, link: Link) -> etree._Element:
    element = etree.Element(tag, href=link.href, rel=link.rel)
    if link.type:
        element.set("type", link.type)
    return element
