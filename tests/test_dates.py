from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from feedsvc.dates import DateError, parse_date

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "expected_utc"),
    [
        ("June 02, 2025", "2025-06-02T00:00:00"),
        ("12 May 2025", "2025-05-12T00:00:00"),
        ("March 3rd, 2025 at 3:45 PM EST", "2025-03-03T20:45:00"),
        ("Mon, 10 Feb 2025 08:30:00 +0100", "2025-02-10T07:30:00"),
        ("Tue, 04 Mar 2025 10:00:00 GMT", "2025-03-04T10:00:00"),
        ("Tue, 04 Mar 2025 10:00:00 -0000", "2025-03-04T10:00:00"),
        ("10 Feb 2025 08:30:00 +0100", "2025-02-10T07:30:00"),
        ("2025-03-04", "2025-03-04T00:00:00"),
        ("2025-03-04T10:00:00Z", "2025-03-04T10:00:00"),
        ("2025-03-04T10:00:00.250+02:00", "2025-03-04T08:00:00.250000"),
        ("2025-03-04 10:00", "2025-03-04T10:00:00"),
        ("2025-03-04T10:00:00+05:30", "2025-03-04T04:30:00"),
        ("Jun 2 2025 14:30 UTC", "2025-06-02T14:30:00"),
        ("4 March 2025 14:00 CET", "2025-03-04T13:00:00"),
        ("July 4, 2025 9:00 AM PDT", "2025-07-04T16:00:00"),
        ("July 4, 2025 9:00 AM CDT", "2025-07-04T14:00:00"),
        ("1 August 2025 18:00 BST", "2025-08-01T17:00:00"),
        ("1 August 2025 18:00 CEST", "2025-08-01T16:00:00"),
        ("1 August 2025 18:00 IST", "2025-08-01T12:30:00"),
        ("1 August 2025 18:00 JST", "2025-08-01T09:00:00"),
        ("1 August 2025 18:00 AEST", "2025-08-01T08:00:00"),
        ("1 August 2025 18:00 EEST", "2025-08-01T15:00:00"),
        ("2025-03-04 10:00 Europe/Paris", "2025-03-04T09:00:00"),
        ("June 2, 2025 3:00 PM ET", "2025-06-02T19:00:00"),
        ("January 2, 2025 3:00 PM ET", "2025-01-02T20:00:00"),
        ("July 4, 2025 9:00 AM PT", "2025-07-04T16:00:00"),
        ("  June   02,\n 2025 ", "2025-06-02T00:00:00"),
    ],
)
def test_date_strings_mean_their_utc_instant(text: str, expected_utc: str) -> None:
    parsed = parse_date(text, UTC)
    assert parsed.tzinfo is not None
    assert parsed.astimezone(UTC).replace(tzinfo=None).isoformat() == expected_utc


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("the day after tomorrow-ish", "cannot understand"),
        ("sometime in May", "cannot understand"),
        ("May 2025", "incomplete"),
        ("2025", "incomplete"),
        ("June 31, 2025", "cannot understand"),
        ("2025-03-04 10:00 XYZT", "unknown time zone 'XYZT'"),
        ("2025-03-04 10:00 Mars/Olympus", "unknown time zone"),
        ("", "empty"),
        ("next Tuesday", "cannot understand"),
        ("Tuesday", "incomplete"),
        ("June 02", "incomplete"),
        ("10:00", "incomplete"),
    ],
)
def test_dates_that_cannot_be_understood_are_refused(text: str, reason: str) -> None:
    with pytest.raises(DateError, match=reason):
        parse_date(text, UTC)


def test_a_date_without_zone_takes_the_default_zone() -> None:
    parsed = parse_date("June 02, 2025 09:00", NEW_YORK)
    assert parsed.astimezone(UTC) == datetime(2025, 6, 2, 13, 0, tzinfo=UTC)


def test_date_only_is_midnight_in_the_default_zone() -> None:
    assert parse_date("2025-01-15", NEW_YORK) == datetime(2025, 1, 15, tzinfo=NEW_YORK)


def test_yaml_dates_and_datetimes_are_zoned() -> None:
    assert parse_date(date(2025, 3, 4), UTC) == datetime(2025, 3, 4, tzinfo=UTC)
    assert parse_date(datetime(2025, 3, 4, 10), NEW_YORK).utcoffset() is not None
    aware = datetime(2025, 3, 4, 10, tzinfo=UTC)
    assert parse_date(aware, NEW_YORK) is aware


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        ("9999-12-31T23:59:59-12:00", UTC),  # overflows when converted to UTC
        ("9999-06-01", UTC),
        (datetime(9999, 12, 31, 23), ZoneInfo("America/New_York")),
        ("1000-01-01T00:30:00+01:00", UTC),
        (date(1000, 1, 1), ZoneInfo("Europe/Paris")),
    ],
)
def test_dates_outside_the_years_1000_to_9998_in_utc_are_refused(
    value: str | date, zone: ZoneInfo
) -> None:
    with pytest.raises(DateError, match="out of range"):
        parse_date(value, zone)


def test_the_edges_of_the_range_are_kept() -> None:
    assert parse_date("9998-12-31T23:59:59+00:00", UTC).year == 9998
    assert parse_date("1000-01-01T00:00:00-01:00", UTC).year == 1000


def test_a_long_date_is_refused_without_parsing_it() -> None:
    with pytest.raises(DateError, match="too long for a date") as caught:
        parse_date("12 " * 50_000, UTC)
    assert len(str(caught.value)) < 150
