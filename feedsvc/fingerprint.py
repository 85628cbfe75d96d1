"""An article's content fingerprint: a digest of its text that an edit of whitespace or
typography alone (curly quotes, dashes, an ellipsis, a non-breaking space) leaves as it was,
so such an edit can be told from a real one."""

from __future__ import annotations

import hashlib
import unicodedata

# Typographic characters and the ASCII an author types for them; invisible ones go.
TYPOGRAPHY = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),  # single quotes, prime
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),  # double quotes, double prime
    # hyphen, non-breaking hyphen, figure, en and em dashes, horizontal bar, minus
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    "\u2026": "...",  # ellipsis
    # Every space str.isspace() knows beyond ASCII (NBSP, thin, ideographic, ...), the
    # zero-width ones and the soft hyphen.
    **dict.fromkeys(
        "\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
        "\u2028\u2029\u202f\u205f\u3000\u200b\u2060\ufeff\xad",
        "",
    ),
}
ASCII_SPACES = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # the ASCII whitespace of str.isspace()


def fold(text: str) -> bytes:
    """``text`` as its fingerprint reads it, in UTF-8: NFC, typography as ASCII, every run
    of hyphens ("--" is how an en dash is typed) one hyphen, and no whitespace at all.

    Whitespace is dropped rather than collapsed: an edit that only adds or removes a space is
    a whitespace edit too, and deleting bytes is several times cheaper than splitting words
    (this runs on every article a build reads)."""
    if not text.isascii():  # most text is ASCII: nothing to normalise or map
        text = unicodedata.normalize("NFC", text)
        for char, ascii in TYPOGRAPHY.items():
            if char in text:
                text = text.replace(char, ascii)
    data = text.encode("utf-8", "surrogatepass").translate(None, ASCII_SPACES)
    while b"--" in data:
        data = data.replace(b"--", b"-")
    return data


def content_fingerprint(title: str | None, body: str, summary: str | None) -> bytes:
    """SHA-256 of the folded title, body and summary (none: empty), joined by line breaks
    (folded text holds none, so the parts cannot run into each other)."""
    return hashlib.sha256(b"\n".join((fold(title or ""), fold(body), fold(summary or "")))).digest()
