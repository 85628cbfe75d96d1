"""Which representation a request gets, and whether it gets it (RFC 9110 sections 12 and 13).

Content coding from Accept-Encoding, then the preconditions: If-Match, If-Unmodified-Since,
If-None-Match and If-Modified-Since, in the order the RFC gives. Parsed header values are
cached: feed readers send the same few over and over.
"""

from __future__ import annotations

import calendar
import re
import time
from functools import lru_cache

from feedsvc.serve.files import IDENTITY, Representation, Version

SERVER_CODINGS = ("br", "gzip", IDENTITY)
ETAG = re.compile(rb'(W/)?("[\x21\x23-\x7e\x80-\xff]*")')
# The three forms of HTTP-date a recipient must accept (RFC 9110 5.6.7), and nothing else:
# IMF-fixdate, the obsolete RFC 850 form (two-digit year) and asctime's. IMF-fixdate's zone
# may also be written UTC or +0000/-0000 (Python's formatdate sends that): the same instant.
MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
LONG_DAY_NAME = "(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
MONTH = f"(?P<month>{MONTHS})"
TIME = r"(?P<hour>\d\d):(?P<minute>\d\d):(?P<second>\d\d)"
HTTP_DATES = tuple(
    re.compile(pattern, re.ASCII)
    for pattern in (
        rf"{DAY_NAME}, (?P<day>\d\d) {MONTH} (?P<year>\d{{4}}) {TIME} (?:GMT|UTC|[+-]0000)",
        rf"{LONG_DAY_NAME}, (?P<day>\d\d)-{MONTH}-(?P<year>\d\d) {TIME} GMT",
        rf"{DAY_NAME} {MONTH} (?P<day>[ \d]\d) {TIME} (?P<year>\d{{4}})",
    )
)


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
    """Seconds since the epoch, or None for a missing date or one that is not a valid
    HTTP-date: RFC 9110 13.1.3 and 13.1.4 say such a field is ignored."""
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    match = next((m for pattern in HTTP_DATES if (m := pattern.fullmatch(text))), None)
    if match is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        # RFC 9110: a two-digit year more than 50 years ahead is the latest such year past.
        this_year = time.gmtime().tm_year
        year += this_year - this_year % 100
        if year > this_year + 50:
            year -= 100
    month = MONTHS.split("|").index(match["month"]) + 1
    day, hour, minute, second = (int(match[name]) for name in ("day", "hour", "minute", "second"))
    if not (
        1 <= year
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour < 24
        and minute < 60
        and second <= 60  # a leap second
    ):
        return None
    return calendar.timegm((year, month, day, hour, minute, second))
