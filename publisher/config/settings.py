"""Typed, frozen settings, each declared once: a dataclass field with its default, one line of
help and the values it allows.

The declarations are the one source of truth: :mod:`publisher.config.loading` reads the file and
the environment over them and checks every value against them, and ``publisher config`` and the
README's configuration reference are generated from them, so a new setting is one field here.
The values are plain frozen dataclasses, one per ``[section]``: a stage takes the section it
needs, and a test builds one directly, without a file or an environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from publisher.config.cron import describe


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
    :data:`publisher.config.forms.FORMS` (a URL, a time zone, a folder, a database URL, an
    address, a cron line, a colour)."""
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
    theme_color: str = setting(
        "#1a4d7a",
        "Colour of links and accents in pages and digests (#rgb or #rrggbb).",
        form="color",
    )


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
    page_size: int = setting(
        50,
        "Articles per page of a tag or an archive year; pages are numbered from the oldest "
        "article, so a new one changes only the list's own page and its newest numbered page.",
        low=1,
        high=10_000,
    )


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
        "Admin API bearer token and console sign-in: from the environment only, else "
        "var/admin-token (made by `publisher signin`); unset disables both.",
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
        "{{ site.title }}: {{ articles | length | plural('new article') }}",
        "Jinja template of the subject line.",
    )
    max_articles: int = setting(
        20, "Most articles in one issue; the rest wait for the next one.", low=1, high=10_000
    )
    full_text: bool = setting(False, "Whole articles instead of excerpts with a link.")
    skip_empty: bool = setting(True, "Open no issue when nothing is new.")
    label: str = setting(
        "",
        "What readers are told of when it comes; empty: the schedule in words, "
        "e.g. 'Every day at 07:00'.",
    )

    @property
    def description(self) -> str:
        """When this digest comes, as readers are told it: ``label``, or the schedule in words
        (in the site's time zone, which the schedule is in)."""
        return self.label or describe(self.schedule)


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
    def local_token_path(self) -> Path:
        """Where ``publisher signin`` keeps the admin token it made for this machine."""
        return self.path(self.output.var_dir) / "admin-token"

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.site.timezone)
