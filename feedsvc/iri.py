"""IRIs to URIs: feeds carry links and ids as ASCII, as RSS 2.0 and feed validators expect."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from feedsvc.errors import quote_value

# Characters with a meaning in a URI, kept as they are; everything else outside printable
# ASCII (and spaces) is percent-encoded as UTF-8.
URI_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


def iri_to_uri(iri: str) -> str:
    """``iri`` with a non-ASCII host in IDNA form and other non-ASCII characters escaped.

    An ASCII string without spaces comes back unchanged, so existing ids never change.
    """
    if iri.isascii() and " " not in iri:
        return iri
    try:
        return _escaped(iri)
    except (ValueError, UnicodeError) as exc:  # a bad port, IPv6 literal or host label
        raise ValueError(f"not a valid URL: {quote_value(iri)}") from exc


def _escaped(iri: str) -> str:
    parts = urlsplit(iri)
    netloc = parts.netloc
    if parts.hostname and not parts.hostname.isascii():
        netloc = parts.hostname.encode("idna").decode("ascii")
        if parts.port is not None:
            netloc += f":{parts.port}"
        if "@" in parts.netloc:
            netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit(
        (
            parts.scheme,
            quote(netloc, safe=URI_SAFE),
            quote(parts.path, safe=URI_SAFE),
            quote(parts.query, safe=URI_SAFE),
            quote(parts.fragment, safe=URI_SAFE),
        )
    )
