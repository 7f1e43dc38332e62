"""Typed, frozen settings: embedded defaults → ``config/publisher.toml`` → environment.

Each setting is declared once, with its default, its help and the values it allows, as a
dataclass field; the loader, its checks, ``publisher config`` and the README's configuration
reference are all derived from these declarations. Every value is checked when the settings are
loaded (every command does that first), so a wrong one is one line naming the key, the value and
where it came from, before anything runs, instead of a traceback or a spinning loop later. The
environment is passed in as a mapping so tests never touch ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.config.forms import FORMS
from publisher.errors import ConfigError

CONFIG_FILE = Path("config") / "publisher.toml"
ENV_PREFIX = "PUBLISHER_"
DIGESTS = "digests"
DIGEST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT = "default"  # where a value came from when neither the file nor the environment set it


def setting(
    default: Any,
    help: str,
    env: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    form: str = "",
) -> Any:
    """Declare a setting: its default, one line of help, an extra environment name if any, and
    the values it allows: ``low``..``high`` for a number (every number has both, so none can
    overflow a bind or spin a loop), ``choices`` (matched ignoring case), or a ``form`` of
    :data:`FORMS` (a URL, a time zone, a folder, a database URL, an address, a cron line)."""
    rules = {"low": low, "high": high, "choices": choices, "form": form}
    return field(default=default, metadata={"help": help, "env": env, **rules})


@dataclass(frozen=True)
class SiteSettings:
    """The site as readers see it."""

    title: str = setting("Publisher demo", "Site title, used in pages and as the feeds' title.")
    description: str = setting(
        "Articles with their original attribution.", "One line describing the site (RSS needs it)."
    )
    base_url: str = setting(
        "http://localhost:8000/",
        "Absolute URL the site is served from; feeds link to it.",
        form="url",
    )
    language: str = setting("en", "Language code of the site (feeds and <html lang>).")
    timezone: str = setting(
        "UTC", "IANA time zone of the site: dates without a time are midnight there.", form="zone"
    )
    author: str = setting("Publisher", "Author of the feeds themselves (each entry keeps its own).")


@dataclass(frozen=True)
class ContentSettings:
    """Where articles come from."""

    dir: str = setting(
        "content", "Folder of articles, relative to the project root.", form="folder"
    )
    profiles_dir: str = setting(
        "config/sources",
        "Folder of source profiles (*.toml) that classify .txt captures.",
        form="optional_folder",
    )
    settle_seconds: float = setting(
        0.5,
        "A file that changed within this many seconds is looked at again until its size and "
        "modification time hold still between two looks.",
        low=0,
        high=60,
    )
    settle_wait_seconds: float = setting(
        30.0,
        "How long a one-shot publish (publish, digest, POST /api/publish) waits for files still "
        "being written; one that never settles is reported and the command fails.",
        low=0,
        high=3600,
    )
    max_file_bytes: int = setting(
        5_000_000,
        "Largest content file that is read; a larger one is reported, not read.",
        low=1,
        high=1_000_000_000,
    )
    max_tags: int = setting(
        50, "Most tags one article may carry; more is a problem of that file.", low=1, high=1000
    )


@dataclass(frozen=True)
class FeedSettings:
    """The Atom, RSS and JSON feeds."""

    entries: int = setting(50, "Newest entries per feed, with full content.", low=1, high=10_000)
    hub: str = setting(
        "",
        "WebSub hub URL: feeds name it, and it is told after a publish that changed a feed.",
        form="url_or_empty",
    )


@dataclass(frozen=True)
class OutputSettings:
    """Where outputs and state go."""

    public_dir: str = setting(
        "public", "Folder the site is exported to, for a static server.", form="output_folder"
    )
    var_dir: str = setting(
        "var",
        "Folder for local state (the SQLite database by default).",
        form="output_folder",
    )
    index_entries: int = setting(50, "Newest articles listed on the home page.", low=1, high=10_000)


@dataclass(frozen=True)
class DatabaseSettings:
    """The store."""

    url: str = setting(
        "",
        "SQLAlchemy URL of the store; empty means SQLite at <var_dir>/publisher.db.",
        env="DATABASE_URL",
        form="database",
    )


@dataclass(frozen=True)
class MailSettings:
    """Who digests come from, and what every digest's footer says."""

    from_address: str = setting(
        "digests@example.org",
        "Sender address; its domain is the Message-ID's and List-Id's.",
        form="address",
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
        100_000,
        "An HTML part larger than this (Gmail clips at ~102 KB) falls back to excerpts.",
        low=1,
        high=100_000_000,
    )


SECURITY = ("starttls", "tls", "plain")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class SmtpSettings:
    """The relay digests are sent through; with no host they go to a Maildir under var/."""

    host: str = setting("", "SMTP relay host; empty writes messages to <var_dir>/outbox/.")
    port: int = setting(587, "SMTP relay port (587 STARTTLS, 465 implicit TLS).", low=1, high=65535)
    security: str = setting(
        "starttls",
        "starttls, tls (implicit) or plain; plain only for a loopback relay.",
        choices=SECURITY,
    )
    validate_certs: bool = setting(True, "Check the relay's TLS certificate.")
    username: str = setting("", "Login name at the relay; empty sends without logging in.")
    password: str = setting(
        "", "Login password: from the environment only, never the file.", env="SMTP_PASSWORD"
    )
    helo_name: str = setting("", "Name given in EHLO; empty means the from_address's domain.")
    connections: int = setting(
        8, "Connections used at once, each reused for many messages.", low=1, high=1000
    )
    messages_per_connection: int = setting(
        500, "Messages sent over one connection before it is replaced.", low=1, high=1_000_000
    )
    rate: float = setting(0.0, "Most messages per second; 0 means no limit.", low=0, high=10_000)
    timeout: float = setting(
        30.0, "Seconds allowed for each message, from MAIL FROM to 250.", low=0.1, high=3600
    )
    max_attempts: int = setting(
        8, "Tries of a temporarily failing message before giving up.", low=1, high=100
    )
    retry_seconds: float = setting(
        60.0, "First retry delay; doubled after each failure.", low=0, high=86_400
    )
    lease_seconds: float = setting(
        300.0,
        "A message claimed longer ago than this by a sender that died is claimed again.",
        low=1,
        high=604_800,
    )
    bounce_after: int = setting(
        3,
        "Refusals by the reader's own mailbox (5.1.x, 5.2.x) after which they are marked bounced.",
        low=1,
        high=1000,
    )
    resend_possibly_delivered: int = setting(
        0,
        "Copies sent again of a message with no reply after its final dot (possibly delivered: "
        "each may be a duplicate); 0 never sends one again.",
        low=0,
        high=10,
    )
    probe_seconds: float = setting(
        30.0,
        "First wait before a relay that is down or refusing the sender is tried again; doubles "
        "up to 15 minutes while it stays so.",
        low=1,
        high=3600,
    )


@dataclass(frozen=True)
class WebSettings:
    """The web process: feeds and pages with conditional GET, subscription pages, admin API."""

    cache_seconds: int = setting(
        300, "Cache-Control max-age of feeds and pages, in seconds.", low=0, high=31_536_000
    )
    admin_token: str = setting(
        "",
        "Bearer token of the admin API: from the environment only; unset disables the API.",
        env="PUBLISHER_ADMIN_TOKEN",
    )
    public_metrics: bool = setting(
        False, "Serve /metrics to anyone; off: only with the admin token (Prometheus bearer)."
    )
    trusted_proxies: str = setting(
        "",
        "Addresses or networks of reverse proxies whose X-Forwarded-For is believed "
        "(comma-separated, e.g. 10.0.0.0/8, ::1); empty believes none.",
        form="proxies",
    )
    subscribes_per_client: int = setting(
        10, "Subscribe requests one client address may make an hour.", low=1, high=100_000
    )
    confirmations_per_mailbox: int = setting(
        3,
        "Confirmation mails a day to one mailbox (plus-addresses and case count as one).",
        low=1,
        high=1000,
    )
    confirmations_per_hour: int = setting(
        300, "Confirmation mails an hour for the whole site.", low=1, high=1_000_000
    )
    pending_hours: int = setting(
        48, "Unconfirmed subscriptions are removed after this many hours.", low=1, high=8760
    )
    max_body_bytes: int = setting(
        65_536, "Largest request body a form or API route reads (413 beyond).", low=1024, high=10**8
    )
    max_form_fields: int = setting(32, "Most fields a form may post.", low=1, high=10_000)
    timeout_keep_alive: float = setting(
        5.0, "Seconds an idle keep-alive connection is kept open.", low=0.1, high=3600
    )
    header_timeout: float = setting(
        10.0, "Seconds a client has to send a request's headers.", low=0.1, high=3600
    )
    limit_concurrency: int = setting(
        1000, "Most connections (and tasks) at once; more get 503.", low=1, high=1_000_000
    )


@dataclass(frozen=True)
class WorkerSettings:
    """The worker: the scheduler's jobs and the outbox drain."""

    rescan_seconds: float = setting(
        60.0,
        "A full rescan of content/ this often, besides watching it for changes.",
        low=1,
        high=604_800,
    )
    watch: bool = setting(True, "Watch content/ and publish within a second of a change.")
    misfire_grace_seconds: int = setting(
        3600,
        "A digest slot missed by longer than this (the worker was down) is not opened.",
        low=1,
        high=31_536_000,
    )
    drain_seconds: float = setting(
        2.0, "How often the outbox is checked for due deliveries.", low=0.1, high=3600
    )
    unhealthy_after: int = setting(
        3,
        "Failures in a row after which a task marks the service unhealthy (/healthz 503).",
        low=1,
        high=1000,
    )


LOG_LEVELS = ("", "DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class LogSettings:
    """What every process writes to stderr: one line per event."""

    level: str = setting(
        "",
        "DEBUG, INFO, WARNING or ERROR; empty: INFO for the service, WARNING for one-shot "
        "commands (their report is on stdout).",
        choices=LOG_LEVELS,
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
        "0 7 * * *",
        "When issues open: cron (minute hour day month weekday) in site.timezone.",
        form="cron",
    )
    subject: str = setting(
        "{{ site.title }}: {{ articles | length }} new", "Jinja template of the subject line."
    )
    max_articles: int = setting(
        20, "Most articles in one issue; the rest wait for the next one.", low=1, high=10_000
    )
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
    """One declared setting, for the loader, ``publisher config`` and the docs."""

    key: str
    default: Any
    env: tuple[str, ...]
    help: str
    type: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    form: str = ""

    @property
    def allowed(self) -> str:
        """The values allowed, in words: ``1 to 10,000``, ``empty, DEBUG, INFO``, a form's."""
        if self.low is not None and self.high is not None:
            return f"{self.low:,} to {self.high:,}"
        if self.choices:
            return ", ".join(choice or "empty" for choice in self.choices)
        if self.form:
            return FORMS[self.form][0]
        return "true or false" if self.type is bool else "text"


def _info(key: str, f: dataclasses.Field[Any], env: tuple[str, ...]) -> SettingInfo:
    rules = {name: f.metadata[name] for name in ("low", "high", "choices", "form")}
    return SettingInfo(key, f.default, env, f.metadata["help"], type(f.default), **rules)


def _sections() -> Iterator[tuple[str, type]]:
    """The ``[section]`` tables: every field of :class:`Settings` but the root and the digests."""
    for section in dataclasses.fields(Settings):
        if section.name not in ("root", DIGESTS):
            yield section.name, type(section.default)


def describe() -> list[SettingInfo]:
    """Every setting with its default, environment variables, help and allowed values."""
    infos = []
    for name, cls in _sections():
        for f in dataclasses.fields(cls):
            env: tuple[str, ...] = (f"{ENV_PREFIX}{name.upper()}__{f.name.upper()}",)
            if f.metadata.get("env"):
                env = (str(f.metadata["env"]), *env)
            infos.append(_info(f"{name}.{f.name}", f, env))
    return infos


def describe_digest() -> list[SettingInfo]:
    """The keys of one ``[[digests]]`` table (no environment variables)."""
    return [_info(f"{DIGESTS}[].{f.name}", f, ()) for f in dataclasses.fields(DigestSettings)]


PASSWORD = re.compile(r"(://[^/@:]*:)[^/@]*@")


def _checked(info: SettingInfo, value: Any, where: str, root: Path) -> Any:
    """``value`` if the declaration allows it (choices in their declared case).

    :raises ConfigError: naming the key, the value (without a URL's password) and ``where``.
    """
    shown = PASSWORD.sub(r"\1***@", value) if isinstance(value, str) else value
    try:
        if info.low is not None and info.high is not None and not info.low <= value <= info.high:
            raise ConfigError(f"expected {info.allowed}", f"the default is {info.default!r}")
        if info.choices:
            for choice in info.choices:
                if value.casefold() == choice.casefold():
                    return choice
            raise ConfigError(f"expected one of {info.allowed}", f"the default is {info.default!r}")
        return FORMS[info.form][1](value, info.key, info.default, root) if info.form else value
    except ConfigError as exc:
        raise ConfigError(f"{info.key}: {exc}, got {shown!r} ({where})", exc.hint) from exc


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


# -- loading ---------------------------------------------------------------------------------


def _read_file(path: Path) -> dict[str, Any]:
    """The file's tables, or none when there is no file."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        reason = f"line {line} has byte {exc.object[exc.start]:#x}"
        hint = "save it as UTF-8 (TOML files are UTF-8)"
        raise ConfigError(f"{path}: not UTF-8 text ({reason})", hint) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc


def _read_digests(raw: Any, path: Path, root: Path) -> tuple[DigestSettings, ...]:
    """``[[digests]]`` tables, each checked like a section; names must be unique."""
    if not isinstance(raw, list) or not all(isinstance(table, dict) for table in raw):
        raise ConfigError(f"{DIGESTS}: expected [[{DIGESTS}]] tables in {path}")
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
            values[key] = _coerce(f"{where}.{key}", value, infos[key].type, str(path))
        for key, info in infos.items():
            named = dataclasses.replace(info, key=f"{where}.{key}")
            values[key] = _checked(named, values.get(key, info.default), str(path), root)
        digest = DigestSettings(**values)
        if not DIGEST_NAME.match(digest.name) or digest.name in {d.name for d in digests}:
            hint = 'a unique name of lowercase letters, digits and -, e.g. name = "daily"'
            raise ConfigError(
                f"{where}.name: {digest.name!r} is missing, malformed or repeated ({path})", hint
            )
        digests.append(digest)
    return tuple(digests)


def load_settings(root: Path, environ: Mapping[str, str]) -> Settings:
    """Read ``root/config/publisher.toml`` then the environment over the embedded defaults, and
    check every value, the defaults included.

    :raises ConfigError: for an unknown section or key, a wrong type or a value not allowed,
        naming the key, the value and the file or environment variable it came from.
    """
    path = root / CONFIG_FILE
    data = _read_file(path)
    digests = _read_digests(data.pop(DIGESTS, []), path, root)
    known = dict(_sections())
    for section in data:
        if section not in known:
            raise ConfigError(
                f"[{section}]: unknown section in {path}", hint=f"known: {', '.join(known)}"
            )
    infos = {info.key: info for info in describe()}
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a [{name}] table in {path}")
        for key, value in table.items():
            info = infos.get(f"{name}.{key}")
            if info is not None and info.key in SECRETS:
                raise ConfigError(
                    f"{info.key}: secrets are read from the environment only, not {path}",
                    hint=f"remove it from the file and set {' or '.join(info.env)}",
                )
            if info is None:
                raise ConfigError(
                    f"{name}.{key}: unknown setting in {path}",
                    hint="`publisher config` lists them",
                )
            values[info.key] = _coerce(info.key, value, info.type, str(path))
            sources[info.key] = str(path)
    for info in infos.values():
        for env in info.env:
            if env in environ:
                where = f"environment {env}"
                values[info.key] = _coerce(info.key, environ[env], info.type, where)
                sources[info.key] = where
                break
    for info in infos.values():
        where = sources.get(info.key, DEFAULT)
        values[info.key] = _checked(info, values.get(info.key, info.default), where, root)
    if not values["site.base_url"].endswith("/"):
        values["site.base_url"] += "/"
    built = {
        name: cls(
            **{key.split(".")[1]: v for key, v in values.items() if key.startswith(f"{name}.")}
        )
        for name, cls in known.items()
    }
    settings = Settings(root=root, digests=digests, **built)
    _check_relay(settings.smtp, sources.get("smtp.security", DEFAULT))
    return settings


def _check_relay(smtp: SmtpSettings, where: str) -> None:
    """Mail leaves this machine only over TLS."""
    if smtp.host and smtp.security == "plain" and smtp.host not in LOOPBACK:
        raise ConfigError(
            f"smtp.security: plain text to {smtp.host} ({where}) would expose mail and the login",
            hint="use starttls or tls; plain is allowed only for a relay on 127.0.0.1",
        )
