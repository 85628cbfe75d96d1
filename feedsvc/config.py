"""feedsvc.toml: read once with tomllib, validated once into frozen dataclasses."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta, tzinfo
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.errors import ConfigError
from feedsvc.iri import iri_to_uri

CONFIG_NAME = "feedsvc.toml"
ARTICLE_URL_FIELDS = frozenset({"site_url", "slug", "year", "month", "day"})
# BCP 47 in the shape feeds use: a language, then optional script, region and variants.
LANGUAGE_TAG = re.compile(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)
DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class SiteConfig:
    """The site the feeds speak for."""

    title: str = "feedsvc"
    url: str = "http://localhost:8080/"
    description: str = ""
    language: str = "en"
    author: str = "feedsvc"


@dataclass(frozen=True)
class ArticlesConfig:
    """Where articles are read from and how their text is understood."""

    dir: Path = Path("articles")
    default_timezone: str = "UTC"
    summary_length: int = 300


@dataclass(frozen=True)
class FeedsConfig:
    """Where feeds go and what they hold."""

    output: Path = Path("public")
    max_items: int = 50
    article_url: str = "{site_url}{slug}/"
    gzip_copies: bool = False  # rss.xml.gz beside rss.xml, for nginx's gzip_static


@dataclass(frozen=True)
class WatchConfig:
    """How the daemon notices changed files."""

    debounce_ms: int = 300
    poll: bool = False


@dataclass(frozen=True)
class ScheduleConfig:
    """When the daemon rescans everything: a duration ("15m", "1h30m") or a cron expression.

    Cron fields are read in the articles' default time zone.
    """

    rescan: str = "15m"


@dataclass(frozen=True)
class PingConfig:
    """Who hears about changed feeds: WebSub hubs and weblogUpdates XML-RPC services."""

    websub_hubs: tuple[str, ...] = ()
    xmlrpc: tuple[str, ...] = ()
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_s: float = 1.0


@dataclass(frozen=True)
class ServeConfig:
    """The HTTP server for subscribers; an empty bind means `feedsvc run` does not serve."""

    bind: str = ""
    max_age_s: int = 300
    max_requests_per_minute: int = 0  # per client address; 0: no limit (behind a proxy, say)


@dataclass(frozen=True)
class StateConfig:
    """Where the daemon records the last build and ping outcomes, for `feedsvc status`."""

    path: Path = Path("feedsvc-state.sqlite")


@dataclass(frozen=True)
class Config:
    """The whole configuration, passed down as an argument."""

    site: SiteConfig = field(default_factory=SiteConfig)
    articles: ArticlesConfig = field(default_factory=ArticlesConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    watch: WatchConfig = field(default_factory=WatchConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    ping: PingConfig = field(default_factory=PingConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    state: StateConfig = field(default_factory=StateConfig)

    @property
    def timezone(self) -> tzinfo:
        """The zone of dates that name none."""
        return ZoneInfo(self.articles.default_timezone)

    def feed_url(self, name: str) -> str:
        """The public URL of the feed file ``name``: its self link, its WebSub topic."""
        return self.site.url + name

    @property
    def description(self) -> str:
        """The channel description: the configured one, else one made from the title."""
        return self.site.description or f"The latest from {self.site.title}"


TABLES: dict[str, type] = {
    "site": SiteConfig,
    "articles": ArticlesConfig,
    "feeds": FeedsConfig,
    "watch": WatchConfig,
    "schedule": ScheduleConfig,
    "ping": PingConfig,
    "serve": ServeConfig,
    "state": StateConfig,
}


def load_config(
    path: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Config:
    """Read ``path`` (or ./feedsvc.toml when it exists), apply ``overrides``, validate.

    Paths in the file are relative to the file; paths in overrides to the working directory.
    """
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is None and Path(CONFIG_NAME).is_file():
        path = Path(CONFIG_NAME)
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(str(path), "no such configuration file") from exc
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(path), "cannot read the configuration") from exc
        base = Path(path).resolve().parent
    config = config_from_dict(data, base)
    for table, values in (overrides or {}).items():
        config = _override(config, table, {k: v for k, v in values.items() if v is not None})
    return config


def config_from_dict(data: dict[str, Any], base: Path) -> Config:
    """Validate parsed TOML into a Config; relative paths are taken against ``base``."""
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(unknown[0], "unknown table")
    tables = {}
    for name, cls in TABLES.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(name, "must be a table")
        tables[name] = _table(cls, name, raw, base)
    return validate(Config(**tables))


def _override(config: Config, table: str, values: dict[str, Any]) -> Config:
    if not values:
        return config
    current = getattr(config, table)
    updated = replace(current, **_coerce(type(current), table, values, Path.cwd()))
    return validate(replace(config, **{table: updated}))


def _table(cls: type, name: str, raw: dict[str, Any], base: Path) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{name}.{unknown[0]}", "unknown key")
    defaults = cls()
    values = _coerce(cls, name, raw, base)
    for f in fields(cls):
        if f.name not in values and isinstance(getattr(defaults, f.name), Path):
            values[f.name] = (base / getattr(defaults, f.name)).resolve()
    return cls(**values)


def _coerce(cls: type, name: str, raw: dict[str, Any], base: Path) -> dict[str, Any]:
    defaults = cls()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        expected = type(getattr(defaults, key))
        if issubclass(expected, Path):
            if not isinstance(value, str | Path) or not str(value):
                raise ConfigError(f"{name}.{key}", "must be a path")
            value = (base / Path(value).expanduser()).resolve()  # as the watcher reports them
        elif expected is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}.{key}", f"must be a whole number, not {value!r}")
        elif expected is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{name}.{key}", f"must be a number, not {value!r}")
            value = float(value)
        elif expected is tuple:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ConfigError(f"{name}.{key}", f"must be a list of strings, not {value!r}")
            value = tuple(value)
        elif not isinstance(value, expected):
            raise ConfigError(f"{name}.{key}", f"must be a {expected.__name__}, not {value!r}")
        values[key] = value
    return values


def validate(config: Config) -> Config:
    """Check values that have the right type but may still be wrong; the site URL ends in '/'."""
    if not _is_http_url(config.site.url):
        raise ConfigError("site.url", f"must be an absolute http(s) URL, not {config.site.url!r}")
    if not config.site.title.strip():
        raise ConfigError("site.title", "must not be empty")
    if not LANGUAGE_TAG.match(config.site.language):
        raise ConfigError(
            "site.language", f"is not a BCP 47 language tag: {config.site.language!r}"
        )
    try:
        ZoneInfo(config.articles.default_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            "articles.default_timezone",
            f"unknown time zone {config.articles.default_timezone!r}",
        ) from exc
    if config.articles.summary_length < 20:
        raise ConfigError("articles.summary_length", "must be at least 20")
    if config.feeds.max_items < 1:
        raise ConfigError("feeds.max_items", "must be at least 1")
    try:
        names = {name for _, name, _, _ in Formatter().parse(config.feeds.article_url) if name}
    except ValueError as exc:
        raise ConfigError("feeds.article_url", "is not a valid template") from exc
    if names - ARTICLE_URL_FIELDS or "slug" not in names:
        raise ConfigError(
            "feeds.article_url",
            "must contain {slug} and only these fields: " + ", ".join(sorted(ARTICLE_URL_FIELDS)),
        )
    for key in ("websub_hubs", "xmlrpc"):
        for endpoint in getattr(config.ping, key):
            if not _is_http_url(endpoint):
                raise ConfigError(
                    f"ping.{key}", f"must hold absolute http(s) URLs, not {endpoint!r}"
                )
    if config.ping.timeout_s <= 0:
        raise ConfigError("ping.timeout_s", "must be more than 0")
    if config.ping.max_attempts < 1:
        raise ConfigError("ping.max_attempts", "must be at least 1")
    if config.ping.backoff_s < 0:
        raise ConfigError("ping.backoff_s", "must not be negative")
    _check_rescan(config.schedule.rescan, config.articles.default_timezone)
    if config.watch.debounce_ms < 0:
        raise ConfigError("watch.debounce_ms", "must not be negative")
    if config.serve.max_age_s < 0:
        raise ConfigError("serve.max_age_s", "must not be negative")
    if config.serve.max_requests_per_minute < 0:
        raise ConfigError("serve.max_requests_per_minute", "must not be negative")
    if config.serve.bind:
        parse_bind(config.serve.bind)
    site_url = _uri("site.url", config.site.url)
    if not site_url.endswith("/"):
        site_url += "/"
    hubs = tuple(_uri("ping.websub_hubs", hub) for hub in config.ping.websub_hubs)
    return replace(
        config,
        site=replace(config.site, url=site_url),
        ping=replace(config.ping, websub_hubs=hubs),
    )


def parse_bind(bind: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[ipv6]:port`` into the host and the port to listen on."""
    host, colon, port = bind.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise ConfigError("serve.bind", f"brackets are for IPv6 addresses, not {bind!r}")
    elif ":" in host:
        raise ConfigError("serve.bind", f"write an IPv6 address in brackets: {bind!r}")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("serve.bind", f"must be host:port or [ipv6]:port, not {bind!r}")
    if any(c.isspace() or c in "/[]@" for c in host):
        raise ConfigError("serve.bind", f"not a host name or address: {host!r}")
    return host, int(port)


def parse_duration(text: str) -> timedelta:
    """A duration written as hours, minutes and seconds: "15m", "1h30m", "45s"."""
    match = DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"not a duration: {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _check_rescan(rescan: str, timezone: str) -> None:
    if len(rescan.split()) == 5:
        from apscheduler.triggers.cron import CronTrigger  # only cron schedules need it

        try:
            CronTrigger.from_crontab(rescan, timezone=timezone)
        except ValueError as exc:
            raise ConfigError("schedule.rescan", f"invalid cron expression {rescan!r}") from exc
        return
    try:
        duration = parse_duration(rescan)
    except ValueError:
        raise ConfigError(
            "schedule.rescan",
            f"must be a duration such as '15m' or '1h30m', or a cron expression, not {rescan!r}",
        ) from None
    if duration < timedelta(seconds=1):
        raise ConfigError("schedule.rescan", "must be at least one second")


def _is_http_url(text: str) -> bool:
    try:
        url = urlsplit(text)
        port_ok = url.port is None or url.port > 0
    except ValueError:  # a port out of range, a broken IPv6 literal
        return False
    return url.scheme in ("http", "https") and bool(url.hostname) and port_ok


def _uri(key: str, iri: str) -> str:
    try:
        return iri_to_uri(iri)
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None
