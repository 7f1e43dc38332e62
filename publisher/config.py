"""Typed, frozen settings: embedded defaults → ``config/publisher.toml`` → environment.

Each setting is declared once, with its default and its help, as a dataclass field; the loader,
``publisher config`` and the README's configuration reference are all derived from these
declarations. The environment is passed in as a mapping so tests never touch ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.errors import ConfigError

CONFIG_FILE = Path("config") / "publisher.toml"
ENV_PREFIX = "PUBLISHER_"
DIGESTS = "digests"
DIGEST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# The shape of a cron line, checked here without importing APScheduler (~90 ms) into every
# command; publisher.digest.cron_trigger checks the values when a schedule is used.
CRON = re.compile(r"^\s*[\w*/,-]+(\s+[\w*/,-]+){4}\s*$")


def setting(default: Any, help: str, env: str | None = None) -> Any:
    """Declare a setting: its default, one line of help, and an extra environment name if any."""
    return field(default=default, metadata={"help": help, "env": env})


@dataclass(frozen=True)
class SiteSettings:
    """The site as readers see it."""

    title: str = setting("Publisher demo", "Site title, used in pages and as the feeds' title.")
    description: str = setting(
        "Articles with their original attribution.", "One line describing the site (RSS needs it)."
    )
    base_url: str = setting(
        "http://localhost:8000/", "Absolute URL the site is served from; feeds link to it."
    )
    language: str = setting("en", "Language code of the site (feeds and <html lang>).")
    timezone: str = setting(
        "UTC", "IANA time zone of the site: dates without a time are midnight there."
    )
    author: str = setting("Publisher", "Author of the feeds themselves (each entry keeps its own).")


@dataclass(frozen=True)
class ContentSettings:
    """Where articles come from."""

    dir: str = setting("content", "Folder of articles, relative to the project root.")
    profiles_dir: str = setting(
        "config/sources", "Folder of source profiles (*.toml) that classify .txt captures."
    )
    settle_seconds: float = setting(
        0.5,
        "A file that changed within this many seconds is looked at again until its size and "
        "modification time hold still between two looks.",
    )
    settle_wait_seconds: float = setting(
        30.0,
        "How long a one-shot publish (publish, digest, POST /api/publish) waits for files still "
        "being written; one that never settles is reported and the command fails.",
    )
    max_file_bytes: int = setting(
        5_000_000, "Largest content file that is read; a larger one is reported, not read."
    )
    max_tags: int = setting(50, "Most tags one article may carry; more is a problem of that file.")


@dataclass(frozen=True)
class FeedSettings:
    """The Atom, RSS and JSON feeds."""

    entries: int = setting(50, "Newest entries per feed, with full content.")
    hub: str = setting(
        "", "WebSub hub URL: feeds name it, and it is told after a publish that changed a feed."
    )


@dataclass(frozen=True)
class OutputSettings:
    """Where outputs and state go."""

    public_dir: str = setting("public", "Folder the site is exported to, for a static server.")
    var_dir: str = setting("var", "Folder for local state (the SQLite database by default).")
    index_entries: int = setting(50, "Newest articles listed on the home page.")


@dataclass(frozen=True)
class DatabaseSettings:
    """The store."""

    url: str = setting(
        "",
        "SQLAlchemy URL of the store; empty means SQLite at <var_dir>/publisher.db.",
        env="DATABASE_URL",
    )


@dataclass(frozen=True)
class MailSettings:
    """Who digests come from, and what every digest's footer says."""

    from_address: str = setting(
        "digests@example.org", "Sender address; its domain is the Message-ID's and List-Id's."
    )
    from_name: str = setting("", "Display name of the sender; empty means site.title.")
    postal_address: str = setting(
        "", "The sender's postal address, shown in every digest's footer (CAN-SPAM)."
    )
    disclaimer: str = setting(
        "You receive this digest because you subscribed to it.",
        "The site's own disclaimer, shown in every digest's footer.",
    )
    max_html_bytes: int = setting(
        100_000, "An HTML part larger than this (Gmail clips at ~102 KB) falls back to excerpts."
    )


SECURITY = ("starttls", "tls", "plain")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class SmtpSettings:
    """The relay digests are sent through; with no host they go to a Maildir under var/."""

    host: str = setting("", "SMTP relay host; empty writes messages to <var_dir>/outbox/.")
    port: int = setting(587, "SMTP relay port (587 STARTTLS, 465 implicit TLS).")
    security: str = setting(
        "starttls", "starttls, tls (implicit) or plain; plain only for a loopback relay."
    )
    validate_certs: bool = setting(True, "Check the relay's TLS certificate.")
    username: str = setting("", "Login name at the relay; empty sends without logging in.")
    password: str = setting(
        "", "Login password: from the environment only, never the file.", env="SMTP_PASSWORD"
    )
    helo_name: str = setting("", "Name given in EHLO; empty means the from_address's domain.")
    connections: int = setting(8, "Connections used at once, each reused for many messages.")
    messages_per_connection: int = setting(
        500, "Messages sent over one connection before it is replaced."
    )
    rate: float = setting(0.0, "Most messages per second; 0 means no limit.")
    timeout: float = setting(30.0, "Seconds allowed for each message, from MAIL FROM to 250.")
    max_attempts: int = setting(8, "Tries of a temporarily failing message before giving up.")
    retry_seconds: float = setting(60.0, "First retry delay; doubled after each failure.")
    lease_seconds: float = setting(
        300.0, "A message claimed longer ago than this by a sender that died is claimed again."
    )
    bounce_after: int = setting(
        3, "Permanent failures (5xx) after which a subscriber is marked bounced."
    )


@dataclass(frozen=True)
class WebSettings:
    """The web process: feeds and pages with conditional GET, subscription pages, admin API."""

    cache_seconds: int = setting(300, "Cache-Control max-age of feeds and pages, in seconds.")
    admin_token: str = setting(
        "",
        "Bearer token of the admin API: from the environment only; unset disables the API.",
        env="PUBLISHER_ADMIN_TOKEN",
    )


@dataclass(frozen=True)
class WorkerSettings:
    """The worker: the scheduler's jobs and the outbox drain."""

    rescan_seconds: float = setting(
        60.0, "A full rescan of content/ this often, besides watching it for changes."
    )
    watch: bool = setting(True, "Watch content/ and publish within a second of a change.")
    misfire_grace_seconds: int = setting(
        3600, "A digest slot missed by longer than this (the worker was down) is not opened."
    )
    drain_seconds: float = setting(2.0, "How often the outbox is checked for due deliveries.")
    unhealthy_after: int = setting(
        3, "Failures in a row after which a task marks the service unhealthy (/healthz 503)."
    )


@dataclass(frozen=True)
class LogSettings:
    """What every process writes to stderr: one line per event."""

    level: str = setting(
        "",
        "DEBUG, INFO, WARNING or ERROR; empty: INFO for the service, WARNING for one-shot "
        "commands (their report is on stdout).",
    )
    access: bool = setting(True, "The web process logs one line per request.")


SECRETS = ("smtp.password", "web.admin_token")


@dataclass(frozen=True)
class DigestSettings:
    """One email digest: a ``[[digests]]`` table (file only: a list does not fit in variables)."""

    name: str = setting(
        "", "Name of the digest in commands and links: lowercase letters, digits, -."
    )
    schedule: str = setting(
        "0 7 * * *", "When issues open: cron (minute hour day month weekday) in site.timezone."
    )
    subject: str = setting(
        "{{ site.title }}: {{ articles | length }} new", "Jinja template of the subject line."
    )
    max_articles: int = setting(20, "Most articles in one issue; the rest wait for the next one.")
    full_text: bool = setting(False, "Whole articles instead of excerpts with a link.")
    skip_empty: bool = setting(True, "Open no issue when nothing is new.")


@dataclass(frozen=True)
class Settings:
    """All settings, one section per concern; the root is where relative paths start."""

    root: Path = Path()
    site: SiteSettings = SiteSettings()
    content: ContentSettings = ContentSettings()
    feeds: FeedSettings = FeedSettings()
    output: OutputSettings = OutputSettings()
    database: DatabaseSettings = DatabaseSettings()
    mail: MailSettings = MailSettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()
    log: LogSettings = LogSettings()
    digests: tuple[DigestSettings, ...] = ()

    def path(self, relative: str) -> Path:
        """A setting's folder resolved against the project root."""
        return self.root / relative

    @property
    def database_url(self) -> str:
        """The configured store URL, or the embedded SQLite default."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.path(self.output.var_dir) / 'publisher.db').resolve()}"

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.site.timezone)


@dataclass(frozen=True)
class SettingInfo:
    """One declared setting, for ``publisher config`` and the docs."""

    key: str
    default: Any
    env: tuple[str, ...]
    help: str
    type: type


def _sections() -> Iterator[tuple[str, type]]:
    """The ``[section]`` tables: every field of :class:`Settings` but the root and the digests."""
    for section in dataclasses.fields(Settings):
        if section.name not in ("root", DIGESTS):
            yield section.name, type(section.default)


def describe() -> list[SettingInfo]:
    """Every setting with its default, environment variables and help."""
    infos = []
    for name, cls in _sections():
        for f in dataclasses.fields(cls):
            env: tuple[str, ...] = (f"{ENV_PREFIX}{name.upper()}__{f.name.upper()}",)
            if f.metadata.get("env"):
                env = (str(f.metadata["env"]), *env)
            infos.append(
                SettingInfo(f"{name}.{f.name}", f.default, env, f.metadata["help"], type(f.default))
            )
    return infos


def describe_digest() -> list[SettingInfo]:
    """The keys of one ``[[digests]]`` table (no environment variables)."""
    return [
        SettingInfo(f"{DIGESTS}[].{f.name}", f.default, (), f.metadata["help"], type(f.default))
        for f in dataclasses.fields(DigestSettings)
    ]


def _read_digests(raw: Any) -> tuple[DigestSettings, ...]:
    """``[[digests]]`` tables, each checked like a section; names must be unique."""
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        raise ConfigError(f"{DIGESTS}: expected [[{DIGESTS}]] tables in {CONFIG_FILE}")
    infos = {info.key.split(".")[-1]: info for info in describe_digest()}
    digests: list[DigestSettings] = []
    for number, table in enumerate(raw, 1):
        where = f"{DIGESTS}.{table.get('name') or f'#{number}'}"
        values = {}
        for key, value in table.items():
            if key not in infos:
                raise ConfigError(
                    f"{where}.{key}: unknown setting", hint=f"known: {', '.join(infos)}"
                )
            values[key] = _coerce(f"{where}.{key}", value, infos[key].type, str(CONFIG_FILE))
        digest = DigestSettings(**values)
        if not DIGEST_NAME.match(digest.name) or digest.name in {d.name for d in digests}:
            hint = 'a unique name of lowercase letters, digits and -, e.g. name = "daily"'
            raise ConfigError(
                f"{where}.name: {digest.name!r} is missing, malformed or repeated", hint
            )
        if not CRON.match(digest.schedule):
            hint = "five fields: minute hour day-of-month month day-of-week, e.g. '0 7 * * *'"
            raise ConfigError(
                f"{where}.schedule: {digest.schedule!r} is not a cron expression", hint
            )
        if digest.max_articles < 1:
            raise ConfigError(f"{where}.max_articles: expected a positive number")
        digests.append(digest)
    return tuple(digests)


def _coerce(key: str, value: Any, kind: type, where: str) -> Any:
    """Check or convert one value to the setting's type; errors name key, value and source."""
    if kind is bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    elif isinstance(value, str) and kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    elif kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
        return value
    raise ConfigError(
        f"{key}: expected {kind.__name__}, got {value!r} ({where})",
        hint="in TOML, write numbers and true/false without quotes",
    )


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_settings(root: Path, environ: Mapping[str, str]) -> Settings:
    """Read ``root/config/publisher.toml`` then the environment over the embedded defaults.

    :raises ConfigError: for an unknown section or key, a wrong type or an invalid value.
    """
    data = _read_file(root / CONFIG_FILE)
    digests = _read_digests(data.pop(DIGESTS, []))
    known = dict(_sections())
    for section in data:
        if section not in known:
            raise ConfigError(
                f"[{section}]: unknown section in {CONFIG_FILE}", hint=f"known: {', '.join(known)}"
            )
    infos = {info.key: info for info in describe()}
    sections: dict[str, dict[str, Any]] = {name: {} for name in known}
    for name, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: expected a [{name}] table in {CONFIG_FILE}")
        for key, value in values.items():
            info = infos.get(f"{name}.{key}")
            if info is not None and info.key in SECRETS:
                raise ConfigError(
                    f"{info.key}: secrets are read from the environment only, not {CONFIG_FILE}",
                    hint=f"remove it from the file and set {' or '.join(info.env)}",
                )
            if info is None:
                raise ConfigError(
                    f"{name}.{key}: unknown setting in {CONFIG_FILE}",
                    hint="`publisher config` lists them",
                )
            sections[name][key] = _coerce(info.key, value, info.type, str(CONFIG_FILE))
    for info in infos.values():
        for env in info.env:
            if env in environ:
                section, key = info.key.split(".")
                sections[section][key] = _coerce(
                    info.key, environ[env], info.type, f"environment {env}"
                )
                break
    built = {name: cls(**sections[name]) for name, cls in known.items()}
    return _validated(Settings(root=root, digests=digests, **built))


def _validated(settings: Settings) -> Settings:
    try:
        ZoneInfo(settings.site.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"site.timezone: unknown time zone {settings.site.timezone!r}",
            hint="use an IANA name such as Europe/Berlin",
        ) from exc
    base = settings.site.base_url
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"site.base_url: expected an absolute http(s) URL, got {base!r}")
    if not base.endswith("/"):
        settings = dataclasses.replace(
            settings, site=dataclasses.replace(settings.site, base_url=base + "/")
        )
    for key, value in (
        ("feeds.entries", settings.feeds.entries),
        ("output.index_entries", settings.output.index_entries),
    ):
        if value < 1:
            raise ConfigError(f"{key}: expected a positive number, got {value}")
    return _validated_mail(settings)


def _validated_mail(settings: Settings) -> Settings:
    """The sender address is valid, and mail leaves this machine only over TLS."""
    from publisher.subscribers import AddressError, normalise_address

    try:
        normalise_address(settings.mail.from_address)
    except AddressError as exc:
        raise ConfigError(f"mail.from_address: {exc}") from exc
    smtp = settings.smtp
    if smtp.security not in SECURITY:
        raise ConfigError(
            f"smtp.security: {smtp.security!r} is not one of {', '.join(SECURITY)}",
            hint="starttls for port 587, tls for port 465",
        )
    if smtp.host and smtp.security == "plain" and smtp.host not in LOOPBACK:
        raise ConfigError(
            f"smtp.security: plain text to {smtp.host} would expose mail and the login",
            hint="use starttls or tls; plain is allowed only for a relay on 127.0.0.1",
        )
    for key in ("connections", "messages_per_connection", "max_attempts", "bounce_after"):
        if getattr(smtp, key) < 1:
            raise ConfigError(f"smtp.{key}: expected a positive number")
    return settings
