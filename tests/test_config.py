from __future__ import annotations

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from feedsvc.config import Config, config_from_dict, load_config, read_table
from feedsvc.errors import ConfigError

SITE = '[site]\ntitle = "Example News"\nurl = "https://news.example.org/"\n'


def test_defaults_apply_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.articles.dir == tmp_path / "articles"
    assert config.feeds.output == tmp_path / "public"
    assert (config.feeds.max_items, config.articles.summary_length) == (50, 300)


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "feedsvc.toml"
    path.parent.mkdir()
    path.write_text(SITE + '[articles]\ndir = "../posts"\n[feeds]\noutput = "/srv/feeds"\n')
    config = load_config(path)
    assert config.articles.dir.resolve() == tmp_path / "posts"
    assert config.feeds.output == Path("/srv/feeds")


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "feedsvc.toml"
    path.write_text('[site]\ntitle = "From file"\nurl = "https://a.example/"\n')
    config = load_config(path, {"site": {"title": "From flag", "url": None}})
    assert (config.site.title, config.site.url) == ("From flag", "https://a.example/")


def test_site_url_gains_a_trailing_slash(tmp_path: Path) -> None:
    config = config_from_dict({"site": {"url": "https://a.example/news"}}, tmp_path)
    assert config.site.url == "https://a.example/news/"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"sites": {}}, "sites"),
        ({"site": {"titel": "x"}}, "site.titel"),
        ({"site": "x"}, "site"),
        ({"site": {"title": 3}}, "site.title"),
        ({"site": {"url": "news.example.org"}}, "site.url"),
        ({"site": {"url": "ftp://news.example.org/"}}, "site.url"),
        ({"site": {"language": "English (UK)"}}, "site.language"),
        ({"articles": {"default_timezone": "Mars/Olympus"}}, "articles.default_timezone"),
        ({"articles": {"summary_length": "300"}}, "articles.summary_length"),
        ({"articles": {"summary_length": True}}, "articles.summary_length"),
        ({"feeds": {"max_items": 0}}, "feeds.max_items"),
        ({"feeds": {"article_url": "{site_url}{title}/"}}, "feeds.article_url"),
        ({"feeds": {"article_url": "{site_url}/"}}, "feeds.article_url"),
        ({"feeds": {"article_url": "/posts/{slug}/"}}, "feeds.article_url"),
        ({"ping": {"websub_hubs": ["not a url"]}}, "ping.websub_hubs"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, tmp_path)
    assert caught.value.key == key
    assert str(caught.value).startswith(key)


def test_a_broken_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feedsvc.toml"
    path.write_text("[site\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such"):
        load_config(tmp_path / "missing.toml")


def test_the_bundled_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "feedsvc.toml")
    assert isinstance(config, Config) and config.site.url.startswith("https://")


def test_site_and_hub_iris_become_ascii_uris(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "site": {"url": "https://bücher.example/news"},
            "ping": {"websub_hubs": ["https://hüb.example/"]},
        },
        tmp_path,
    )
    assert config.site.url == "https://xn--bcher-kva.example/news/"
    assert config.ping.websub_hubs == ("https://xn--hb-xka.example/",)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"site": {"url": "http://[oops/"}}, "site.url"),
        ({"site": {"url": "https://news.example.org:99999/"}}, "site.url"),
        ({"ping": {"websub_hubs": ["http://ä..com/hub"]}}, "ping.websub_hubs"),
    ],
)
def test_malformed_urls_in_the_config_are_named(tmp_path: Path, data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, tmp_path)
    assert caught.value.key == key


def test_the_articles_dir_is_absolute_but_not_resolved_through_symlinks(tmp_path: Path) -> None:
    """The daemon follows a symlinked root switched to a new release: it must see the link."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    config = config_from_dict({"articles": {"dir": "link/../link"}}, tmp_path)
    assert config.articles.dir == tmp_path / "link"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "site.url"),
        ("# nothing but a comment\n", "site.url"),
        ('[site]\ntitle = "Example News"\n', "site.url"),
        ('[site]\nurl = "https://news.example.org/"\n', "site.title"),
        ("[feeds]\nmax_items = 10\n", "site.url"),
    ],
)
def test_a_config_file_must_set_the_site_url_and_title(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "feedsvc.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key


def test_flags_count_as_setting_the_site_url_and_title(tmp_path: Path) -> None:
    path = tmp_path / "feedsvc.toml"
    path.write_text("")
    flags = {"site": {"url": "https://flag.example/", "title": "Flagged"}}
    config = load_config(path, flags)
    assert (config.site.url, config.site.title) == ("https://flag.example/", "Flagged")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"schedule": {"rescan": "99999999h"}}, "schedule.rescan"),
        ({"schedule": {"rescan": "8785h"}}, "schedule.rescan"),
        ({"schedule": {"rescan": "9" * 40 + "h"}}, "schedule.rescan"),
        ({"schedule": {"rescan": "0 0 31 2 *"}}, "schedule.rescan"),
        ({"ping": {"timeout_s": float("inf")}}, "ping.timeout_s"),
        ({"ping": {"timeout_s": float("nan")}}, "ping.timeout_s"),
        ({"ping": {"backoff_s": 1e300}}, "ping.backoff_s"),
        ({"ping": {"max_attempts": 10**30}}, "ping.max_attempts"),
        ({"watch": {"debounce_ms": 10**30}}, "watch.debounce_ms"),
        ({"feeds": {"max_items": 10**30}}, "feeds.max_items"),
        ({"serve": {"max_age_s": 10**30}}, "serve.max_age_s"),
        ({"articles": {"summary_length": 10**30}}, "articles.summary_length"),
    ],
)
def test_values_out_of_range_are_named(tmp_path: Path, data: dict, key: str) -> None:
    """Caught while validating, not as an overflow inside the scheduler or a socket later."""
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, tmp_path)
    assert caught.value.key == key


def test_the_longest_rescan_is_366_days(tmp_path: Path) -> None:
    config = config_from_dict({"schedule": {"rescan": "8784h"}}, tmp_path)
    assert config.schedule.rescan == "8784h"


@dataclass(frozen=True)
class Output:
    """An array-of-tables element, as `[[outputs]]` will need: one required field."""

    kind: str
    path: Path | None = None
    max_items: int | None = None


@dataclass(frozen=True)
class Publishing:
    name: str | None = None
    outputs: tuple[Output, ...] = ()
    tags: tuple[str, ...] = ()


def read_publishing(tmp_path: Path, text: str) -> Publishing:
    path = tmp_path / "publishing.toml"
    path.write_text(text)
    return read_table(Publishing, tomllib.loads(path.read_text()), tmp_path)


def test_optional_fields_default_to_none_and_are_checked_when_set(tmp_path: Path) -> None:
    assert read_publishing(tmp_path, "") == Publishing()
    assert read_publishing(tmp_path, 'name = "Desk"\n').name == "Desk"
    with pytest.raises(ConfigError) as caught:
        read_publishing(tmp_path, "name = 3\n")
    assert str(caught.value) == "name: must be a str, not 3"


def test_an_array_of_tables_becomes_a_tuple_of_dataclasses(tmp_path: Path) -> None:
    text = '[[outputs]]\nkind = "localdir"\npath = "public"\n\n[[outputs]]\nkind = "s3"\n'
    publishing = read_publishing(tmp_path, text)
    assert publishing.outputs == (
        Output("localdir", path=tmp_path / "public"),
        Output("s3"),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('outputs = "public"\n', "outputs: must be an array of tables"),
        ('outputs = ["public"]\n', "outputs: must be an array of tables"),
        ('[[outputs]]\nkind = "s3"\n[[outputs]]\npath = "x"\n', "outputs[1].kind: must be set"),
        ('[[outputs]]\nkind = "s3"\ncolour = "red"\n', "outputs[0].colour: unknown key"),
        (
            '[[outputs]]\nkind = "s3"\nmax_items = "ten"\n',
            "outputs[0].max_items: must be a whole number, not 'ten'",
        ),
        ("tags = [1]\n", "tags: must be a list of strings, not [1]"),
    ],
)
def test_bad_values_in_an_array_of_tables_are_named(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_publishing(tmp_path, text)
    assert str(caught.value) == message


def test_reading_the_config_does_not_load_the_scheduler(tmp_path: Path) -> None:
    """`feedsvc build` never schedules: APScheduler's import time is the daemon's alone."""
    (tmp_path / "feedsvc.toml").write_text(SITE + '[schedule]\nrescan = "15m"\n')
    code = (
        "import sys; from feedsvc.config import load_config; load_config();"
        " print(sorted(m for m in sys.modules if m.startswith('apscheduler')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
