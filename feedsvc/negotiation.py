"""Which representation a request gets, and whether it gets it (RFC 9110 sections 12 and 13).

Content coding from Accept-Encoding, then the preconditions: If-Match, If-Unmodified-Since,
If-None-Match and If-Modified-Since, in the order the RFC gives. Parsed header values are
cached: feed readers send the same few over and over.
"""

from __future__ import annotations

import re
from email.utils import mktime_tz, parsedate_tz
from functools import lru_cache

from feedsvc.published import IDENTITY, Representation, Version

SERVER_CODINGS = ("br", "gzip", IDENTITY)
ETAG = re.compile(rb'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')


def request_fields(headers: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Header fields by name; a repeated field's values are joined with commas (RFC 9110 5.3)."""
    fields: dict[bytes, bytes] = {}
    for name, value in headers:
        if name in fields:
            fields[name] += b", " + value
        else:
            fields[name] = value
    return fields


def negotiate(version: Version, accept_encoding: bytes) -> Representation:
    """The best coding of ``version`` the client accepts; identity when it accepts none."""
    for coding in _preferred_codings(accept_encoding):
        representation = version.representations.get(coding)
        if representation is not None:
            return representation
    return version.representations[IDENTITY]


@lru_cache(maxsize=256)
def _preferred_codings(accept_encoding: bytes) -> tuple[str, ...]:
    """The codings the client accepts, best first; ours break ties (RFC 9110 12.5.3)."""
    weights: dict[str, float] = {}
    for element in accept_encoding.decode("latin-1").lower().split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip()
        weight = 1.0
        name, _, value = params.partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
            if not 0 <= weight <= 1:
                continue
        if coding:
            weights[coding] = weight
    wildcard = weights.get("*")
    if IDENTITY in weights:
        identity = weights[IDENTITY]
    else:
        # Acceptable unless excluded (by "*;q=0"), but after any coding the client accepts.
        identity = 0.001 if wildcard is None else wildcard
    ranked = sorted(
        (
            (identity if coding == IDENTITY else weights.get(coding, wildcard or 0.0), coding)
            for coding in SERVER_CODINGS
        ),
        key=lambda item: -item[0],
    )
    ranked = [item for item in ranked if item[0] > 0]
    return tuple(coding for _, coding in ranked)


def evaluate(representation: Representation, version: Version, fields: dict[bytes, bytes]) -> int:
    """Preconditions in the order of RFC 9110 13.2.2: 200, 304 or 412."""
    if_match = fields.get(b"if-match")
    if if_match is not None:
        if not _matches(if_match, representation.etag, weak=False):
            return 412
    else:
        since = _http_date(fields.get(b"if-unmodified-since"))
        if since is not None and version.last_modified > since:
            return 412
    if_none_match = fields.get(b"if-none-match")
    if if_none_match is not None:
        return 304 if _matches(if_none_match, representation.etag, weak=True) else 200
    since = _http_date(fields.get(b"if-modified-since"))
    if since is not None and version.last_modified <= since:
        return 304
    return 200


def _matches(field: bytes, etag: bytes, *, weak: bool) -> bool:
    if field == etag or field.strip() == b"*":  # the first is what a poller sends back
        return True
    return any(opaque == etag and (weak or not is_weak) for is_weak, opaque in _entity_tags(field))


@lru_cache(maxsize=256)
def _entity_tags(field: bytes) -> tuple[tuple[bool, bytes], ...]:
    return tuple((bool(weak), opaque) for weak, opaque in ETAG.findall(field))


@lru_cache(maxsize=256)
def _http_date(value: bytes | None) -> int | None:
    """Seconds since the epoch, or None for a missing or invalid date (which is ignored)."""
    if value is None:
        return None
    parsed = parsedate_tz(value.decode("latin-1"))
    if parsed is None or parsed[9] is None:
        return None
    return int(mktime_tz(parsed))
