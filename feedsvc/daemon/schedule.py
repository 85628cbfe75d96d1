"""When to build besides file changes (APScheduler 3.11): a periodic rescan, and one job per
future-dated article at its publish time.

Jobs only ask for a build; the daemon runs one build at a time. They coalesce, never overlap
(``max_instances=1``) and run late rather than never within their grace time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedsvc.config import Config
from feedsvc.daemon.rescan import RESCAN_KEY, Cron, parse_rescan
from feedsvc.errors import ConfigError, display_path
from feedsvc.model import Article

RESCAN_JOB = "rescan"
PUBLISH_PREFIX = "publish:"
RESCAN_GRACE_S = 60
log = logging.getLogger("feedsvc.schedule")

# (why, the paths to look at again: None for every file)
BuildRequest = Callable[[str, "Collection[Path] | None"], None]


def rescan_trigger(config: Config) -> BaseTrigger:
    """The trigger for ``[schedule] rescan``: an interval ("15m", counted in UTC) or a cron
    expression (in the articles' zone). Config validation read it already, so it cannot fail."""
    rescan = parse_rescan(config.schedule.rescan)
    if isinstance(rescan, Cron):
        return cron_trigger(rescan, config.articles.default_timezone)
    return IntervalTrigger(seconds=rescan.total_seconds(), timezone=UTC)


def cron_trigger(cron: Cron, timezone: str) -> CronTrigger:
    """The trigger for ``cron`` in ``timezone``, once APScheduler has shown it can build and run
    it, firing at least once: else a ConfigError naming ``schedule.rescan`` (config validation
    calls this), not an overflow in the scheduler later."""
    try:
        trigger = CronTrigger.from_crontab(cron.expression, timezone=timezone)
        first = trigger.get_next_fire_time(None, datetime.now(UTC))
    except (ValueError, OverflowError) as exc:
        raise ConfigError(RESCAN_KEY, f"cannot be scheduled: {cron.expression!r}") from exc
    if first is None:
        raise ConfigError(RESCAN_KEY, f"never fires: {cron.expression!r}")
    return trigger


class Schedule:
    """The daemon's jobs. Call ``start`` inside the running event loop."""

    def __init__(self, request_build: BuildRequest) -> None:
        self._request_build = request_build
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._unschedulable: dict[str, datetime] = {}  # job id: the date it could not take

    def start(self, config: Config) -> None:
        """Start the scheduler with the rescan job for ``config``."""
        self._scheduler.start()
        self.configure(config)

    def configure(self, config: Config) -> None:
        """(Re)set the rescan job to ``config``'s schedule."""
        self._scheduler.add_job(
            self._fire,
            rescan_trigger(config),
            args=["scheduled rescan"],
            id=RESCAN_JOB,
            name="rescan",
            replace_existing=True,
            misfire_grace_time=RESCAN_GRACE_S,
        )
        log.info("rescan scheduled: %s", config.schedule.rescan)

    def plan(self, scheduled: Iterable[Article]) -> None:
        """Keep one job per future-dated article at its publish time: add the new ones,
        move those whose date changed, remove those no longer scheduled.

        An article whose job cannot be added (a date APScheduler cannot hold) is that
        article's error: logged once, by name, while the others are planned as usual.
        """
        wanted = {PUBLISH_PREFIX + str(article.path): article for article in scheduled}
        for job in self._publish_jobs():
            if job.id not in wanted:
                job.remove()
                log.info("unscheduled %s", _job_path(job))
        self._unschedulable = {
            job_id: date for job_id, date in self._unschedulable.items() if job_id in wanted
        }
        for job_id, article in wanted.items():
            job = self._scheduler.get_job(job_id)
            if job is not None and job.trigger.run_date == article.published:
                continue
            if self._unschedulable.get(job_id) == article.published:
                continue
            try:
                self._add_publish_job(job_id, article)
            except (OverflowError, ValueError) as exc:
                if job is not None:
                    job.remove()
                self._unschedulable[job_id] = article.published
                log.error(
                    "cannot schedule %s for %s: %s: %s",
                    display_path(article.path),
                    article.published.isoformat(),
                    type(exc).__name__,
                    exc,
                )
                continue
            self._unschedulable.pop(job_id, None)
            verb = "rescheduled" if job is not None else "scheduled"
            log.info(
                "%s %s for %s", verb, display_path(article.path), article.published.isoformat()
            )

    def _add_publish_job(self, job_id: str, article: Article) -> None:
        self._scheduler.add_job(
            self._fire,
            "date",
            run_date=article.published,
            args=[f"{display_path(article.path)} is due", [article.path]],
            id=job_id,
            name=article.title,
            replace_existing=True,
        )

    def due_times(self) -> dict[Path, datetime]:
        """When each scheduled article's job will run, by path."""
        return {_job_path(job): job.next_run_time for job in self._publish_jobs()}

    def shutdown(self) -> None:
        """Stop running jobs; a job already running is not interrupted."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def _fire(self, reason: str, paths: list[Path] | None = None) -> None:
        # A coroutine, so that the job runs on the event loop rather than in a thread.
        log.info("%s: build requested", reason)
        self._request_build(reason, paths)

    def _publish_jobs(self) -> list[Job]:
        return [job for job in self._scheduler.get_jobs() if job.id.startswith(PUBLISH_PREFIX)]


def _job_path(job: Job) -> Path:
    return Path(job.id.removeprefix(PUBLISH_PREFIX))
