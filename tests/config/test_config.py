"""Settings: defaults, file, environment; errors that name the key; every setting documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from publisher.config import forms
from publisher.config.forms import FORMS
from publisher.config.loading import (
    CONFIG_FILE,
    SettingInfo,
    describe,
    describe_digest,
    load_settings,
)
from publisher.errors import ConfigError
from tests.conftest import REPO, SITE


def _root(tmp_path: Path, toml: str | bytes = "") -> Path:
    """A project with a config file and an (empty) content folder."""
    (tmp_path / "config").mkdir()
    (tmp_path / "content").mkdir()
    config = tmp_path / "config" / "publisher.toml"
    config.write_bytes(toml.encode() if isinstance(toml, str) else toml)
    return tmp_path


def _error(root: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, environ or {})
    return caught.value


def test_defaults_need_no_file(tmp_path: Path) -> None:
    (tmp_path / "content").mkdir()
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
    assert settings.database_url == "postgresql+psycopg://h/db"


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        ("[feeds]\nentries = 'many'\n", {}, "feeds.entries: expected int, got 'many' ({file})"),
        ("", {"PUBLISHER_FEEDS__ENTRIES": "many"}, "environment PUBLISHER_FEEDS__ENTRIES"),
        ("[feeds]\nentrys = 3\n", {}, "feeds.entrys: unknown setting"),
        ("[feed]\n", {}, "[feed]: unknown section"),
        ("[site]\ntimezone = 'Mars/Olympus'\n", {}, "site.timezone: unknown time zone"),
        ("[site]\nbase_url = 'example.org'\n", {}, "site.base_url: expected an absolute"),
        ("[feeds]\nentries = 0\n", {}, "feeds.entries: expected 1 to 10,000, got 0 ({file})"),
        ("[feeds\n", {}, "not valid TOML"),
    ],
)
def test_bad_settings_name_the_key_value_and_source(
    tmp_path: Path, toml: str, environ: dict[str, str], message: str
) -> None:
    root = _root(tmp_path, toml)
    assert message.format(file=root / CONFIG_FILE) in str(_error(root, environ))


NUMBERS = [info for info in describe() if info.type in (int, float)]


def test_every_number_declares_its_range_and_every_form_is_known() -> None:
    for info in [*describe(), *describe_digest()]:
        if info.type in (int, float):
            assert info.low is not None and info.high is not None, info.key
            assert info.low <= info.default <= info.high, info.key
        assert not info.form or info.form in FORMS, info.key


@pytest.mark.parametrize("info", NUMBERS, ids=lambda info: info.key)
def test_every_number_is_checked_against_its_range(tmp_path: Path, info: SettingInfo) -> None:
    assert info.low is not None and info.high is not None
    root = _root(tmp_path)
    env = info.env[-1]
    for edge in (info.low, info.high):
        settings = load_settings(root, {env: str(edge)})
        section, key = info.key.split(".")
        assert getattr(getattr(settings, section), key) == edge
    step = 1 if info.type is int else 0.05
    for wrong in (info.low - step, info.high + step, -(10**20), 10**20):
        value = info.type(wrong)
        error = _error(root, {env: str(value)})
        assert str(error) == (
            f"{info.key}: expected {info.allowed}, got {value!r} (environment {env})"
        )
        assert error.hint == f"the default is {info.default!r}"


def test_numbers_beyond_any_sql_bind_are_refused_from_the_file(tmp_path: Path) -> None:
    root = _root(tmp_path, "[feeds]\nentries = 99999999999999999999\n")
    assert str(_error(root)) == (
        f"feeds.entries: expected 1 to 10,000, got 99999999999999999999 ({root / CONFIG_FILE})"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WORKER__RESCAN_SECONDS", "-1"),  # spun a core at 100 % and ignored SIGTERM
        ("WORKER__RESCAN_SECONDS", "0"),
        ("WORKER__DRAIN_SECONDS", "0"),  # spun too
        ("WORKER__DRAIN_SECONDS", "nan"),  # compares false with everything
        ("WORKER__DRAIN_SECONDS", "inf"),
        ("CONTENT__SETTLE_SECONDS", "-0.5"),
        ("WORKER__MISFIRE_GRACE_SECONDS", "0"),  # APScheduler refuses it at start
        ("SMTP__CONNECTIONS", "0"),
        ("WORKER__UNHEALTHY_AFTER", "0"),
    ],
)
def test_intervals_and_counts_that_would_spin_or_stall_are_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    error = _error(_root(tmp_path), {f"PUBLISHER_{key}": value})
    assert f"got {float(value) if '.' in value or value.isalpha() else value}" in str(error)
    assert f"(environment PUBLISHER_{key})" in str(error)


def test_the_log_level_is_one_of_the_levels_in_any_case(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert load_settings(root, {"PUBLISHER_LOG__LEVEL": "debug"}).log.level == "DEBUG"
    assert load_settings(root, {}).log.level == ""
    error = _error(root, {"PUBLISHER_LOG__LEVEL": "verbose"})
    assert str(error) == (
        "log.level: expected one of empty, DEBUG, INFO, WARNING, ERROR, got 'verbose' "
        "(environment PUBLISHER_LOG__LEVEL)"
    )
    assert load_settings(root, {"PUBLISHER_SMTP__SECURITY": "TLS"}).smtp.security == "tls"


@pytest.mark.parametrize(
    ("url", "message", "hint"),
    [
        ("mysql://app:secret@db/app", "mysql:// is not a supported database", "postgresql+psycopg"),
        (
            "postgresql+psycopg2://db/app",
            "not a supported driver of postgresql",
            "write postgresql+psycopg://",
        ),
        ("sqlite+aiosqlite:///x.db", "not a supported driver of sqlite", "write sqlite://"),
        ("db/app", "expected a database URL", "sqlite:///"),
    ],
)
def test_a_database_url_needs_a_known_database_and_driver(
    tmp_path: Path, url: str, message: str, hint: str
) -> None:
    error = _error(_root(tmp_path), {"DATABASE_URL": url})
    assert str(error).startswith("database.url: ") and f"{message}, got " in str(error)
    assert str(error).endswith("(environment DATABASE_URL)")
    assert "secret" not in str(error) and hint in error.hint


@pytest.mark.parametrize(
    ("url", "used"),
    [
        ("postgres://u:pw@h/db", "postgresql+psycopg://u:pw@h/db"),
        ("PostgreSQL://h/db", "postgresql+psycopg://h/db"),
        ("postgresql+psycopg://h/db", "postgresql+psycopg://h/db"),
        ("sqlite:///var/x.db", "sqlite:///var/x.db"),
        ("sqlite+pysqlite:///var/x.db", "sqlite:///var/x.db"),
    ],
)
def test_postgres_urls_mean_psycopg(tmp_path: Path, url: str, used: str) -> None:
    assert load_settings(_root(tmp_path), {"DATABASE_URL": url}).database_url == used


def test_a_missing_database_driver_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg is installed here; a driver module that is not stands in for it.
    missing = (
        "postgresql+psycopg",
        "publisher_no_such_driver",
        "pip install 'publisher[postgres]'",
    )
    monkeypatch.setitem(forms.DATABASES, "postgresql", missing)
    error = _error(_root(tmp_path), {"DATABASE_URL": "postgresql://h/db"})
    assert (
        "database.url: the driver of postgresql:// (publisher_no_such_driver) is not installed"
        in str(error)
    )
    assert error.hint == "pip install 'publisher[postgres]'"


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    root = _root(tmp_path, "[site]\ntitle = 'Caf\xe9'\n".encode("latin-1"))
    error = _error(root)
    assert str(error) == f"{root / CONFIG_FILE}: not UTF-8 text (line 2 has byte 0xe9)"
    assert "UTF-8" in error.hint


def test_content_dir_must_be_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    error = _error(tmp_path)
    assert str(error) == (
        f"content.dir: expected a folder, but {tmp_path / 'content'} does not exist, "
        "got 'content' (default)"
    )
    assert error.hint == "create it or set content.dir"
    error = _error(tmp_path, {"PUBLISHER_CONTENT__DIR": "notes.txt"})
    assert "is not a folder, got 'notes.txt' (environment PUBLISHER_CONTENT__DIR)" in str(error)


def test_profiles_dir_may_be_missing_only_at_its_default(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert not (root / "config" / "sources").exists()
    assert load_settings(root, {}).content.profiles_dir == "config/sources"
    error = _error(root, {"PUBLISHER_CONTENT__PROFILES_DIR": "config/profiles"})
    assert str(error).startswith("content.profiles_dir: expected a folder, but ")
    (root / "config" / "sources").write_text("a file")
    assert "is not a folder" in str(_error(root))


def test_output_folders_are_made_later_but_must_be_folders(tmp_path: Path) -> None:
    root = _root(tmp_path)
    load_settings(root, {"PUBLISHER_OUTPUT__PUBLIC_DIR": "site/out"})  # made on first publish
    (root / "public").write_text("a file")
    assert str(_error(root)).startswith("output.public_dir: expected a folder, but ")


@pytest.mark.parametrize(
    "hub",
    [
        "hub.example.org",  # raised after the commit and silently ended the watcher
        "//hub.example.org/",
        "ftp://hub.example.org/",
        "javascript:alert(1)",
        "https://",
        "https://hub.example.org/a b",
        "https://hub.example.org:99999/",
        "https://[::1/",
    ],
)
def test_urls_in_config_are_absolute_http_urls(tmp_path: Path, hub: str) -> None:
    root = _root(tmp_path)
    error = _error(root, {"PUBLISHER_FEEDS__HUB": hub})
    assert str(error) == (
        f"feeds.hub: expected an absolute http(s) URL, got {hub!r} "
        "(environment PUBLISHER_FEEDS__HUB)"
    )
    base = _error(root, {"PUBLISHER_SITE__BASE_URL": hub})
    assert str(base).startswith("site.base_url: expected an absolute http(s) URL")


def test_valid_urls_in_config_are_kept(tmp_path: Path) -> None:
    root = _root(tmp_path, "[feeds]\nhub = 'https://hub.example.org/publish'\n")
    assert load_settings(root, {}).feeds.hub == "https://hub.example.org/publish"
    assert load_settings(root, {"PUBLISHER_FEEDS__HUB": ""}).feeds.hub == ""
    settings = load_settings(root, {"PUBLISHER_SITE__BASE_URL": "http://[::1]:8000/blog"})
    assert settings.site.base_url == "http://[::1]:8000/blog/"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "/etc/localtime", "", "Europe/Berlin "])
def test_time_zone_errors_name_the_file_or_the_variable(tmp_path: Path, zone: str) -> None:
    root = _root(tmp_path, f"[site]\ntimezone = {zone!r}\n")
    error = _error(root)
    assert str(error) == f"site.timezone: unknown time zone, got {zone!r} ({root / CONFIG_FILE})"
    assert "Europe/Berlin" in error.hint
    error = _error(root, {"PUBLISHER_SITE__TIMEZONE": zone})
    assert str(error).endswith(f"got {zone!r} (environment PUBLISHER_SITE__TIMEZONE)")


@pytest.mark.parametrize(
    "color", ["blue", "1a4d7a", "#1a4d7", "#12345g", "#1a4d7a;}", "red; background:url(x)", ""]
)
def test_the_theme_colour_must_be_a_hex_colour(tmp_path: Path, color: str) -> None:
    root = _root(tmp_path, f"[site]\ntheme_color = {color!r}\n")
    error = _error(root)
    assert str(error) == (
        f"site.theme_color: expected a CSS hex colour, got {color!r} ({root / CONFIG_FILE})"
    )
    assert "#rrggbb" in error.hint
    error = _error(root, {"PUBLISHER_SITE__THEME_COLOR": color})
    assert str(error).endswith(f"got {color!r} (environment PUBLISHER_SITE__THEME_COLOR)")


def test_a_hex_theme_colour_is_kept(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert load_settings(root, {}).site.theme_color == "#1a4d7a"
    for color in ("#abc", "#A0B1C2"):
        assert load_settings(root, {"PUBLISHER_SITE__THEME_COLOR": color}).site.theme_color == color


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("0 25 * * *", "hour 25 is outside 0-23"),  # accepted, then made /api/status a 422
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("0 7 0 * *", "day of month 0 is outside 1-31"),
        ("0 7 * 13 *", "month 13 is outside 1-12"),
        ("0 7 * * 8", "day of week 8 is outside 0-7"),
        ("*/0 * * * *", "minute '*/0': the step must be 1 to 59"),
        ("0 7 * * fri-mon", "day of week 'fri-mon' runs backwards"),
        ("0 0 30 2 *", "it never fires: day 30 does not occur in month 2"),
    ],
)
def test_cron_values_are_checked_at_load_naming_the_digest_and_file(
    tmp_path: Path, schedule: str, reason: str
) -> None:
    root = _root(tmp_path, f"[[digests]]\nname = 'daily'\nschedule = '{schedule}'\n")
    error = _error(root)
    assert str(error) == (
        f"digests.daily.schedule: {reason}, got {schedule!r} ({root / CONFIG_FILE})"
    )
    assert "minute hour day-of-month month day-of-week" in error.hint


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
            r"digests\.a\.schedule: expected 5 fields, not 1, got 'daily'",
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


def test_every_setting_is_in_the_readme_with_its_environment_variable_and_range() -> None:
    readme = (REPO / "README.md").read_text()
    rows = {
        line.split(" | ")[0][3:-1]: line for line in readme.splitlines() if line.startswith("| `")
    }
    for info in [*describe(), *describe_digest()]:
        assert info.key in rows, info.key
        for env in info.env:
            assert f"`{env}`" in rows[info.key], env
        assert f"| {info.allowed} |" in rows[info.key], (info.key, info.allowed)


def test_the_bundled_config_loads() -> None:
    settings = load_settings(SITE, {})
    assert settings.site.timezone == "Europe/Berlin"
    assert [digest.name for digest in settings.digests] == ["daily", "weekly"]


def test_loading_settings_imports_neither_apscheduler_nor_sqlalchemy() -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from publisher.config.loading import load_settings; "
        f"load_settings(Path({str(SITE)!r}), {{}}); "
        "print(sorted(m for m in ('apscheduler', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_readme_holds_the_configuration_reference_as_declared() -> None:
    """`publisher config --markdown` makes the table; the README must hold it as it is."""
    from publisher.cli.main import settings_table

    assert "\n".join(settings_table()) in (REPO / "README.md").read_text()
