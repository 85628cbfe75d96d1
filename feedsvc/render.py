"""Markdown to safe HTML and to plain text, with cmark-gfm, markdown-it-py and nh3."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from copy import deepcopy

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markdown_it import MarkdownIt
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
# The sanitiser works in time quadratic in how deeply the HTML nests: bounded per article.
MAX_HTML_DEPTH = 256
# CommonMark with GFM's tables and ~~strikethrough~~ (not ~single~), raw HTML kept for the
# sanitiser, table alignment as style (which it keeps), and each Markdown block's source
# position (which it drops), to tell Markdown's paragraphs from raw HTML's.
CMARK_OPTIONS = (
    Options.CMARK_OPT_UNSAFE
    | Options.CMARK_OPT_SOURCEPOS
    | Options.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
    | Options.CMARK_OPT_TABLE_PREFER_STYLE_ATTRIBUTES
)
CMARK_EXTENSIONS = ("table", "strikethrough")
TAG = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")
FIRST_PARAGRAPH = re.compile(r"<p data-sourcepos=\"[^\"]*\">(.*?)</p>", re.DOTALL)


class MarkupError(ValueError):
    """A body whose markup would take more than its share of time or memory to render."""


class Renderer:
    """Bodies through cmark-gfm (C: linear time, no recursion), one-line texts through one
    configured MarkdownIt: build one per build or daemon, not per article."""

    def __init__(self) -> None:
        # For one-line texts (titles, tags, authors): inline HTML is markup, not text.
        self._md = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")

    def inline_text(self, text: str) -> str:
        """A line of Markdown as plain text: ``*Real* & **Bread**`` becomes ``Real & Bread``."""
        if not INLINE_MARKUP.search(text):
            return collapse(repair(text))
        tokens = self._md.parseInline(text)
        return collapse(repair(_plain(tokens[0].children or [] if tokens else [])))

    def render(self, markdown: str, base_url: str) -> tuple[str, str]:
        """(safe HTML with absolute URLs, the first paragraph as plain text) for a body.

        Raises MarkupError for HTML nesting deeper than MAX_HTML_DEPTH."""
        raw_html = cmarkgfm.markdown_to_html_with_extensions(
            repair(markdown), options=CMARK_OPTIONS, extensions=CMARK_EXTENSIONS
        )
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
        return remove_not_xml(safe_html), _first_paragraph(raw_html)


def summary_text(text: str, length: int | None = None) -> str:
    """A summary as plain text, tags and entities gone; cut at a word boundary to ``length``
    when one is given."""
    if "<" in text or "&" in text:
        text = html.unescape(nh3.clean(text, tags=set(), clean_content_tags={"script", "style"}))
    text = collapse(repair(text))
    return text if length is None else truncate(text, length)


def _first_paragraph(raw_html: str) -> str:
    """The first Markdown paragraph with text, as plain text: images and tags left out.
    Only Markdown's paragraphs carry a source position; a <p> of raw HTML has none."""
    for match in FIRST_PARAGRAPH.finditer(raw_html):
        text = html.unescape(TAG.sub("", match.group(1)))
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
