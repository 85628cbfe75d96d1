"""Telling WebSub hubs and weblogUpdates ping services that a feed changed (httpx).

Every request has a timeout; connection errors, timeouts, 5xx and 429 are retried with
exponential backoff and jitter (at least as long as a ``Retry-After`` asks), up to
``[ping] max_attempts``. Failures are outcomes to log and record, never exceptions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import xmlrpc.client
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from xml.parsers.expat import ExpatError

import httpx

from feedsvc import __version__
from feedsvc.catalog.records import (
    add_pending,
    read_pending,
    read_state,
    record_ping,
    remove_pending,
)
from feedsvc.config import Config, PingConfig
from feedsvc.errors import FeedsvcError
from feedsvc.model import Notification, PingOutcome
from feedsvc.notifications import announced_paths, feed_urls, notifications_for
from feedsvc.plan import subscription_feeds

MAX_BACKOFF_S = 300.0
# A Retry-After beyond this is not waited for: the attempt counts as failed.
RETRY_AFTER_LIMIT_S = 600.0
USER_AGENT = f"feedsvc/{__version__}"
log = logging.getLogger("feedsvc.ping")


@dataclass(frozen=True)
class _Reply:
    response: httpx.Response | None
    attempts: int
    detail: str


def remember(state_path: Path, outcome: PingOutcome) -> None:
    """Keep ``outcome`` in the state file for ``feedsvc status``; a failure to is only logged."""
    try:
        record_ping(state_path, outcome)
    except FeedsvcError as error:
        log.warning("cannot record the ping: %s", error)


async def send(client: httpx.AsyncClient, message: Notification, config: Config) -> PingOutcome:
    """Deliver one notification, with retries; returns how it ended."""
    if message.kind == "websub":
        ok, attempts, detail = await _publish_websub(client, message, config.ping)
    else:
        ok, attempts, detail = await _ping_xmlrpc(client, message, config)
    outcome = PingOutcome(message, ok, attempts, detail, datetime.now(UTC))
    level = logging.INFO if ok else logging.WARNING
    log.log(level, "%s", describe(outcome))
    return outcome


def describe(outcome: PingOutcome) -> str:
    """One line about an outcome: endpoint, feed, result, attempts."""
    message = outcome.notification
    result = "ok" if outcome.ok else "failed"
    tries = "attempt" if outcome.attempts == 1 else "attempts"
    return (
        f"ping {message.kind} {message.endpoint} about {message.topic}: {result}, "
        f"{outcome.detail} after {outcome.attempts} {tries}"
    )


def owed(config: Config, *, every_feed: bool = False) -> list[Notification]:
    """The notifications the builds since the last ping owe (kept by each publish), or with
    ``every_feed`` those about every feed the last build published; only to the endpoints
    the configuration still names."""
    path = config.state_path
    if not every_feed:
        return [message for message in read_pending(path) if configured(config, message)]
    last = read_state(path).build
    paths = announced_paths(last.manifest, changed_only=False) if last is not None else []
    if not paths:  # no build recorded (or one by an older feedsvc): the planned feeds
        paths = [spec.path for spec in subscription_feeds(config)]
    return notifications_for(config, feed_urls(config, paths))


def settle(config: Config, outcomes: Iterable[PingOutcome]) -> None:
    """Record each outcome for `feedsvc status` and take it off the pings owed."""
    for outcome in outcomes:
        remember(config.state_path, outcome)
        try:
            remove_pending(config.state_path, outcome.notification)
        except FeedsvcError as error:
            log.warning("cannot update the pending pings: %s", error)


async def send_all(config: Config, messages: Iterable[Notification]) -> list[PingOutcome]:
    """Deliver notifications concurrently and wait for every outcome."""
    async with new_client(config.ping) as client:
        return list(await asyncio.gather(*(send(client, m, config) for m in messages)))


def new_client(ping: PingConfig) -> httpx.AsyncClient:
    """An HTTP client for pings: timeouts always set, no redirects to surprise a hub."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(ping.timeout_s), headers={"User-Agent": USER_AGENT}
    )


class Pinger:
    """Sends notifications in the background, never more than one pending per message.

    A change that arrives while the same message is still pending (in flight or backing off)
    asks for one more send after it, however many such changes arrive. Each pending message is
    kept in the state file until its outcome is final, so that a stop or a kill does not lose
    it: `resume_pending` sends it at the next start.
    """

    def __init__(self, config: Config, on_outcome: Callable[[PingOutcome], None]) -> None:
        self.config = config
        self._on_outcome = on_outcome
        self._client = new_client(config.ping)
        self._pending: dict[Notification, asyncio.Task[None]] = {}
        self._again: set[Notification] = set()

    def reconfigure(self, config: Config) -> None:
        """Send by ``config`` from now on, with its ``[ping] timeout_s`` (the HTTP client's own
        timeouts too: a request already in flight keeps the ones it started with)."""
        self.config = config
        self._client.timeout = httpx.Timeout(config.ping.timeout_s)

    def notify(self, changed: Iterable[str]) -> None:
        """Announce that the feeds at the URLs ``changed`` changed; returns at once."""
        for message in notifications_for(self.config, changed):
            self._queue(message)

    async def resume_pending(self) -> int:
        """Send what an earlier process queued and never saw end; returns how many.

        A message the configuration no longer asks for (a hub removed since) is dropped.
        """
        path = self.config.state_path
        try:
            kept = await asyncio.to_thread(read_pending, path)
        except FeedsvcError as error:
            log.warning("cannot read the pending pings: %s", error)
            return 0
        resumed = 0
        for message in kept:
            if configured(self.config, message):
                log.info(
                    "ping %s %s about %s: resumed", message.kind, message.endpoint, message.topic
                )
                self._queue(message)
                resumed += 1
            else:
                log.info(
                    "ping %s %s: dropped, no longer configured", message.kind, message.endpoint
                )
                await self._keep(remove_pending, message)
        return resumed

    def _queue(self, message: Notification) -> None:
        if message in self._pending:
            self._again.add(message)
        else:
            self._pending[message] = asyncio.create_task(self._deliver(message))

    async def _deliver(self, message: Notification) -> None:
        try:
            await self._keep(_add_one, message)
            while True:
                self._again.discard(message)
                outcome = await send(self._client, message, self.config)
                # Recording may wait on the state file: not on the event loop.
                await asyncio.to_thread(self._on_outcome, outcome)
                if message in self._again:
                    continue
                await self._keep(remove_pending, message)
                if message not in self._again:  # no change came in while that was written
                    break
                await self._keep(_add_one, message)
        finally:
            del self._pending[message]

    async def _keep(
        self, change: Callable[[Path, Notification], None], message: Notification
    ) -> None:
        """Add or remove ``message`` among the pending pings of the state file."""
        try:
            await asyncio.to_thread(change, self.config.state_path, message)
        except FeedsvcError as error:
            log.warning("cannot keep the pending ping in the state file: %s", error)

    async def close(self) -> None:
        """Stop sending (what is pending stays in the state file for the next start) and close
        the connections."""
        for message, task in list(self._pending.items()):
            task.cancel()
            log.warning(
                "ping %s %s not delivered before shutdown: kept for the next start",
                message.kind,
                message.endpoint,
            )
        await asyncio.gather(*self._pending.values(), return_exceptions=True)
        await self._client.aclose()


def configured(config: Config, message: Notification) -> bool:
    """True while the configuration still names ``message``'s endpoint."""
    endpoints = config.ping.websub_hubs if message.kind == "websub" else config.ping.xmlrpc
    return message.endpoint in endpoints


def _add_one(path: Path, message: Notification) -> None:
    add_pending(path, [message])


async def _publish_websub(
    client: httpx.AsyncClient, message: Notification, ping: PingConfig
) -> tuple[bool, int, str]:
    # Hubs differ in which of hub.url and hub.topic they read: send both.
    form = {"hub.mode": "publish", "hub.url": message.topic, "hub.topic": message.topic}
    reply = await _post(client, message.endpoint, ping, data=form)
    if reply.response is None:
        return False, reply.attempts, reply.detail
    return reply.response.is_success, reply.attempts, reply.detail


async def _ping_xmlrpc(
    client: httpx.AsyncClient, message: Notification, config: Config
) -> tuple[bool, int, str]:
    site = config.site
    calls = (
        ("weblogUpdates.extendedPing", (site.title, site.url, site.url, message.topic)),
        ("weblogUpdates.ping", (site.title, site.url)),
    )
    attempts = 0
    detail = ""
    for method, params in calls:
        body = xmlrpc.client.dumps(params, methodname=method, encoding="utf-8").encode("utf-8")
        headers = {"Content-Type": "text/xml"}
        reply = await _post(client, message.endpoint, config.ping, content=body, headers=headers)
        attempts += reply.attempts
        if reply.response is None or not reply.response.is_success:
            return False, attempts, reply.detail
        try:
            (answer,), _ = xmlrpc.client.loads(reply.response.content)
        except xmlrpc.client.Fault as fault:
            # Most likely extendedPing is not supported: try the plain ping.
            detail = f"{method} fault {fault.faultCode}: {fault.faultString}"
            continue
        except (ExpatError, xmlrpc.client.ResponseError, ValueError) as exc:
            return False, attempts, f"{method}: not an XML-RPC answer ({exc})"
        if not isinstance(answer, dict):
            return False, attempts, f"{method}: unexpected answer {answer!r}"
        text = str(answer.get("message", "")).strip()
        if answer.get("flerror"):
            return False, attempts, f"{method}: flerror: {text or 'no message'}"
        return True, attempts, f"{method}: {text or 'accepted'}"
    return False, attempts, detail


async def _post(client: httpx.AsyncClient, url: str, ping: PingConfig, **request: object) -> _Reply:
    """POST with retries; the last response (or None after a transport failure) and why."""
    attempt = 0
    while True:
        attempt += 1
        retry_after = None
        response = None
        try:
            async with asyncio.timeout(ping.timeout_s):
                response = await client.post(url, **request)
        except (httpx.RequestError, TimeoutError) as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if isinstance(exc, TimeoutError):
                detail = f"no answer within {ping.timeout_s:g} s"
        else:
            detail = f"HTTP {response.status_code}"
            if not _retryable(response.status_code):
                return _Reply(response, attempt, detail)
            retry_after = _retry_after(response)
        if attempt >= ping.max_attempts:
            return _Reply(response, attempt, detail)
        delay = min(MAX_BACKOFF_S, ping.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            if retry_after > RETRY_AFTER_LIMIT_S:
                return _Reply(response, attempt, f"{detail}, Retry-After {retry_after:g} s")
            delay = max(delay, retry_after)
        log.info("ping %s: %s, retrying in %.2f s", url, detail, delay)
        await asyncio.sleep(delay)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
