"""Publish and update dates: any common written form to a timezone-aware datetime.

Known shapes take a strptime/fromisoformat fast path; the rest go to python-dateutil,
strictly: no fuzzy parsing, and a date missing its day, month or year is refused.
"""

from __future__ import annotations

import calendar
import re
import warnings
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.errors import quote_value
from feedsvc.model import RawDate

# Zone abbreviations as they are meant in English-language newsrooms (IST is India's).
ZONE_HOURS = {
    "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 1, "BST": 1, "IST": 5.5,
    "CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5,
    "BRT": -3, "ART": -3, "WAT": 1, "CAT": 2, "EAT": 3, "SAST": 2, "PKT": 5, "ICT": 7,
    "WIB": 7, "SGT": 8, "HKT": 8, "PHT": 8, "AWST": 8, "JST": 9, "KST": 9, "ACST": 9.5,
    "ACDT": 10.5, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}  # fmt: skip
# North American newsrooms write "ET", "PT": the local time there, daylight saving or not.
REGIONAL_ZONES = {
    "ET": "America/New_York",
    "CT": "America/Chicago",
    "MT": "America/Denver",
    "PT": "America/Los_Angeles",
}
ZONES: dict[str, tzinfo] = {
    **{name: timezone(timedelta(hours=hours), name) for name, hours in ZONE_HOURS.items()},
    **{name: ZoneInfo(key) for name, key in REGIONAL_ZONES.items()},
}
MONTHS = {
    name.lower(): number
    for number, full in enumerate(calendar.month_name)
    if full
    for name in (full, full[:3])
} | {"sept": 9}
# The written shapes seen most often, read exactly before dateutil is asked:
# "June 02, 2025", "Jun 2 2025 14:30 UTC", "12 May 2025", "12 May 2025 14:30 GMT".
MONTH_FIRST = re.compile(
    r"([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})(?: (\d{1,2}):(\d{2}))?( UTC| GMT)?"
)
DAY_FIRST = re.compile(r"(\d{1,2}) ([A-Za-z]{3,9})\.? (\d{4})(?: (\d{1,2}):(\d{2}))?( UTC| GMT)?")
RFC822_ZONE = re.compile(r"(?:[+-]\d{4}|GMT|UT|UTC|Z)\s*$")
IANA_SUFFIX = re.compile(r"^(.*?)\s+([A-Za-z_]+/[A-Za-z_/+-]+)\s*$")
UNKNOWN_ZONE = re.compile(r"tzname (\S+) identified")
# Two different defaults: a field dateutil fills from the default differs between them.
PROBES = (datetime(2000, 1, 1), datetime(2004, 2, 2))
# The longest written date ("Wednesday, 10 September 2025 14:30:00 America/Argentina/...")
# is well under this; a longer value is not a date, and parsing it would only cost time.
MAX_DATE_CHARS = 100
# Years a date may fall in, in UTC: earlier ones are misreadings, later ones leave no room
# for the arithmetic done on them (a scheduler's next run, a zone's offset).
FIRST_YEAR, LAST_YEAR = 1000, 9998


class DateError(ValueError):
    """A date that cannot be understood; the message says why."""


def parse_date(value: RawDate, default_zone: tzinfo) -> datetime:
    """A timezone-aware datetime for ``value``; a date without a zone is in ``default_zone``.

    Its UTC value is checked to fall within FIRST_YEAR..LAST_YEAR, so that nothing done
    with it later can overflow."""
    if isinstance(value, datetime):
        parsed = value if value.tzinfo else value.replace(tzinfo=default_zone)
    elif isinstance(value, date):
        parsed = datetime.combine(value, time(), tzinfo=default_zone)
    else:
        text = " ".join(value.split())
        if not text:
            raise DateError("empty date")
        if len(text) > MAX_DATE_CHARS:
            raise DateError(f"too long for a date ({len(text):,} characters): {quote_value(text)}")
        parsed = _fast(text) or _slow(text)
        if parsed.year < FIRST_YEAR:
            raise DateError(f"cannot understand the date {quote_value(value)}")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=default_zone)
    return _in_range(parsed, value)


def _in_range(parsed: datetime, value: RawDate) -> datetime:
    try:
        year = parsed.astimezone(UTC).year
    except (OverflowError, ValueError):  # past the last year datetime can hold, in UTC
        year = LAST_YEAR + 1
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise DateError(
            f"the date {quote_value(str(value))} is out of range: it must fall in the years"
            f" {FIRST_YEAR} to {LAST_YEAR} (UTC)"
        )
    return parsed


def _fast(text: str) -> datetime | None:
    """The common shapes, parsed exactly; None when ``text`` is not one of them."""
    if text[:1].isdigit():
        try:
            return datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            pass
    if RFC822_ZONE.search(text) and "," in text[:5]:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _written(text)


def _written(text: str) -> datetime | None:
    match = MONTH_FIRST.fullmatch(text)
    if match:
        month_name, day, year, hour, minute, utc = match.groups()
    else:
        match = DAY_FIRST.fullmatch(text)
        if not match:
            return None
        day, month_name, year, hour, minute, utc = match.groups()
    month = MONTHS.get(month_name.lower())
    if month is None:
        return None
    try:
        return datetime(
            int(year),
            month,
            int(day),
            int(hour or 0),
            int(minute or 0),
            tzinfo=UTC if utc else None,
        )
    except ValueError:
        return None


def _slow(text: str) -> datetime:
    """dateutil, strictly: unknown zones and missing fields are errors, not guesses."""
    from dateutil import parser as dateutil_parser  # only for the shapes _fast does not know
    from dateutil.parser import UnknownTimezoneWarning

    zone = None
    iana = IANA_SUFFIX.match(text)
    if iana:
        try:
            text, zone = iana.group(1), ZoneInfo(iana.group(2))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise DateError(f"unknown time zone {quote_value(iana.group(2))}") from exc
    results = []
    for default in PROBES:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UnknownTimezoneWarning)
            try:
                results.append(dateutil_parser.parse(text, default=default, tzinfos=ZONES))
            except UnknownTimezoneWarning as warning:
                name = UNKNOWN_ZONE.search(str(warning))
                zone_name = name.group(1) if name else text
                raise DateError(
                    f"unknown time zone {quote_value(zone_name)} in the date {quote_value(text)}"
                ) from warning
            except (ValueError, OverflowError) as exc:
                raise DateError(f"cannot understand the date {quote_value(text)}") from exc
    first, second = results
    if first.date() != second.date():
        raise DateError(f"incomplete date {quote_value(text)}: it needs a day, a month and a year")
    if zone is not None:
        if first.tzinfo is not None:
            raise DateError(f"the date {quote_value(text)} names two time zones")
        first = first.replace(tzinfo=zone)
    return first
