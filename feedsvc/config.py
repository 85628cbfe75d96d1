"""feedsvc.toml: read once with tomllib, validated once into frozen dataclasses."""

from __future__ import annotations

import math
import os
import re
import tomllib
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from datetime import date, tzinfo
from pathlib import Path
from string import Formatter
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feedsvc.daemon.rescan import Cron, parse_rescan
from feedsvc.errors import ConfigError
from feedsvc.iri import iri_to_uri
from feedsvc.serve.bind import parse_bind

CONFIG_NAME = "feedsvc.toml"
STATE_DIR_NAME = ".feedsvc"
STATE_FILE_NAME = "state.sqlite"
ARTICLE_URL_FIELDS = frozenset({"site_url", "slug", "year", "month", "day"})
# RFC 4151's date: a year, a month or a day.
TAG_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
# BCP 47 in the shape feeds use: a language, then optional script, region and variants.
LANGUAGE_TAG = re.compile(
    r"^[A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*$"
)
# Paths kept as written (made absolute, not resolved through symlinks): the daemon follows
# a symlinked articles directory switched to a new target (`ln -sfn releases/2 articles`).
UNRESOLVED_PATHS = frozenset({"articles.dir"})
# The keys a configuration file must set: without them every entry id would name localhost.
REQUIRED_IN_FILE = (("site", "url"), ("site", "title"))
# (low, high) for every number: anything else is a ConfigError, never an overflow later.
RANGES: dict[str, tuple[float, float]] = {
    "articles.summary_length": (20, 100_000),
    "feeds.max_items": (1, 100_000),
    "feeds.archive_page_size": (1, 100_000),
    "watch.debounce_ms": (0, 60_000),
    "ping.timeout_s": (0.001, 3_600),
    "ping.max_attempts": (1, 100),
    "ping.backoff_s": (0, 3_600),
    "serve.max_age_s": (0, 366 * 86_400),
    "serve.max_requests_per_minute": (0, 1_000_000),
    "serve.max_connections_per_client": (0, 1_000_000),
    "guard.max_removed": (0, 100_000_000),
    "guard.max_removed_percent": (0, 100),
    "lint.max_feed_bytes": (1024, 2**30),
}
# The checks run on what a build is about to publish (see lint.py).
LINT_RULES = ("size", "links", "language", "dates", "duplicates")
# S3's bucket names: 3 to 63 lowercase letters, digits, dots and hyphens, alphanumeric ends.
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
AWS_REGION = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})?$")  # us-east-1, auto, garage
# Keys of an [[outputs.s3]] table that would hold a secret.
CREDENTIAL_KEY = re.compile(r"secret|access_key|session_token|password|credential", re.I)
T = TypeVar("T")


@dataclass(frozen=True)
class SiteConfig:
    """The site the feeds speak for."""

    title: str = "feedsvc"
    url: str = "http://localhost:8080/"
    description: str = ""
    language: str = "en"
    author: str = "feedsvc"
    # The date in new tag: ids (RFC 4151: the tagging authority's, not the article's), so a
    # corrected publish date never changes an id. Ids already published keep theirs (ledger).
    tag_date: str = "2000-01-01"


@dataclass(frozen=True)
class ArticlesConfig:
    """Where articles are read from and how their text is understood."""

    dir: Path = Path("articles")
    default_timezone: str = "UTC"
    summary_length: int = 300
    # An edit of whitespace or typography only, or marked `minor_edit: true`, leaves the
    # article's updated date as it was (readers do not show it again); False: any edit moves it.
    quiet_minor_edits: bool = True


@dataclass(frozen=True)
class FeedsConfig:
    """Where feeds go and what they hold."""

    output: Path = Path("public")
    max_items: int = 50
    article_url: str = "{site_url}{slug}/"
    gzip_copies: bool = False  # rss.xml.gz beside rss.xml, for nginx's gzip_static
    archives: bool = True  # RFC 5005 archive pages of every article past max_items
    archive_page_size: int = 100  # entries in each archive page; only the newest is partial
    tag_feeds: bool = False  # a feed per tag: tags/<slug>/rss.xml, ...
    author_feeds: bool = False  # a feed per author: authors/<slug>/rss.xml, ...


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
    max_connections_per_client: int = 64  # open at once per address; 0: no cap


@dataclass(frozen=True)
class GuardConfig:
    """What a build may change of what readers have seen without ``--accept-changes``: no id
    of a published entry, and at most ``max_removed`` entries removed, or
    ``max_removed_percent`` of them, whichever is larger."""

    max_removed: int = 10
    max_removed_percent: float = 20.0


@dataclass(frozen=True)
class StateConfig:
    """The state directory: the parse cache, the last build and ping outcomes. None means
    ``.feedsvc/`` beside the output directory."""

    dir: Path | None = None


@dataclass(frozen=True)
class LintConfig:
    """What a build checks before it writes: a rule in ``refuse`` stops the build (or, for
    an article's date, rejects the article); any other rule only warns."""

    max_feed_bytes: int = 1_048_576  # some aggregators drop larger feeds
    refuse: tuple[str, ...] = LINT_RULES


@dataclass(frozen=True)
class S3OutputConfig:
    """One S3-compatible bucket the feeds go to, ``url = "s3://bucket/prefix"``. Credentials
    come from the standard AWS chain (environment, shared config, instance role), never from
    this file."""

    url: str
    endpoint_url: str = ""  # a non-AWS store's address; empty: AWS's own
    region: str = ""  # empty: the AWS chain's
    max_age_s: int | None = None  # Cache-Control of feeds; unset: [serve] max_age_s

    @property
    def bucket(self) -> str:
        return parse_s3_url(self.url)[0]

    @property
    def prefix(self) -> str:
        return parse_s3_url(self.url)[1]


@dataclass(frozen=True)
class OutputsConfig:
    """Where feeds are published: the local directory ([feeds] output) and/or buckets."""

    local: bool = True
    s3: tuple[S3OutputConfig, ...] = ()


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
    guard: GuardConfig = field(default_factory=GuardConfig)
    lint: LintConfig = field(default_factory=LintConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)

    @property
    def timezone(self) -> tzinfo:
        """The zone of dates that name none."""
        return ZoneInfo(self.articles.default_timezone)

    @property
    def state_path(self) -> Path:
        """The state database: in ``[state] dir``, else in ``.feedsvc/`` beside the output."""
        directory = self.state.dir or self.feeds.output.parent / STATE_DIR_NAME
        return directory / STATE_FILE_NAME

    def feed_url(self, name: str) -> str:
        """The public URL of the feed file ``name``: its self link, its WebSub topic."""
        return self.site.url + name

    @property
    def description(self) -> str:
        """The channel description: the configured one, else one made from the title."""
        return self.site.description or f"The latest from {self.site.title}"


def load_config(
    path: Path | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Config:
    """Read ``path`` (or ./feedsvc.toml when it exists), apply ``overrides``, validate.

    Paths in the file are relative to the file; paths in overrides to the working directory.
    """
    data: dict[str, Any] = {}
    base = Path.cwd()
    overrides = overrides or {}
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
    for table, values in overrides.items():
        config = _override(config, table, {k: v for k, v in values.items() if v is not None})
    if path is not None:
        _require(data, overrides)
    return config


def _require(data: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> None:
    """A configuration file sets the keys that give every entry its identity (or the command
    line does); only with no file at all do the defaults stand in for them."""
    for table, key in REQUIRED_IN_FILE:
        if key not in data.get(table, {}) and overrides.get(table, {}).get(key) is None:
            raise ConfigError(f"{table}.{key}", "must be set in the configuration file")


def config_from_dict(data: dict[str, Any], base: Path) -> Config:
    """Validate parsed TOML into a Config; relative paths are taken against ``base``."""
    _refuse_credentials(data)
    return validate(read_table(Config, data, base))


def _refuse_credentials(data: dict[str, Any]) -> None:
    """A secret written in the file is refused with the reason, before it is an unknown key."""
    outputs = data.get("outputs")
    targets = outputs.get("s3") if isinstance(outputs, dict) else None
    for index, target in enumerate(targets if isinstance(targets, list) else ()):
        for key in target if isinstance(target, dict) else ():
            if CREDENTIAL_KEY.search(key):
                raise ConfigError(
                    f"outputs.s3[{index}].{key}",
                    "credentials are never read from the configuration file: give them"
                    " through the standard AWS chain (AWS_ACCESS_KEY_ID and"
                    " AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws, or an instance role)",
                )


def read_table(cls: type[T], raw: dict[str, Any], base: Path, key: str = "") -> T:
    """Validate the TOML table ``raw`` into the dataclass ``cls``, each value by its field's
    annotation; ``key`` names the table in errors ("" for the file itself).

    Fields may be str, int, float, bool, Path (relative to ``base``), tuple[str, ...], a
    dataclass (a table), tuple[SomeDataclass, ...] (an array of tables, ``[[name]]``) or any
    of these ``| None``. A field left out takes its default; a dataclass, its own defaults.
    Values are checked in the file's order, then tables in the dataclass's.
    """
    unknown = sorted(set(raw) - {f.name for f in fields(cls)})
    if unknown:
        if not key:
            raise ConfigError(unknown[0], "unknown table")
        raise ConfigError(f"{key}.{unknown[0]}", "unknown key")
    hints = get_type_hints(cls)
    holds_tables = {name for name, hint in hints.items() if _holds_tables(hint)}
    values = _coerce(cls, key, {k: v for k, v in raw.items() if k not in holds_tables}, base)
    for f in fields(cls):
        name = _join(key, f.name)
        if f.name in holds_tables and f.name in raw:
            values[f.name] = _value(hints[f.name], name, raw[f.name], base)
        elif f.name in values:
            continue
        elif is_dataclass(hints[f.name]):
            values[f.name] = read_table(hints[f.name], {}, base, name)
        elif isinstance(f.default, Path):
            values[f.name] = _absolute(name, base / f.default)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(name, "must be set")
    return cls(**values)


def _override(config: Config, table: str, values: dict[str, Any]) -> Config:
    if not values:
        return config
    current = getattr(config, table)
    updated = replace(current, **_coerce(type(current), table, values, Path.cwd()))
    return validate(replace(config, **{table: updated}))


def _absolute(key: str, path: Path) -> Path:
    """``path`` made absolute: resolved, except for the keys in UNRESOLVED_PATHS."""
    return Path(os.path.abspath(path)) if key in UNRESOLVED_PATHS else path.resolve()


def _coerce(cls: type, key: str, raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """The values ``raw`` gives fields of ``cls``, each checked against its annotation."""
    hints = get_type_hints(cls)
    return {name: _value(hints[name], _join(key, name), value, base) for name, value in raw.items()}


def _value(hint: Any, key: str, value: Any, base: Path) -> Any:
    """``value`` checked against the annotation ``hint`` (and converted: a path made absolute,
    a list made a tuple, a table made its dataclass)."""
    optional = _optional(hint)
    if optional is not None:
        return _value(optional, key, value, base)  # TOML has no null: a value given is a T
    if is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(key, "must be a table")
        return read_table(hint, value, base, key)
    if get_origin(hint) is tuple and is_dataclass(_item(hint)):
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise ConfigError(key, "must be an array of tables")
        return tuple(
            read_table(_item(hint), item, base, f"{key}[{index}]")
            for index, item in enumerate(value)
        )
    if get_origin(hint) is tuple and _item(hint) is str:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(key, f"must be a list of strings, not {value!r}")
        return tuple(value)
    if hint is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise ConfigError(key, "must be a path")
        return _absolute(key, base / Path(value).expanduser())
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be a whole number, not {value!r}")
        return value
    if hint is float:
        finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        if isinstance(value, bool) or not finite:
            raise ConfigError(key, f"must be a number, not {value!r}")
        return float(value)
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise ConfigError(key, f"must be a {hint.__name__}, not {value!r}")
        return value
    raise TypeError(f"{key}: a configuration field cannot be a {hint!r}")


def _optional(hint: Any) -> Any:
    """``T`` for the annotation ``T | None``, else None."""
    if get_origin(hint) not in (Union, types.UnionType):
        return None
    kinds = [arg for arg in get_args(hint) if arg is not type(None)]
    if len(kinds) != 1:
        raise TypeError(f"a configuration field cannot be a {hint!r}")
    return kinds[0]


def _item(hint: Any) -> Any:
    """``T`` for the annotation ``tuple[T, ...]``."""
    item, ellipsis = get_args(hint)
    if ellipsis is not Ellipsis:
        raise TypeError(f"a configuration field cannot be a {hint!r}")
    return item


def _holds_tables(hint: Any) -> bool:
    """True for a table or an array of tables (``| None`` or not)."""
    hint = _optional(hint) or hint
    return is_dataclass(hint) or (get_origin(hint) is tuple and is_dataclass(_item(hint)))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


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
    if not TAG_DATE.match(config.site.tag_date) or not _real_date(config.site.tag_date):
        shape = "must be a date as YYYY, YYYY-MM or YYYY-MM-DD"
        raise ConfigError("site.tag_date", f"{shape}, not {config.site.tag_date!r}")
    try:
        ZoneInfo(config.articles.default_timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            "articles.default_timezone",
            f"unknown time zone {config.articles.default_timezone!r}",
        ) from exc
    try:
        names = {name for _, name, _, _ in Formatter().parse(config.feeds.article_url) if name}
    except ValueError as exc:
        raise ConfigError("feeds.article_url", "is not a valid template") from exc
    if names - ARTICLE_URL_FIELDS or "slug" not in names:
        raise ConfigError(
            "feeds.article_url",
            "must contain {slug} and only these fields: " + ", ".join(sorted(ARTICLE_URL_FIELDS)),
        )
    example = config.feeds.article_url.format(
        site_url=config.site.url, slug="slug", year="2025", month="01", day="01"
    )
    if not _is_http_url(example):
        raise ConfigError(
            "feeds.article_url",
            f"must make absolute http(s) URLs (as {{site_url}} does), not {example!r}",
        )
    for key in ("websub_hubs", "xmlrpc"):
        for endpoint in getattr(config.ping, key):
            if not _is_http_url(endpoint):
                raise ConfigError(
                    f"ping.{key}", f"must hold absolute http(s) URLs, not {endpoint!r}"
                )
    for rule in config.lint.refuse:
        if rule not in LINT_RULES:
            raise ConfigError(
                "lint.refuse", f"unknown rule {rule!r}; the rules: " + ", ".join(LINT_RULES)
            )
    _check_ranges(config)
    _check_rescan(config)
    _check_outputs(config)
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


def _check_ranges(config: Config) -> None:
    for key, (low, high) in RANGES.items():
        table, name = key.split(".")
        value = getattr(getattr(config, table), name)
        if not low <= value <= high:
            raise ConfigError(key, f"must be between {low:g} and {high:g}, not {value!r}")


def _check_rescan(config: Config) -> None:
    """The rescan must be a schedule APScheduler can build and run: found here, it is a
    ConfigError, not an overflow in the scheduler. A duration in range always can; only a cron
    expression needs APScheduler (and its import time) to tell."""
    rescan = parse_rescan(config.schedule.rescan)
    if isinstance(rescan, Cron):
        from feedsvc.daemon.schedule import cron_trigger

        cron_trigger(rescan, config.articles.default_timezone)


def _check_outputs(config: Config) -> None:
    """Every bucket a well-formed s3:// URL, every endpoint a plain http(s) URL; somewhere
    to publish."""
    outputs = config.outputs
    if not outputs.local and not outputs.s3:
        raise ConfigError("outputs.local", "is false and no [[outputs.s3]] is given: no output")
    for index, target in enumerate(outputs.s3):
        key = f"outputs.s3[{index}]"
        parse_s3_url(target.url, f"{key}.url")
        if target.endpoint_url:
            if not _is_http_url(target.endpoint_url):
                raise ConfigError(
                    f"{key}.endpoint_url",
                    f"must be an absolute http(s) URL, not {target.endpoint_url!r}",
                )
            if "@" in urlsplit(target.endpoint_url).netloc:
                raise ConfigError(f"{key}.endpoint_url", "must not hold credentials")
        if not AWS_REGION.match(target.region):
            raise ConfigError(f"{key}.region", f"is not a region name: {target.region!r}")
        low, high = RANGES["serve.max_age_s"]
        if target.max_age_s is not None and not low <= target.max_age_s <= high:
            raise ConfigError(
                f"{key}.max_age_s", f"must be between {low:g} and {high:g}, not {target.max_age_s}"
            )


def parse_s3_url(url: str, key: str = "outputs.s3.url") -> tuple[str, str]:
    """``s3://bucket/prefix`` as (bucket, prefix without its slashes); ConfigError naming
    ``key`` when it is not one."""
    scheme, _, rest = url.partition("://")
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    parts = prefix.split("/") if prefix else []
    if scheme != "s3" or not S3_BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(key, f"must be s3://bucket/prefix with a valid bucket name, not {url!r}")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        raise ConfigError(key, f"has an empty or dot segment in its prefix: {url!r}")
    return bucket, prefix


def _real_date(text: str) -> bool:
    """True when ``text`` (shaped as TAG_DATE) names a day, month or year that exists."""
    try:
        date.fromisoformat((text + "-01-01")[:10])
    except ValueError:
        return False
    return True


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
        # The message is the cause's own: chained, ConfigError would say it twice.
        raise ConfigError(key, str(exc)) from None
