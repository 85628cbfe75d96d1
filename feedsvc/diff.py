"""What subscribers will see: feed documents as published and as a build would publish them,
compared entry by entry. Pure: bytes in, FeedDiffs out, no I/O.

Readers know an entry by its id: one they have not seen is new (a changed id too: they show
the article twice, so it is named as an id change); one whose ``updated`` moved is shown again;
one that leaves a document stays in their history, so what matters is whether it was deleted
or only aged out (pushed out by newer ones, still published elsewhere).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import partial

from lxml import etree

from feedsvc.model import ATOM_TYPE, JSON_TYPE

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
# The fields compared, in the order a change lists them.
FIELDS = ("title", "link", "published", "updated", "summary", "content")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@dataclass(frozen=True)
class FeedEntry:
    """An entry as a document states it: its id, title, link and dates as written, and
    digests of its summary and content (an archive page's bodies are not kept)."""

    entry_id: str
    title: str = ""
    link: str = ""
    published: str = ""
    updated: str = ""
    summary: str = ""
    content: str = ""


@dataclass(frozen=True)
class Update:
    """An entry in both versions whose fields differ; readers show it again when its
    ``updated`` moved (``resurfaces``)."""

    entry_id: str
    title: str
    fields: tuple[str, ...]
    resurfaces: bool


@dataclass(frozen=True)
class IdChange:
    """A published entry gone, and a new id for what looks like the same article (the same
    link, or failing that the same title): readers will show it twice."""

    old: str
    new: str
    title: str
    matched_by: str  # "link" or "title"


@dataclass(frozen=True)
class FeedDiff:
    """One document, before and after: its entries new, updated, removed (deleted), aged out
    (no longer here, still published), moved in (from another document: an archive page
    taking what aged out of the feed) and renamed; its size in bytes (None: absent)."""

    path: str
    media_type: str
    size_before: int | None
    size_after: int | None
    new: tuple[FeedEntry, ...] = ()
    updated: tuple[Update, ...] = ()
    removed: tuple[FeedEntry, ...] = ()
    aged_out: tuple[FeedEntry, ...] = ()
    moved_in: tuple[FeedEntry, ...] = ()  # new here, published before in another document
    id_changes: tuple[IdChange, ...] = ()
    unreadable_before: bool = False  # the published bytes are no feed: every entry is new


@dataclass(frozen=True)
class DocumentChange:
    """A document a build would write (``after``) or remove (``after`` None), with the bytes
    published now (None: none)."""

    path: str
    media_type: str
    before: bytes | None
    after: bytes | None


def read_entries(document: bytes, media_type: str) -> tuple[FeedEntry, ...]:
    """The entries of an RSS, Atom or JSON Feed document, in document order; ValueError when
    it is not one."""
    if media_type == JSON_TYPE:
        return _json_entries(document)
    try:
        root = etree.fromstring(document, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if media_type == ATOM_TYPE:
        return tuple(_atom_entry(entry) for entry in root.iter(f"{ATOM}entry"))
    return tuple(_rss_entry(item) for item in root.iterfind("channel/item"))


def diff_build(
    changes: Sequence[DocumentChange], still_published: Container[str] = frozenset()
) -> tuple[FeedDiff, ...]:
    """Each change's diff, in the order given. An entry leaving a document ages out when its
    id is in ``still_published`` or in another document after the build (an archive page);
    else it was deleted, or renamed: an id change when an entry of a new id (in any of the
    documents, of the same format) has its link, or failing that its title."""
    versions = [_Version.read(change) for change in changes]
    holders = Counter(entry_id for version in versions for entry_id in version.new)
    before = {entry_id for version in versions for entry_id in version.old}

    def elsewhere(version: _Version, entry_id: str) -> bool:
        return entry_id in still_published or holders[entry_id] > (entry_id in version.new)

    renamed: dict[tuple[str, str], IdChange] = {}  # (media type, old id) -> the change
    for media_type in dict.fromkeys(change.media_type for change in changes):
        of_type = [v for v in versions if v.change.media_type == media_type]
        deleted = _by_id(e for v in of_type for e in v.gone() if not elsewhere(v, e.entry_id))
        arrived = _by_id(e for v in of_type for e in v.new.values() if e.entry_id not in before)
        for change in _id_changes(list(deleted.values()), list(arrived.values())):
            renamed[media_type, change.old] = change
    return tuple(_diff(v, before, partial(elsewhere, v), renamed) for v in versions)


def diff_documents(
    path: str,
    before: bytes | None,
    after: bytes | None,
    media_type: str,
    still_published: Container[str] = frozenset(),
) -> FeedDiff:
    """Compare the published ``before`` and the new ``after`` bytes of one document (None:
    absent); an entry no longer in it whose id is in ``still_published`` aged out."""
    return diff_build([DocumentChange(path, media_type, before, after)], still_published)[0]


@dataclass(frozen=True)
class _Version:
    """A document's entries before and after, by id."""

    change: DocumentChange
    old: dict[str, FeedEntry]
    new: dict[str, FeedEntry]
    unreadable: bool  # the published bytes are no feed of their type

    @classmethod
    def read(cls, change: DocumentChange) -> _Version:
        unreadable = False
        try:
            old = _entries(change.before, change.media_type)
        except ValueError:
            old, unreadable = {}, True
        return cls(change, old, _entries(change.after, change.media_type), unreadable)

    def gone(self) -> list[FeedEntry]:
        return [entry for entry in self.old.values() if entry.entry_id not in self.new]


def _diff(
    version: _Version,
    before: AbstractSet[str],
    elsewhere: Callable[[str], bool],
    renamed: Mapping[tuple[str, str], IdChange],
) -> FeedDiff:
    """One document's diff; ``before`` holds the ids of every document before the build,
    ``elsewhere`` tells an id published after it outside this document."""
    change, old, new = version.change, version.old, version.new
    media_type = change.media_type
    gone = version.gone()
    changes = [c for (kind, _), c in renamed.items() if kind == media_type]
    arrived_as = {c.new for c in changes}
    deleted = [entry for entry in gone if not elsewhere(entry.entry_id)]
    here = {entry.entry_id for entry in deleted} | (new.keys() - old.keys())
    arrivals = [e for e in new.values() if e.entry_id not in old and e.entry_id not in arrived_as]
    return FeedDiff(
        path=change.path,
        media_type=media_type,
        size_before=None if change.before is None else len(change.before),
        size_after=None if change.after is None else len(change.after),
        new=tuple(e for e in arrivals if e.entry_id not in before),
        updated=tuple(_updates(old, new)),
        removed=tuple(e for e in deleted if (media_type, e.entry_id) not in renamed),
        aged_out=tuple(entry for entry in gone if elsewhere(entry.entry_id)),
        moved_in=tuple(e for e in arrivals if e.entry_id in before),
        id_changes=tuple(c for c in changes if c.old in here or c.new in here),
        unreadable_before=version.unreadable,
    )


def diff_to_dict(diff: FeedDiff) -> dict[str, object]:
    """The diff as plain JSON data."""
    return {
        "path": diff.path,
        "media_type": diff.media_type,
        "size_before": diff.size_before,
        "size_after": diff.size_after,
        "new": [{"id": e.entry_id, "title": e.title} for e in diff.new],
        "updated": [
            {
                "id": u.entry_id,
                "title": u.title,
                "fields": list(u.fields),
                "resurfaces": u.resurfaces,
            }
            for u in diff.updated
        ],
        "removed": [{"id": e.entry_id, "title": e.title} for e in diff.removed],
        "aged_out": [{"id": e.entry_id, "title": e.title} for e in diff.aged_out],
        "moved_in": [{"id": e.entry_id, "title": e.title} for e in diff.moved_in],
        "id_changes": [
            {"old": c.old, "new": c.new, "title": c.title, "matched_by": c.matched_by}
            for c in diff.id_changes
        ],
        "unreadable_before": diff.unreadable_before,
    }


def describe_diff(diff: FeedDiff) -> Iterator[str]:
    """The diff as lines of text: the document and its sizes, then each change indented."""
    yield f"{diff.path}: {_size(diff.size_before)} -> {_size(diff.size_after)}"
    if diff.unreadable_before:
        yield "  the published document cannot be read: its entries count as new"
    for entry in diff.new:
        yield f"  new       {entry.entry_id}  {entry.title}"
    for update in diff.updated:
        mark = "resurfaces" if update.resurfaces else "in place"
        fields = ", ".join(update.fields)
        yield f"  updated   {update.entry_id}  {update.title}  ({fields}; {mark})"
    for entry in diff.removed:
        yield f"  removed   {entry.entry_id}  {entry.title}"
    if diff.aged_out:
        yield f"  aged out  {len(diff.aged_out)} (no longer here, still published)"
    if diff.moved_in:
        yield f"  moved in  {len(diff.moved_in)} (published before in another document)"
    for change in diff.id_changes:
        yield f"  id change {change.old} -> {change.new}  {change.title} (same {change.matched_by})"


def summarise(diffs: Sequence[FeedDiff]) -> str:
    """One line for a whole build: documents changed, and the distinct entries in each kind
    of change across them."""
    if not diffs:
        return "nothing would change"
    deleted = sum(1 for d in diffs if d.size_after is None)
    updated = {u.entry_id: u for d in diffs for u in d.updated}
    counts = (
        (len(set(e.entry_id for d in diffs for e in d.new)), "new"),
        (len(updated), f"updated ({sum(u.resurfaces for u in updated.values())} resurface)"),
        (len(set(e.entry_id for d in diffs for e in d.removed)), "removed"),
        (len(set(e.entry_id for d in diffs for e in d.aged_out)), "aged out"),
        (len(set(c.old for d in diffs for c in d.id_changes)), "id changes"),
    )
    entries = ", ".join(f"{count} {what}" for count, what in counts)
    written = len(diffs) - deleted
    return f"{written} documents would be written, {deleted} deleted; entries: {entries}"


def _size(size: int | None) -> str:
    return "absent" if size is None else f"{size:,} bytes"


def _entries(document: bytes | None, media_type: str) -> dict[str, FeedEntry]:
    return {} if document is None else _by_id(read_entries(document, media_type))


def _by_id(entries: Iterable[FeedEntry]) -> dict[str, FeedEntry]:
    """Entries by id, in document order (of two with one id, the first: as readers take it)."""
    found: dict[str, FeedEntry] = {}
    for entry in entries:
        found.setdefault(entry.entry_id, entry)
    return found


def _updates(old: Mapping[str, FeedEntry], new: Mapping[str, FeedEntry]) -> Iterator[Update]:
    for entry_id, entry in new.items():
        before = old.get(entry_id)
        if before is None or before == entry:
            continue
        changed = tuple(name for name in FIELDS if getattr(before, name) != getattr(entry, name))
        yield Update(entry_id, entry.title, changed, "updated" in changed)


def _id_changes(gone: list[FeedEntry], arrived: list[FeedEntry]) -> tuple[IdChange, ...]:
    """Pair each entry gone with an arrived one of the same link, else the same title (only
    when that link or title names one entry on each side), in the order gone."""
    pairs: dict[str, IdChange] = {}
    for key in ("link", "title"):
        left = [e for e in gone if e.entry_id not in pairs]
        taken = {change.new for change in pairs.values()}
        right = [e for e in arrived if e.entry_id not in taken]
        once_left = _unique(left, key)
        for value, entry in _unique(right, key).items():
            match = once_left.get(value)
            if value and match is not None:
                pairs[match.entry_id] = IdChange(match.entry_id, entry.entry_id, entry.title, key)
    return tuple(pairs[e.entry_id] for e in gone if e.entry_id in pairs)


def _unique(entries: list[FeedEntry], key: str) -> dict[str, FeedEntry]:
    """The entries whose ``key`` field no other of ``entries`` shares, by that value."""
    counts = Counter(getattr(e, key) for e in entries)
    return {getattr(e, key): e for e in entries if counts[getattr(e, key)] == 1}


def _atom_entry(entry: etree._Element) -> FeedEntry:
    link = next(
        (
            element.get("href", "")
            for element in entry.iterfind(f"{ATOM}link")
            if element.get("rel", "alternate") == "alternate"
        ),
        "",
    )
    return FeedEntry(
        entry_id=_text(entry.find(f"{ATOM}id")),
        title=_text(entry.find(f"{ATOM}title")),
        link=link,
        published=_text(entry.find(f"{ATOM}published")),
        updated=_text(entry.find(f"{ATOM}updated")),
        summary=_digest_element(entry.find(f"{ATOM}summary")),
        content=_digest_element(entry.find(f"{ATOM}content")),
    )


def _rss_entry(item: etree._Element) -> FeedEntry:
    title, link = _text(item.find("title")), _text(item.find("link"))
    return FeedEntry(
        entry_id=_text(item.find("guid")) or link or title,
        title=title,
        link=link,
        published=_text(item.find("pubDate")),
        updated=_text(item.find(f"{ATOM}updated")),
        summary=_digest_element(item.find("description")),
        content=_digest_element(item.find(CONTENT_ENCODED)),
    )


def _json_entries(document: bytes) -> tuple[FeedEntry, ...]:
    try:
        items = json.loads(document).get("items", [])
        return tuple(_json_entry(item) for item in items)
    except (UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise ValueError("not a JSON Feed") from exc


def _json_entry(item: Mapping[str, object]) -> FeedEntry:
    def text(name: str) -> str:
        value = item.get(name)
        return value if isinstance(value, str) else "" if value is None else str(value)

    return FeedEntry(
        entry_id=text("id") or text("url") or text("title"),
        title=text("title"),
        link=text("url"),
        published=text("date_published"),
        updated=text("date_modified"),
        summary=_digest(text("summary")) if "summary" in item else "",
        content=_digest(text("content_html")) if "content_html" in item else "",
    )


def _text(element: etree._Element | None) -> str:
    return "" if element is None else "".join(element.itertext()).strip()


def _digest_element(element: etree._Element | None) -> str:
    """A digest of what ``element`` holds (its attributes and markup too), "" when absent."""
    if element is None:
        return ""
    return _digest(etree.tostring(element, with_tail=False).decode("utf-8"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
