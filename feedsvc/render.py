"""Markdown to safe HTML and to plain text, with markdown-it-py and nh3."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from copy import deepcopy

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

from feedsvc.text import collapse, repair, truncate

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


class Renderer:
    """Holds one configured MarkdownIt: build one per build or daemon, not per article."""

    def __init__(self) -> None:
        self._md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

    def inline_text(self, text: str) -> str:
        """A line of Markdown as plain text: ``*Real* & **Bread**`` becomes ``Real & Bread``."""
        if not INLINE_MARKUP.search(text):
            return collapse(repair(text))
        tokens = self._md.parseInline(text)
        return collapse(repair(_plain(tokens[0].children or [] if tokens else [])))

    def render(self, markdown: str, base_url: str) -> tuple[str, str]:
        """(safe HTML with absolute URLs, the first paragraph as plain text) for a body."""
        tokens = self._md.parse(repair(markdown))
        raw_html = self._md.renderer.render(tokens, self._md.options, {})
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
        return safe_html, _first_paragraph(tokens)


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
