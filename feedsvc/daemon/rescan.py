"""The ``[schedule] rescan`` setting, read without APScheduler: a duration or a cron expression.

The one place that tells the two apart, for the configuration (which must not load APScheduler
for commands that never schedule) and for the scheduler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from feedsvc.errors import ConfigError

RESCAN_KEY = "schedule.rescan"
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MIN_RESCAN = timedelta(seconds=1)
MAX_RESCAN = timedelta(days=366)


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression; APScheduler reads it, in the articles' default zone."""

    expression: str


def parse_rescan(text: str) -> timedelta | Cron:
    """How often to rescan: five fields are a cron expression (whether APScheduler can run it
    is `feedsvc.daemon.schedule.cron_trigger`'s to tell); anything else must be a duration
    between 1 s and 366 days. Raises ConfigError naming ``schedule.rescan``."""
    if len(text.split()) == 5:
        return Cron(text)
    try:
        duration = parse_duration(text)
    except ValueError:
        # The cause only repeats the value this message quotes: chained, it would say it twice.
        raise ConfigError(
            RESCAN_KEY,
            f"must be a duration such as '15m' or '1h30m', or a cron expression, not {text!r}",
        ) from None
    if not MIN_RESCAN <= duration <= MAX_RESCAN:
        raise ConfigError(RESCAN_KEY, f"must be between 1s and 366 days, not {text!r}")
    return duration


def parse_duration(text: str) -> timedelta:
    """A duration written as hours, minutes and seconds: "15m", "1h30m", "45s"."""
    match = DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    try:
        return timedelta(hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"not a duration: {text!r}") from exc
