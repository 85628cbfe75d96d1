"""How deeply HTML nests, estimated in one linear pass, never below what a browser builds.

The sanitiser (nh3, on html5ever) spends time proportional to the depth of its stack of open
elements on many tags, so its work on deeply nested markup is quadratic: 1.1 MB of nested
``<div>`` takes 26 s. This pass bounds the depth before the sanitiser is called. It follows
the HTML tokenizer where that decides what is a tag (quoted attribute values, comments,
raw-text elements), and keeps its own stack of open elements. Where the tree builder's rules
are not followed exactly, the estimate errs high: an end tag closes only what the tree
builder certainly closes too (never a formatting element, which it may reopen later), and
in text that may or may not be markup, start tags count and end tags do not.
"""

from __future__ import annotations

import re
from functools import cache

SPACE = "\t\n\f\r "
TAG_START = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*)|(!--)|(!\[CDATA\[)|[!?/])")
# The rest of a tag after its name: attributes (a quoted value may hold '>'), up to '>'.
# Every part is optional, so the match never fails and never backtracks far.
TAG_REST = re.compile(
    r"""(?:[\t\n\f\r ]+|/|[^\t\n\f\r />][^\t\n\f\r />=]*"""
    r"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"[^"]*"|'[^']*'|[^\t\n\f\r >]*))?)*(>)?"""
)
VOID = frozenset(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param"
    " source track wbr".split()
)
# Elements whose content the tokenizer reads as text up to their end tag (in HTML; in SVG
# or MathML they hold markup). <noscript> does only when scripting is on: it is read as
# text that may be markup.
RAW_TEXT = frozenset("script style textarea title xmp iframe noembed noframes plaintext".split())
MAYBE_RAW_TEXT = RAW_TEXT | {"noscript"}
FOREIGN = ("svg", "math")
# The tree builder reopens these when they were closed out of order: never closed here
# by an end tag other than their own.
FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption"
    " center col colgroup dd details dialog dir div dl dt embed fieldset figcaption figure"
    " footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html iframe img input"
    " keygen li link listing main marquee menu meta nav noembed noframes noscript object ol p"
    " param plaintext pre script search section select source style summary table tbody td"
    " template textarea tfoot th thead title tr track ul wbr xmp"
    " mi mo mn ms mtext annotation-xml foreignobject desc".split()
)
# End tags that close these when they are left open ("implied end tags") ...
IMPLIED_END = frozenset("dd dt li optgroup option p rb rp rt rtc".split())
TABLE_PARTS = IMPLIED_END | frozenset("caption colgroup tbody td tfoot th thead tr".split())
# ... for these end tags, which close an open element of their name in scope.
BLOCK_ENDS = frozenset(
    "address article aside blockquote button center details dialog dir div dl fieldset"
    " figcaption figure footer form header hgroup h1 h2 h3 h4 h5 h6 li dd dt listing main menu"
    " nav ol p pre search section summary ul".split()
)
TABLE_ENDS = frozenset("table tbody tfoot thead tr".split())
# A start tag of one of these closes an open element named in its set, when that is the
# current one: how '<p>a<p>b' and '<li>a<li>b' stay flat.
CLOSES = {
    "li": frozenset({"li"}),
    "dd": frozenset({"dd", "dt"}),
    "dt": frozenset({"dd", "dt"}),
    "option": frozenset({"option"}),
    "optgroup": frozenset({"option"}),
    "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}),
    "tr": frozenset({"td", "th", "tr"}),
    **{name: frozenset("h1 h2 h3 h4 h5 h6 p".split()) for name in "h1 h2 h3 h4 h5 h6".split()},
}
CLOSES_P = BLOCK_ENDS - {"button"} | frozenset("table hr xmp plaintext".split())


class TooDeep(Exception):
    """Markup nests deeper than allowed."""


class _Stack:
    """Open elements by name, with the nearest barrier an end tag may not close past found
    in constant time: each end tag costs O(1) plus what it pops."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.names: list[str] = []
        self.positions: dict[str, list[int]] = {}
        # Barriers for any end tag, for block end tags, and for table end tags.
        self.barriers: tuple[list[int], list[int], list[int]] = ([], [], [])

    def push(self, name: str) -> None:
        index = len(self.names)
        if index >= self.limit:
            raise TooDeep
        self.names.append(name)
        self.positions.setdefault(name, []).append(index)
        if name in SPECIAL or name in FORMATTING:
            any_end, block_end, table_end = self.barriers
            any_end.append(index)
            if name not in IMPLIED_END:
                block_end.append(index)
            if name not in TABLE_PARTS:
                table_end.append(index)

    def close(self, name: str) -> None:
        """An end tag: pop down to the nearest ``name`` unless a barrier lies above it."""
        found = self.positions.get(name)
        if not found:
            return
        kind = 2 if name in TABLE_ENDS else 1 if name in BLOCK_ENDS else 0
        barriers = self.barriers[kind]
        if barriers and barriers[-1] > found[-1]:
            return
        self.pop_to(found[-1])

    def pop_to(self, index: int) -> None:
        while len(self.names) > index:
            self.positions[self.names.pop()].pop()
        for barriers in self.barriers:
            while barriers and barriers[-1] >= index:
                barriers.pop()

    def start(self, name: str) -> None:
        """A start tag: first the implied closes of the current element, then the push."""
        closes = CLOSES.get(name, frozenset())
        while self.names and (
            self.names[-1] in closes or (self.names[-1] == "p" and name in CLOSES_P)
        ):
            self.pop_to(len(self.names) - 1)
        if name not in VOID:
            self.push(name)

    def foreign(self) -> bool:
        """True when an SVG or MathML element may be open, where raw-text names hold markup."""
        return any(self.positions.get(name) for name in FOREIGN)


def check_depth(html: str, limit: int) -> None:
    """Raise TooDeep if ``html`` may nest more than ``limit`` elements deep."""
    if html.count("<") <= limit:  # every element counted below starts at a '<'
        return
    stack = _Stack(limit)
    position, end = 0, len(html)
    while (match := TAG_START.search(html, position)) is not None:
        closing, name, comment, cdata = match.groups()
        position = match.end()
        if comment is not None:
            position = _comment_end(html, match.start())
        elif cdata is not None and stack.foreign():
            # Text up to ']]>' in SVG or MathML, but a bogus comment up to '>' where one of
            # them holds HTML: read as text that may hold markup until ']]>'.
            stop = html.find("]]>", position)
            stop = end if stop < 0 else stop
            _count_starts(html, position, stop, stack)
            position = stop
        elif name is None:  # <!DOCTYPE>, <?...>, </ ...>, <![CDATA[: a bogus comment to '>'
            stop = html.find(">", position)
            position = end if stop < 0 else stop + 1
        else:
            name = name.lower()
            position = TAG_REST.match(html, position).end()
            if closing:
                stack.close(name)
                continue
            stack.start(name)
            if name in MAYBE_RAW_TEXT:
                stop = _raw_text_end(name).search(html, position)
                stop_at = end if stop is None else stop.start()
                if name not in RAW_TEXT or stack.foreign():
                    _count_starts(html, position, stop_at, stack)
                position = stop_at


def _count_starts(html: str, start: int, stop: int, stack: _Stack) -> None:
    """Text that may be markup (raw text, CDATA): its start tags count, its end tags not."""
    position = start
    while (match := TAG_START.search(html, position, stop)) is not None:
        position = match.end()
        if match.group(2) is not None and not match.group(1):
            name = match.group(2).lower()
            if name not in VOID:
                stack.push(name)


def _comment_end(html: str, start: int) -> int:
    """Where a comment opened at ``start`` ends: after '-->' or '--!>' (or an abrupt
    '<!-->' or '<!--->'), else at the end of the text."""
    arrow = html.find("-->", start + 2)
    # '--!>' only counts before the first '-->': bounding its search keeps many comments linear.
    bang = html.find("--!>", start + 4, len(html) if arrow < 0 else arrow + 3)
    ends = [found + length for found, length in ((arrow, 3), (bang, 4)) if found >= 0]
    return min(ends, default=len(html))


@cache
def _raw_text_end(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{re.escape(name)}[{SPACE}/>]", re.IGNORECASE)
