"""Markdown to safe HTML and to plain text, with markdown-it-py and nh3."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from copy import deepcopy

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_block import table as markdown_table
from markdown_it.token import Token

from feedsvc.htmldepth import TooDeep, check_depth
from feedsvc.text import collapse, remove_not_xml, repair, truncate

# What can make a line of Markdown differ from its plain text: emphasis, code, links and
# images, HTML, escapes, strikethrough and character references.
INLINE_MARKUP = re.compile(r"[*_`\[<\\]|~~|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"map", "area"}
ALLOWED_ATTRIBUTES = deepcopy(nh3.ALLOWED_ATTRIBUTES) | {
    "img": {"src", "alt", "title", "width", "height"},
    "a": {"href", "title", "hreflang"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan", "style"},
    "th": {"colspan", "rowspan", "scope", "style"},
    "code": {"class"},
    "pre": {"class"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
TEXT_TOKENS = frozenset({"text", "code_inline"})
BREAK_TOKENS = frozenset({"softbreak", "hardbreak"})
# markdown-it-py holds ~2 KB per table cell (a 1 MB table took 932 MB), and the sanitiser
# works in time quadratic in how deeply the HTML nests: both are bounded per article.
MAX_TABLE_CELLS = 20_000
MAX_HTML_DEPTH = 256
TABLE_CELLS = "feedsvc table cells"  # the count so far, kept in markdown-it's env


class MarkupError(ValueError):
    """A body whose markup would take more than its share of time or memory to render."""


class Renderer:
    """Holds one configured MarkdownIt: build one per build or daemon, not per article."""

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
        self._md.block.ruler.at("table", _bounded_table, {"alt": ["paragraph", "reference"]})

    def inline_text(self, text: str) -> str:
        """A line of Markdown as plain text: ``*Real* & **Bread**`` becomes ``Real & Bread``."""
        if not INLINE_MARKUP.search(text):
            return collapse(repair(text))
        tokens = self._md.parseInline(text)
        return collapse(repair(_plain(tokens[0].children or [] if tokens else [])))

    def render(self, markdown: str, base_url: str) -> tuple[str, str]:
        """(safe HTML with absolute URLs, the first paragraph as plain text) for a body.

        Raises MarkupError for tables over MAX_TABLE_CELLS cells in all, or HTML nesting
        deeper than MAX_HTML_DEPTH."""
        env: dict[str, int] = {}
        tokens = self._md.parse(repair(markdown), env)
        raw_html = self._md.renderer.render(tokens, self._md.options, env)
        try:
            check_depth(raw_html, MAX_HTML_DEPTH)
        except TooDeep as exc:
            raise MarkupError(f"its HTML nests more than {MAX_HTML_DEPTH} elements deep") from exc
        safe_html = nh3.clean(
            raw_html,
            tags=set(ALLOWED_TAGS),
            clean_content_tags={"script", "style"},
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=set(URL_SCHEMES),
            url_relative=("rewrite_with_base", base_url),
            link_rel="noopener noreferrer",
            filter_style_properties={"text-align"},
        )
        # A character reference in raw HTML (&#1;) comes out of the sanitiser as the character.
        return remove_not_xml(safe_html), _first_paragraph(tokens)


def _bounded_table(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """markdown-it's table rule, refusing tables over MAX_TABLE_CELLS cells in all before
    their tokens are made. The count is an upper bound (the header's '|'s + 1, times the
    lines up to a blank one), and counting stops at the limit: linear in the article."""
    if silent or not markdown_table(state, start, end, True):
        return silent and markdown_table(state, start, end, True)
    columns = state.src.count("|", state.bMarks[start], state.eMarks[start]) + 1
    budget = MAX_TABLE_CELLS - state.env.get(TABLE_CELLS, 0)
    line, cells = start + 1, columns
    while line < end and not state.isEmpty(line) and cells <= budget:
        line, cells = line + 1, cells + columns
    if cells > budget:
        raise MarkupError(f"its tables have more than {MAX_TABLE_CELLS:,} cells")
    state.env[TABLE_CELLS] = state.env.get(TABLE_CELLS, 0) + cells
    return markdown_table(state, start, end, False)


def summary_text(text: str, length: int | None = None) -> str:
    """A summary as plain text, tags and entities gone; cut at a word boundary to ``length``
    when one is given."""
    if "<" in text or "&" in text:
        text = html.unescape(nh3.clean(text, tags=set(), clean_content_tags={"script", "style"}))
    text = collapse(repair(text))
    return text if length is None else truncate(text, length)


def _first_paragraph(tokens: Sequence[Token]) -> str:
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open":
            text = _plain(tokens[index + 1].children or [])
            if text.strip():
                return text
    return ""


def _plain(children: Sequence[Token]) -> str:
    parts = []
    for child in children:
        if child.type in TEXT_TOKENS:
            parts.append(child.content)
        elif child.type in BREAK_TOKENS:
            parts.append(" ")
    return "".join(parts)
