"""Settings: defaults, file, environment; errors that name the key; every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import describe, load_settings
from publisher.errors import ConfigError
from tests.conftest import REPO


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


def test_every_setting_is_in_the_readme_with_its_environment_variable() -> None:
    readme = (REPO / "README.md").read_text()
    for info in describe():
        assert f"`{info.key}`" in readme, info.key
        for env in info.env:
            assert f"`{env}`" in readme, env


def test_the_repository_config_loads() -> None:
    assert load_settings(REPO, {}).site.timezone == "Europe/Berlin"
