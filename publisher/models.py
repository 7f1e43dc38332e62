"""Frozen values passed between stages. No I/O and no imports from the rest of the project."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Article:
    """One article as read from ``content/``.

    Text fields that may carry inline markup (``body_html``, ``attribution``, ``disclaimer``,
    ``credits``, ``author_bio``) are kept verbatim; they are sanitised when rendered. ``uid`` and
    ``updated`` are given by the store: the id is minted once and never changes.
    """

    slug: str
    title: str
    author: str
    published: datetime
    body_html: str
    attribution: str
    source_path: str
    disclaimer: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()
    author_bio: str = ""
    tags: tuple[str, ...] = ()
    site: str = ""
    original_source: str = ""
    original_published: date | None = None
    source_url: str = ""
    summary: str = ""
    updated: datetime | None = None
    uid: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings, tuples as lists)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in data.items():
            if isinstance(value, date | datetime):
                data[key] = value.isoformat()
            elif isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Article:
        """The inverse of :meth:`to_json`."""
        values = dict(data)
        for key in ("published", "updated"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        if values.get("original_published"):
            values["original_published"] = date.fromisoformat(values["original_published"])
        for key in ("disclaimer", "credits", "tags"):
            values[key] = tuple(values.get(key, ()))
        return cls(**values)


@dataclass(frozen=True)
class Problem:
    """Something wrong with one content file, with what to do about it.

    ``field`` names the front-matter field (or part of a capture) at fault, when one is.
    """

    path: str
    reason: str
    hint: str = ""
    severity: Severity = "error"
    field: str = ""

    def line(self) -> str:
        """One line for the terminal or a log: ``path: reason (hint)``."""
        return f"{self.path}: {self.reason}" + (f" ({self.hint})" if self.hint else "")


@dataclass(frozen=True)
class Output:
    """One rendered file: where it goes, what it is, and which articles' text it carries.

    ``articles`` are the articles whose content the output carries, so the fidelity gate can
    check each one; listing pages carry none.
    """

    path: str
    media_type: str
    body: bytes
    articles: tuple[Article, ...] = ()


@dataclass
class RunReport:
    """What one publish did, for the CLI and the logs."""

    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    pinged: list[str] = field(default_factory=list)  # feeds announced to the WebSub hub
    unpinged: list[str] = field(default_factory=list)  # the hub failed: warned, not fatal

    @property
    def changed(self) -> bool:
        """Whether anything in the store or under ``public/`` changed."""
        return bool(self.new or self.updated or self.removed or self.written or self.deleted)


SubscriberStatus = Literal["pending", "active", "unsubscribed", "bounced"]
DeliveryState = Literal["queued", "sending", "sent", "failed", "possibly_delivered", "cancelled"]


@dataclass(frozen=True)
class Subscriber:
    """One reader of digests; ``secret`` signs the links in the mail they receive."""

    id: int
    address: str
    status: str
    secret: str
    digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Issue:
    """One digest issue, rendered once: the personal parts are placeholders until sending."""

    id: int
    digest: str
    slot: str
    opened: datetime
    nonce: str
    subject: str
    html: str
    text: str
    recipients: int = 0
    page: str = ""  # the public copy of the HTML part, for the archive of issues


@dataclass(frozen=True)
class Claim:
    """A delivery claimed for sending: whom, which issue, and how many tries it had."""

    id: int
    issue_id: int
    subscriber: Subscriber
    attempts: int  # real tries before this one
    lease: datetime  # the claim's lease: recording needs it to still be this sender's
    uncertain: int = 0  # outcomes nobody knows so far (copies that may be out)


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery, decided by the sender's retry policy.

    ``tried``: a real attempt (counted); ``bounce``: the reader's own mailbox refused it
    (counts towards ``smtp.bounce_after``); ``uncertain``: nobody knows whether it arrived.
    """

    id: int
    subscriber_id: int
    issue_id: int
    state: DeliveryState
    reply: str
    lease: datetime
    next_attempt: datetime | None = None
    tried: bool = True
    bounce: bool = False
    uncertain: bool = False


RelayCondition = Literal["up", "down", "refusing"]


@dataclass(frozen=True)
class RelayState:
    """A relay as every sender sees it: up, or paused since a reply, until the next probe."""

    relay: str
    state: RelayCondition = "up"
    since: datetime | None = None
    reply: str = ""
    probe_at: datetime | None = None
    probes: int = 0

    @property
    def paused(self) -> bool:
        """Whether the outbox waits for this relay."""
        return self.state != "up"


@dataclass(frozen=True)
class Listed:
    """What a listing page shows of an article: its summary, no body."""

    uid: str
    slug: str
    title: str
    author: str
    published: datetime
    summary: str = ""
