"""Plain-text repair: mojibake, characters XML forbids, whitespace, length."""

from __future__ import annotations

import re

# Text worth handing to ftfy: a UTF-8 lead byte read as Windows-1252/Latin-1 and followed by
# a continuation byte read the same way, or a stray C1 control. ftfy is ~0.6 ms per article;
# this screen costs microseconds, so clean text never pays for the repair.
SUSPECT = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
    "|[\u0080-\u009f]"
)
# XML 1.0 forbids most C0 controls and surrogates; C1 controls and noncharacters are
# discouraged and never meant in an article.
NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
ELLIPSIS = "…"


def repair(text: str) -> str:
    """Mojibake fixed (only where the screen suspects it) and XML-illegal characters removed."""
    if SUSPECT.search(text):
        text = _fix_text(text)
    return remove_not_xml(text)


def remove_not_xml(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids or discourages (lxml refuses them)."""
    return NOT_XML.sub("", text)


def _fix_text(text: str) -> str:
    import ftfy  # imported on first use: most builds never meet mojibake

    return ftfy.fix_text(
        text,
        unescape_html=False,
        uncurl_quotes=False,
        fix_character_width=False,
        fix_latin_ligatures=False,
    )


def collapse(text: str) -> str:
    """Runs of whitespace, line breaks included, as one space; no space at either end."""
    return " ".join(text.split())


def truncate(text: str, length: int) -> str:
    """``text`` cut at a word boundary to at most ``length`` characters, ellipsis included."""
    if len(text) <= length:
        return text
    cut = text[: length - len(ELLIPSIS) + 1]
    space = cut.rfind(" ")
    if space > length // 2:
        cut = cut[:space]
    else:
        cut = cut[: length - len(ELLIPSIS)]
    return cut.rstrip(" ,;:.-–—") + ELLIPSIS
