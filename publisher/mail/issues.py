"""Digest issues: what one opened now would hold, opening it, and previews of it.

Wires selection (:mod:`planning`), rendering (:mod:`drafts`) and the outbox together. An issue is
stored with its ledger entries and one delivery per active subscriber in one transaction, and
only after both of its parts passed the fidelity gate.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from jinja2 import Environment

from publisher.config.settings import DigestSettings, Settings
from publisher.errors import ConfigError
from publisher.mail.drafts import Draft, draft
from publisher.mail.planning import cron_trigger, due, select, slot_key
from publisher.models import Article, Issue, Subscriber
from publisher.store.outbox import Outbox

log = logging.getLogger(__name__)
SAMPLE = "reader@example.org"
TEST_MARK = "[TEST]"  # what the subject of a test send starts with


@dataclass(frozen=True)
class Plan:
    """What an issue of ``digest`` opened now would be; nothing is stored yet."""

    digest: DigestSettings
    slot: str
    articles: list[Article]
    baseline: list[str]
    recipients: int
    draft: Draft
    nonce: str

    def issue(self, opened: datetime, test: bool = False) -> Issue:
        """The issue as it would be opened; a ``test`` one says so in its subject, so a test
        sent to a real inbox is never taken for the issue itself."""
        d, name = self.draft, self.digest.name
        subject = f"{TEST_MARK} {d.subject}" if test else d.subject
        return Issue(0, name, self.slot, opened, self.nonce, subject, d.html, d.text, page=d.page)


@dataclass(frozen=True)
class Opened:
    """The issue opened, or why none was."""

    plan: Plan
    issue: Issue | None
    reason: str = ""


def find_digest(settings: Settings, name: str) -> DigestSettings:
    """The ``[[digests]]`` entry called ``name``.

    :raises ConfigError: naming the digests there are.
    """
    for digest in settings.digests:
        if digest.name == name:
            return digest
    known = ", ".join(d.name for d in settings.digests) or "none"
    raise ConfigError(f"no digest named {name!r} (configured: {known})")


def plan(
    settings: Settings,
    outbox: Outbox,
    env: Environment,
    digest: DigestSettings,
    now: datetime,
    slot: str | None = None,
) -> Plan:
    """Select and render the next issue of ``digest`` as of ``now``."""
    last, carried = outbox.issues.ledger(digest.name)
    stamps = outbox.issues.published(now)
    chosen, baseline = select(stamps, carried, digest.max_articles, first=last is None)
    articles = outbox.issues.articles([s.uid for s in chosen])
    nonce, slot = secrets.token_hex(8), slot or slot_key(now, settings.zone)
    return Plan(
        digest,
        slot,
        articles,
        [s.uid for s in baseline],
        outbox.subscribers.audience_size(digest.name),
        draft(env, settings, digest, articles, nonce, now, slot),
        nonce,
    )


def open_issue(
    settings: Settings,
    outbox: Outbox,
    env: Environment,
    digest: DigestSettings,
    now: datetime,
    slot: str | None = None,
) -> Opened:
    """Open the issue of ``slot`` (default: the current minute, for a manual run).

    :raises FidelityError: for the first article whose attribution or disclaimer a part lost.
    """
    ready = plan(settings, outbox, env, digest, now, slot)
    if not ready.articles and digest.skip_empty:
        return Opened(ready, None, "nothing new since the last issue (skip_empty)")
    if ready.draft.problems:
        for problem in ready.draft.problems[1:]:
            log.error("%s", problem)
        raise ready.draft.problems[0]
    carries = [a.uid for a in ready.articles]
    issue = outbox.issues.open(ready.issue(now), carries, ready.baseline)
    if issue is None:
        return Opened(ready, None, f"slot {ready.slot} already has its issue")
    return Opened(ready, issue)


def open_due(
    settings: Settings,
    outbox: Outbox,
    env: Environment,
    now: datetime,
    digests: tuple[DigestSettings, ...] | None = None,
) -> list[Opened]:
    """Open the issue of every digest (or of ``digests``) whose latest scheduled slot has none
    yet: coalesced, so after downtime only the latest missed slot is opened, once — and not at
    all when it was missed by more than ``worker.misfire_grace_seconds``.
    """
    grace = timedelta(seconds=settings.worker.misfire_grace_seconds)
    opened = []
    for digest in settings.digests if digests is None else digests:
        trigger = cron_trigger(digest.schedule, settings.zone, f"digests.{digest.name}.schedule")
        last, _carried = outbox.issues.ledger(digest.name)
        key = due(trigger, now, last, settings.zone, grace)
        if key is not None:
            opened.append(open_issue(settings, outbox, env, digest, now, key))
    return opened


def sample(outbox: Outbox, digest: DigestSettings, address: str | None = None) -> Subscriber:
    """Whom a preview or a test is for: ``address``, else the first subscriber, else a sample.

    The secret is fresh, so its links and Message-ID are never those of a real delivery.
    """
    if address is None:
        found = outbox.subscribers.sample(digest.name)
        address = found.address if found else SAMPLE
    return Subscriber(0, address, "active", secrets.token_urlsafe(24), (digest.name,))
