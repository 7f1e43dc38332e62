"""Settings: defaults, file, environment; errors that name the key; every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import describe, describe_digest, load_settings
from publisher.errors import ConfigError
from tests.conftest import REPO, SITE


def _root(tmp_path: Path, toml: str = "") -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "publisher.toml").write_text(toml)
    return tmp_path


def test_defaults_need_no_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {})
    assert settings.feeds.entries == 50
    assert settings.database_url == f"sqlite:///{(tmp_path / 'var' / 'publisher.db').resolve()}"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    root = _root(tmp_path, "[feeds]\nentries = 10\n[site]\nbase_url = 'https://x.example'\n")
    settings = load_settings(
        root, {"PUBLISHER_FEEDS__ENTRIES": "7", "DATABASE_URL": "postgresql://h/db"}
    )
    assert settings.feeds.entries == 7
    assert settings.site.base_url == "https://x.example/"
    assert settings.database_url == "postgresql://h/db"


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        (
            "[feeds]\nentries = 'many'\n",
            {},
            "feeds.entries: expected int, got 'many' (config/publisher.toml)",
        ),
        ("", {"PUBLISHER_FEEDS__ENTRIES": "many"}, "environment PUBLISHER_FEEDS__ENTRIES"),
        ("[feeds]\nentrys = 3\n", {}, "feeds.entrys: unknown setting"),
        ("[feed]\n", {}, "[feed]: unknown section"),
        ("[site]\ntimezone = 'Mars/Olympus'\n", {}, "site.timezone: unknown time zone"),
        ("[site]\nbase_url = 'example.org'\n", {}, "site.base_url: expected an absolute"),
        ("[feeds]\nentries = 0\n", {}, "feeds.entries: expected a positive number"),
        ("[feeds\n", {}, "not valid TOML"),
    ],
)
def test_bad_settings_name_the_key_value_and_source(
    tmp_path: Path, toml: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(
        ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")
    ):
        load_settings(_root(tmp_path, toml), environ)


def test_digests_are_read_from_tables_with_defaults(tmp_path: Path) -> None:
    toml = "[[digests]]\nname = 'daily'\n[[digests]]\nname = 'weekly'\nschedule = '0 8 * * mon'\n"
    daily, weekly = load_settings(_root(tmp_path, toml), {}).digests
    assert (daily.name, daily.schedule, daily.max_articles, daily.skip_empty) == (
        "daily",
        "0 7 * * *",
        20,
        True,
    )
    assert weekly.schedule == "0 8 * * mon"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[digests]]\nschedule = '0 7 * * *'\n", r"digests\.#1\.name: '' is missing"),
        ("[[digests]]\nname = 'Daily Mail'\n", r"digests\.Daily Mail\.name"),
        (
            "[[digests]]\nname = 'a'\n[[digests]]\nname = 'a'\n",
            r"digests\.a\.name: 'a' is missing, malformed or repeated",
        ),
        (
            "[[digests]]\nname = 'a'\nschedule = 'daily'\n",
            r"digests\.a\.schedule: 'daily' is not a cron",
        ),
        ("[[digests]]\nname = 'a'\nmax = 3\n", r"digests\.a\.max: unknown setting"),
        (
            "[[digests]]\nname = 'a'\nmax_articles = 'ten'\n",
            r"digests\.a\.max_articles: expected int",
        ),
        ("digests = 3\n", r"expected \[\[digests\]\] tables"),
    ],
)
def test_bad_digests_name_the_digest_and_key(tmp_path: Path, toml: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(_root(tmp_path, toml), {})


def test_every_setting_is_in_the_readme_with_its_environment_variable() -> None:
    readme = (REPO / "README.md").read_text()
    for info in [*describe(), *describe_digest()]:
        assert f"`{info.key}`" in readme, info.key
        for env in info.env:
            assert f"`{env}`" in readme, env


def test_the_bundled_config_loads() -> None:
    settings = load_settings(SITE, {})
    assert settings.site.timezone == "Europe/Berlin"
    assert [digest.name for digest in settings.digests] == ["daily", "weekly"]
