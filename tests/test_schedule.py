"""Scheduling: the rescan setting, and one job per future article, on a real APScheduler."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc.config import config_from_dict
from feedsvc.daemon.rescan import Cron, parse_rescan
from feedsvc.daemon.schedule import Schedule, rescan_trigger
from feedsvc.errors import ConfigError
from feedsvc.model import Article


def config_with(rescan: str):
    return config_from_dict({"schedule": {"rescan": rescan}}, Path("."))


@pytest.mark.parametrize(
    ("rescan", "seconds"), [("15m", 900), ("1h30m", 5400), ("45s", 45), ("2h", 7200)]
)
def test_rescan_duration_is_an_interval(rescan: str, seconds: int) -> None:
    trigger = rescan_trigger(config_with(rescan))
    assert isinstance(trigger, IntervalTrigger)
    assert trigger.interval == timedelta(seconds=seconds)


def test_rescan_interval_is_counted_in_utc() -> None:
    assert rescan_trigger(config_with("15m")).timezone == UTC


def test_rescan_cron_expression_is_a_cron_trigger() -> None:
    assert isinstance(rescan_trigger(config_with("*/15 * * * *")), CronTrigger)


@pytest.mark.parametrize("rescan", ["", "soon", "15", "1d", "0s", "* * * * 9", "61 * * * *"])
def test_bad_rescan_is_a_config_error(rescan: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_with(rescan)
    assert caught.value.key == "schedule.rescan"


@pytest.mark.parametrize(
    ("text", "rescan"),
    [
        ("15m", timedelta(minutes=15)),
        (" 1h30m ", timedelta(hours=1, minutes=30)),
        ("1s", timedelta(seconds=1)),
        ("*/15 * * * *", Cron("*/15 * * * *")),
        ("61 * * * *", Cron("61 * * * *")),  # five fields: APScheduler's to judge
    ],
)
def test_parse_rescan_tells_a_duration_from_a_cron_expression(
    text: str, rescan: timedelta | Cron
) -> None:
    assert parse_rescan(text) == rescan


def article(name: str, published: datetime) -> Article:
    return Article(
        path=Path(f"/articles/{name}.md"),
        slug=name,
        entry_id=f"tag:example.org,2025:{name}",
        link=f"https://example.org/{name}/",
        title=name,
        published=published,
        updated=published,
        digest=b"",
    )


def test_jobs_follow_articles_added_moved_and_removed() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)

    async def scenario() -> list[dict[Path, datetime]]:
        schedule = Schedule(lambda reason, paths: None)
        schedule.start(config_with("1h"))
        seen = []
        one, two = article("one", soon), article("two", soon + timedelta(hours=1))
        schedule.plan([one, two])
        seen.append(schedule.due_times())
        schedule.plan([replace(one, published=soon + timedelta(hours=2))])
        seen.append(schedule.due_times())
        schedule.plan([])
        seen.append(schedule.due_times())
        schedule.shutdown()
        return seen

    added, moved, removed = asyncio.run(scenario())
    assert added == {
        Path("/articles/one.md"): soon,
        Path("/articles/two.md"): soon + timedelta(hours=1),
    }
    assert moved == {Path("/articles/one.md"): soon + timedelta(hours=2)}
    assert removed == {}


def test_a_due_article_requests_a_build_at_its_time() -> None:
    due = datetime.now(UTC) + timedelta(seconds=0.5)
    requests: list[tuple[str, float, object]] = []

    async def scenario() -> None:
        schedule = Schedule(lambda reason, paths: requests.append((reason, time.time(), paths)))
        schedule.start(config_with("1h"))
        schedule.plan([article("later", due)])
        deadline = time.monotonic() + 5
        while not requests and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        schedule.shutdown()

    asyncio.run(scenario())
    assert len(requests) == 1
    reason, at, paths = requests[0]
    assert "later.md is due" in reason
    assert paths == [Path("/articles/later.md")]  # only the due article is looked at again
    assert 0 <= at - due.timestamp() < 0.5


def test_an_article_whose_job_cannot_be_added_is_its_own_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """9999-12-31T23:59:59-12:00 is past the last datetime in UTC: APScheduler overflows."""
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))
    soon = datetime.now(UTC) + timedelta(hours=1)

    async def scenario() -> list[dict[Path, datetime]]:
        schedule = Schedule(lambda reason, paths: None)
        schedule.start(config_with("1h"))
        seen = []
        schedule.plan([article("far", far), article("soon", soon)])
        seen.append(schedule.due_times())
        schedule.plan([article("far", far), article("soon", soon)])
        schedule.plan([article("far", soon + timedelta(hours=1)), article("soon", soon)])
        seen.append(schedule.due_times())
        schedule.shutdown()
        return seen

    with caplog.at_level(logging.ERROR, logger="feedsvc.schedule"):
        planned, fixed = asyncio.run(scenario())
    assert planned == {Path("/articles/soon.md"): soon}
    assert fixed == {
        Path("/articles/soon.md"): soon,
        Path("/articles/far.md"): soon + timedelta(hours=1),
    }
    errors = [record.getMessage() for record in caplog.records]
    assert len(errors) == 1 and errors[0].startswith("cannot schedule /articles/far.md for 9999")
