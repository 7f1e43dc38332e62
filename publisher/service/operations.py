"""What an operator can do from the console or the admin API, in one place: publish now, open
or preview an issue, send a test, retry an issue's failures, reactivate the readers an issue
bounced, and manage subscribers.

Both front ends call these and only format the answer (HTML or JSON), so the console and the
API cannot drift apart, and each does what the CLI command of the same name does. Every method
is synchronous and touches the store: the web process runs them on a worker thread.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO, get_args

from jinja2 import Environment

from publisher.addresses import AddressError, normalise_address
from publisher.config.settings import Settings
from publisher.errors import ConfigError, NotFound
from publisher.mail.issues import find_digest, open_issue, plan, sample
from publisher.mail.lists import read_csv
from publisher.mail.messages import letter_for
from publisher.mail.tokens import MAX_ID
from publisher.mail.transports import transport_for
from publisher.models import RunReport, Subscriber, SubscriberStatus
from publisher.site.publish import publish
from publisher.store import overview
from publisher.store.outbox import Outbox
from publisher.store.subscribers import Imported
from publisher.text import shown

STATUSES: tuple[str, ...] = get_args(SubscriberStatus)  # what a subscriber search may ask for


@dataclass(frozen=True)
class Published:
    """One publish asked for by an operator: what it did and how long it took."""

    report: RunReport
    seconds: float


@dataclass(frozen=True)
class Preview:
    """The next issue of a digest as one sample reader would get it; nothing is stored."""

    digest: str
    subject: str
    html: str
    articles: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class ImportReport:
    """What importing a CSV did: the store's counts and the rows refused, by line."""

    done: Imported
    problems: tuple[str, ...]


def address_of(value: str) -> str:
    """An address an operator typed, normalised.

    :raises ConfigError: naming it, when it is not an address."""
    try:
        return normalise_address(value)
    except AddressError as exc:
        raise ConfigError(f"{shown(value)!r} is not an email address: {exc}") from exc


class Operations:
    """The operator's actions over the store's outbox; ``publishes`` counts this process's
    own publishes (for ``/metrics``)."""

    def __init__(self, settings: Settings, outbox: Outbox, env: Environment) -> None:
        self.settings, self.outbox, self.env = settings, outbox, env
        self.publishes = 0

    # -- the site and issues --------------------------------------------------------------

    def publish(self, now: datetime) -> Published:
        """Scan ``content/`` and build now (what ``publisher publish`` does)."""
        began = time.monotonic()
        report = publish(self.settings, now)
        self.publishes += 1
        return Published(report, time.monotonic() - began)

    def open(self, name: str, now: datetime) -> dict[str, Any]:
        """Open digest ``name``'s issue now and publish its page; the worker sends it.

        :raises ConfigError: for a digest that is not configured."""
        digest = find_digest(self.settings, name)
        opened = open_issue(self.settings, self.outbox, self.env, digest, now)
        if opened.issue is None:
            return {"digest": name, "opened": False, "reason": opened.reason}
        issue = opened.issue
        self.publish(now)  # its "view in your browser" page, before the worker sends it
        return {
            "digest": name,
            "opened": True,
            "id": issue.id,
            "slot": issue.slot,
            "subject": issue.subject,
            "articles": len(opened.plan.articles),
            "recipients": issue.recipients,
        }

    def preview(self, name: str, now: datetime) -> Preview:
        """The HTML part of digest ``name``'s next issue for a sample reader (``publisher
        preview``): personal links are a fresh secret's, never a real reader's."""
        digest = find_digest(self.settings, name)
        ready = plan(self.settings, self.outbox, self.env, digest, now)
        reader = sample(self.outbox, digest)
        html = letter_for(self.settings, ready.issue(now)).personalise(ready.draft.html, reader)
        problems = tuple(str(p) for p in ready.draft.problems)
        return Preview(name, ready.draft.subject, html, len(ready.articles), problems)

    def send_test(self, name: str, address: str, now: datetime) -> str:
        """Send digest ``name``'s next issue to one address now (``publisher send-test``);
        nothing is stored. The relay's reply."""
        return self.send_test_of(name, address, now)[0]

    def send_test_of(self, name: str, address: str, now: datetime) -> tuple[str, list[str]]:
        """:meth:`send_test`, with what the fidelity gate refused in the issue (sent anyway:
        a test is for looking at)."""
        digest = find_digest(self.settings, name)
        to = address_of(address)
        ready = plan(self.settings, self.outbox, self.env, digest, now)
        letter = letter_for(self.settings, ready.issue(now, test=True))
        reader = sample(self.outbox, digest, to)
        transport = transport_for(self.settings)

        async def send() -> str:
            connection = await transport.connect()
            try:
                message = letter.bytes_for(reader)
                key = letter.message_id(reader)
                return await connection.send(self.settings.mail.from_address, to, message, key)
            finally:
                await connection.close()

        return asyncio.run(send()), [str(p) for p in ready.draft.problems]

    def issue(self, issue_id: int) -> overview.IssueSummary:
        """One issue with its deliveries by state.

        :raises NotFound: when there is no such issue."""
        found = (
            overview.recent_issues(self.outbox.engine, 1, issue_id) if issue_id <= MAX_ID else []
        )
        if not found:
            raise NotFound(f"there is no issue {issue_id}")
        return found[0]

    def retry(self, issue_id: int, now: datetime) -> int:
        """Queue an issue's failed deliveries again (``publisher outbox --retry-failed``, for
        one issue); how many."""
        self.issue(issue_id)
        return self.outbox.deliveries.retry_failed(now, issue_id=issue_id)

    def reactivate(self, issue_id: int, now: datetime) -> list[str]:
        """Make the readers this issue bounced active again (``publisher subscribers
        reactivate --issue``); their addresses."""
        self.issue(issue_id)
        return self.outbox.subscribers.reactivate(now, issue_id)

    # -- subscribers ------------------------------------------------------------------------

    def digests(self, names: list[str]) -> list[str]:
        """The digests named (each checked), or every configured one.

        :raises ConfigError: for a digest that is not configured."""
        return [find_digest(self.settings, n).name for n in names] or [
            d.name for d in self.settings.digests
        ]

    def find(self, address: str) -> Subscriber:
        """The subscriber with this address.

        :raises NotFound: when nobody has it (an address that is no address included)."""
        try:
            key = address_of(address)
        except ConfigError as exc:
            raise NotFound(f"{shown(address)!r} is not a subscriber: {exc}") from exc
        found, _count = overview.search_subscribers(self.outbox.engine, key, limit=1000)
        for subscriber in found:
            if subscriber.address.lower() == key.lower():
                return subscriber
        raise NotFound(f"{shown(address)} is not a subscriber")

    def add(self, addresses: list[str], digests: list[str], now: datetime) -> ImportReport:
        """Add readers as active subscribers of ``digests`` (all when empty); an address that
        is no address is reported, the others added (as an import does).

        :raises ConfigError: for a digest that is not configured."""
        chosen = self.digests(digests)
        rows, problems = [], []
        for given in addresses:
            try:
                rows.append((address_of(given), chosen))
            except ConfigError as exc:
                problems.append(str(exc))
        return ImportReport(self.outbox.subscribers.add(rows, "active", now), tuple(problems))

    def remove(self, address: str, now: datetime) -> Subscriber:
        """Unsubscribe a reader (kept, so they are never mailed again)."""
        found = self.find(address)
        self.outbox.subscribers.set_status(found.address, "unsubscribed", now)
        return found

    def choose(self, address: str, digests: list[str], now: datetime) -> Subscriber:
        """Set which digests a reader receives (none: they receive nothing)."""
        chosen = [find_digest(self.settings, n).name for n in digests]
        found = self.find(address)
        self.outbox.subscribers.choose(found.id, sorted(set(chosen)), now)
        return found

    def import_csv(self, text: str, now: datetime) -> ImportReport:
        """Import ``email[,digests]`` rows (``publisher subscribers import``): bad rows are
        reported by line, good ones kept."""
        every = [d.name for d in self.settings.digests]
        result = read_csv(text, every)
        rows = [(row.address, list(row.digests) or every) for row in result.rows]
        done = self.outbox.subscribers.add(rows, "active", now)
        return ImportReport(done, tuple(result.problems))

    def export_csv(self) -> str:
        """Every subscriber as CSV (email, digests, status), readable by the import."""
        out = io.StringIO()
        self.export_to(out)
        return out.getvalue()

    def export_to(self, out: TextIO) -> None:
        """:meth:`export_csv`, written to ``out`` as it is read (the CLI's standard output)."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "digests", "status"])
        for subscriber in self.outbox.subscribers.each():
            writer.writerow([subscriber.address, " ".join(subscriber.digests), subscriber.status])
