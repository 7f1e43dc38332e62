"""Digests over SMTP against a real server (aiosmtpd): structure, headers, faults, retries,
bounces, bounded connections, and a sender killed mid-issue — on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest

from publisher.config.settings import Settings
from publisher.errors import ConfigError
from publisher.mail.drain import drain
from publisher.mail.issues import find_digest, open_issue
from publisher.mail.policy import DrainReport
from publisher.mail.sender import RateLimit
from publisher.models import Issue
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.text import visible_text
from tests.conftest import NOW, Project
from tests.smtpserver import DROP, MailServer

READERS = ["ada@example.com", "bo@example.net", "cy@example.org"]


@dataclass
class Mailing:
    """A published project with subscribers, its outbox, and the test SMTP server."""

    project: Project
    outbox: Outbox
    server: MailServer

    @property
    def settings(self) -> Settings:
        return self.project.settings()

    def subscribe(self, *addresses: str) -> None:
        self.outbox.subscribers.add([(a, ["daily"]) for a in addresses], "active", NOW)

    def open(self, digest: str = "daily") -> Issue:
        settings = self.settings
        found = find_digest(settings, digest)
        opened = open_issue(settings, self.outbox, environment_for(settings), found, NOW)
        assert opened.issue is not None, opened.reason
        return opened.issue

    def drain(self, later: timedelta = timedelta(minutes=1)) -> DrainReport:
        return drain(self.settings, self.outbox, clock=lambda: NOW + later)


@pytest.fixture
def mailing(
    db_project: Project, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Mailing]:
    def no_lookups(*args: object) -> str:
        raise AssertionError("a DNS look-up of this host: stalls the loop, leaks its name")

    # Without local_hostname aiosmtplib would ask socket.getfqdn() (seconds in CI).
    monkeypatch.setattr(socket, "getfqdn", no_lookups)
    db_project.environ.update(mail_server.environ())
    db_project.environ.update(
        {"PUBLISHER_SMTP__RETRY_SECONDS": "0", "PUBLISHER_SMTP__TIMEOUT": "5"}
    )
    db_project.publish()
    store = Store.open(db_project.settings().database_url)
    try:
        yield Mailing(db_project, Outbox(store.engine), mail_server)
    finally:
        store.close()


def test_each_subscriber_gets_one_multipart_digest_with_every_attribution_in_both_parts(
    mailing: Mailing,
) -> None:
    mailing.subscribe(*READERS)
    issue = mailing.open()
    report = mailing.drain()
    assert (report.sent, report.failed, report.retrying) == (3, 0, 0)
    received = mailing.server.received
    assert sorted(r.recipients[0] for r in received) == sorted(READERS)
    articles = mailing.outbox.issues.articles(sorted(mailing.outbox.issues.ledger("daily")[1]))
    assert len(articles) == 4
    for envelope in received:
        assert envelope.sender == "digests@harbornotes.example"
        assert len(envelope.recipients) == 1
        message = envelope.message()
        assert message.get_content_type() == "multipart/alternative"
        parts = list(message.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        text, html = (" ".join(str(p.get_content()).split()) for p in parts)
        html_text = visible_text(str(parts[1].get_content()))
        for article in articles:
            for needed in (article.attribution, *article.disclaimer):
                assert visible_text(needed) in text, (article.title, needed)
                assert visible_text(needed) in html_text, (article.title, needed)
        unsubscribe = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
        assert unsubscribe is not None
        assert unsubscribe.group(1) in text and unsubscribe.group(1) in html
        assert "<script" not in html  # no scripts; CSS inlined but what cannot be (dark mode)
        kept = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
        assert all(css.strip().startswith("@media") for css in kept), kept
        assert len(parts[1].get_content().encode()) < 100_000
        assert message["To"] == envelope.recipients[0]
        assert message["From"] == "Harbor Notes <digests@harbornotes.example>"
        assert message["Subject"] == issue.subject == "Harbor Notes: 4 new stories"
        assert parsedate_to_datetime(message["Date"]) == NOW
        assert re.fullmatch(r"<\d+\.\d+\.[0-9a-f]{16}@harbornotes\.example>", message["Message-ID"])
        assert envelope.recipients[0] not in message["Message-ID"]
        assert message["List-Id"] == "Harbor Notes daily <daily.harbornotes.example>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "mailto:digests@harbornotes.example" in message["List-Unsubscribe"]
    assert mailing.outbox.deliveries.counts()["sent"] == 3
    assert len({r.message()["Message-ID"] for r in received}) == 3


def test_an_issue_carries_each_article_once_and_the_same_slot_opens_once(
    mailing: Mailing,
) -> None:
    mailing.subscribe(*READERS)
    first = mailing.open()
    settings = mailing.settings
    again = open_issue(
        settings, mailing.outbox, environment_for(settings), find_digest(settings, "daily"), NOW
    )
    assert again.issue is None  # nothing new, and the slot is taken either way
    assert first.recipients == 3
    assert mailing.outbox.deliveries.counts()["queued"] == 3


@pytest.mark.parametrize(
    ("script", "attempts"),
    [
        ({"rcpt": ["451 4.7.1 greylisted, try again"]}, 2),
        ({"rcpt": ["452 4.2.2 mailbox full", "450 4.2.1 busy"]}, 3),
        ({"data_command": [DROP]}, 2),
    ],
    ids=["451-rcpt", "452-then-450", "dropped-before-dot"],
)
def test_transient_failures_are_retried_until_delivered_once(
    mailing: Mailing, script: dict[str, list[str]], attempts: int
) -> None:
    mailing.subscribe(*READERS)
    mailing.open()
    target = READERS[1]
    if "rcpt" in script:
        mailing.server.script.rcpt[target] = deque(script["rcpt"])
    # A drop before the final dot: certainly not delivered (after it: possibly delivered).
    mailing.server.script.data_command = deque(script.get("data_command", []))
    report = mailing.drain()
    assert report.sent == 3 and report.failed == 0
    recipients = sorted(r.recipients[0] for r in mailing.server.received)
    assert recipients == sorted(READERS)  # each exactly once
    rows = {r["address"]: r for r in deliveries(mailing)}
    if "rcpt" in script:
        assert rows[target]["attempts"] == attempts  # real tries only
        assert rows[target]["last_reply"] == ""
    assert all(r["state"] == "sent" for r in rows.values())


@pytest.mark.parametrize(
    "script",
    [
        {"rcpt": ["421 4.3.2 closing"]},
        {"data": ["451 4.3.0 local error"]},
        {"data": ["421 4.4.2 timeout"]},
    ],
    ids=["421-rcpt", "451-4.3.0-data", "421-data"],
)
def test_a_reply_about_the_relay_pauses_and_costs_no_try(
    mailing: Mailing, script: dict[str, list[str]]
) -> None:
    mailing.subscribe(*READERS)
    mailing.open()
    if "rcpt" in script:
        mailing.server.script.rcpt[READERS[1]] = deque(script["rcpt"])
    mailing.server.script.data = deque(script.get("data", []))
    first = mailing.drain()
    assert first.relay is not None and first.relay.state == "down"
    assert first.failed == 0
    second = mailing.drain(later=timedelta(minutes=2))  # past the probe's wait: it answers
    assert second.relay is None
    recipients = sorted(r.recipients[0] for r in mailing.server.received)
    assert recipients == sorted(READERS)  # each exactly once
    rows = deliveries(mailing)
    assert all(r["state"] == "sent" and r["attempts"] == 1 for r in rows)


def test_no_reply_after_the_final_dot_is_possibly_delivered_not_failed(mailing: Mailing) -> None:
    mailing.project.environ["PUBLISHER_SMTP__TIMEOUT"] = "0.5"
    mailing.subscribe(READERS[0])
    mailing.open()
    mailing.server.script.data_delay = 1.0  # the server accepts, but replies too late
    first = mailing.drain()
    assert (first.sent, first.failed, first.possibly_delivered) == (0, 0, 1)
    [row] = deliveries(mailing)
    assert row["state"] == "possibly_delivered"
    # The reason said nothing before ("TimeoutError: "); now it says what happened, where.
    assert row["last_reply"] == "no reply within 0.5 s after the message was sent (at message)"
    mailing.server.script.data_delay = 0.0
    assert mailing.drain(later=timedelta(minutes=3)).done == 0  # never sent again on its own
    assert mailing.outbox.deliveries.retry_failed(NOW) == 0  # --retry-failed leaves it alone
    assert mailing.outbox.deliveries.retry_failed(NOW, possibly_delivered=True) == 1  # unless asked
    assert mailing.drain(later=timedelta(minutes=4)).sent == 1


def test_a_possibly_delivered_message_is_sent_again_only_as_the_setting_allows(
    mailing: Mailing,
) -> None:
    mailing.project.environ["PUBLISHER_SMTP__TIMEOUT"] = "0.5"
    mailing.project.environ["PUBLISHER_SMTP__RETRY_SECONDS"] = "60"
    mailing.project.environ["PUBLISHER_SMTP__RESEND_POSSIBLY_DELIVERED"] = "1"
    mailing.subscribe(READERS[0])
    mailing.open()
    mailing.server.script.data_delay = 1.0
    assert mailing.drain().retrying == 1
    second = mailing.drain(later=timedelta(minutes=3))  # too late again: now given up
    assert second.possibly_delivered == 1
    ids = [r.message()["Message-ID"] for r in mailing.server.received]
    assert len(ids) == 2 and len(set(ids)) == 1  # the copy under the same Message-ID
    assert deliveries(mailing)[0]["state"] == "possibly_delivered"


def test_a_permanent_refusal_fails_at_once_and_bounces_the_subscriber(mailing: Mailing) -> None:
    mailing.project.environ["PUBLISHER_SMTP__BOUNCE_AFTER"] = "1"
    mailing.subscribe(*READERS)
    mailing.open()
    mailing.server.script.rcpt[READERS[2]] = deque(["550 5.1.1 no such user"])
    report = mailing.drain()
    assert (report.sent, report.failed) == (2, 1)
    rows = {r["address"]: r for r in deliveries(mailing)}
    assert rows[READERS[2]]["state"] == "failed"
    assert rows[READERS[2]]["attempts"] == 1
    assert rows[READERS[2]]["last_reply"] == "550 5.1.1 no such user (at rcpt)"
    statuses = {s.address: s.status for s in mailing.outbox.subscribers.each()}
    assert statuses[READERS[2]] == "bounced"
    assert statuses[READERS[0]] == "active"
    from publisher.store.tally import tally

    [group] = tally(mailing.outbox.engine, NOW).failed
    assert (group.address, group.count) == (READERS[2], 1)


def test_a_policy_refusal_after_the_message_is_not_the_readers_fault(mailing: Mailing) -> None:
    # 554 5.7.1 is the relay's policy about the message or its sender (RFC 3463 X.7.x): the
    # delivery is not failed and the reader is not blamed, however low bounce_after is.
    mailing.project.environ["PUBLISHER_SMTP__BOUNCE_AFTER"] = "1"
    mailing.subscribe(READERS[0])
    mailing.open()
    mailing.server.script.data = deque(["554 5.7.1 message refused"])
    report = mailing.drain()
    assert report.failed == 0 and report.relay is not None
    assert report.relay.state == "refusing"
    assert deliveries(mailing)[0]["state"] == "queued"
    statuses = {s.address: s.status for s in mailing.outbox.subscribers.each()}
    assert statuses[READERS[0]] == "active"


def test_temporary_failures_give_up_after_max_attempts(mailing: Mailing) -> None:
    mailing.project.environ["PUBLISHER_SMTP__MAX_ATTEMPTS"] = "3"
    mailing.subscribe(READERS[0])
    mailing.open()
    mailing.server.script.rcpt[READERS[0]] = deque(["451 4.7.1 later"] * 5)
    report = mailing.drain()
    assert report.failed == 1
    row = deliveries(mailing)[0]
    assert row["state"] == "failed" and row["attempts"] == 3
    assert row["last_reply"].startswith("gave up after 3 tries: 451 4.7.1 later")
    assert mailing.outbox.deliveries.retry_failed(NOW) == 1
    mailing.drain()
    assert mailing.outbox.deliveries.counts()["sent"] == 1


def test_backoff_leaves_a_retry_queued_for_later(mailing: Mailing) -> None:
    mailing.project.environ["PUBLISHER_SMTP__RETRY_SECONDS"] = "60"
    mailing.subscribe(READERS[0])
    mailing.open()
    mailing.server.script.rcpt[READERS[0]] = deque(["451 4.7.1 later"])
    report = mailing.drain()
    assert report.retrying == 1 and report.sent == 0
    next_due = mailing.outbox.deliveries.next_due()
    assert next_due == NOW + timedelta(minutes=1, seconds=60)


def test_unsubscribing_after_the_issue_opened_stops_the_message(mailing: Mailing) -> None:
    mailing.subscribe(*READERS)
    mailing.open()
    mailing.outbox.subscribers.set_status(READERS[0], "unsubscribed", NOW)
    report = mailing.drain()
    assert report.sent == 2
    assert READERS[0] not in [r.recipients[0] for r in mailing.server.received]
    assert mailing.outbox.deliveries.counts()["cancelled"] == 1


def test_connections_are_bounded_and_reused(mailing: Mailing) -> None:
    mailing.project.environ["PUBLISHER_SMTP__CONNECTIONS"] = "3"
    mailing.subscribe(*(f"reader{n}@example.com" for n in range(60)))
    mailing.open()
    report = mailing.drain()
    assert report.sent == 60
    assert 1 <= mailing.server.recorder.most_open <= 3
    assert len(mailing.server.received) == 60


def test_starttls_is_required_unless_plain_is_configured(mailing: Mailing) -> None:
    mailing.project.environ["PUBLISHER_SMTP__SECURITY"] = "starttls"
    mailing.project.environ["PUBLISHER_SMTP__RETRY_SECONDS"] = "60"
    mailing.subscribe(READERS[0])
    mailing.open()
    report = mailing.drain()  # the test server offers no STARTTLS: nothing goes in clear text
    assert report.sent == 0 and report.relay is not None
    assert mailing.server.received == []
    assert "STARTTLS" in report.relay.reply.upper()
    assert deliveries(mailing)[0]["attempts"] == 0


def test_plain_text_to_a_remote_relay_is_refused(project: Project) -> None:
    project.environ.update(
        {"PUBLISHER_SMTP__HOST": "mail.example.com", "PUBLISHER_SMTP__SECURITY": "plain"}
    )
    with pytest.raises(ConfigError, match=r"smtp\.security"):
        project.settings()


def test_the_password_is_read_from_the_environment_only(project: Project) -> None:
    config = project.root / "config" / "publisher.toml"
    config.write_text(config.read_text() + '\n[smtp]\npassword = "hunter2"\n')
    with pytest.raises(ConfigError, match="environment only"):
        project.settings()


def deliveries(mailing: Mailing) -> list[dict[str, object]]:
    from sqlalchemy import select

    from publisher.store.schema import deliveries as table
    from publisher.store.schema import subscribers

    query = select(subscribers.c.address, table.c.state, table.c.attempts, table.c.last_reply).join(
        subscribers, subscribers.c.id == table.c.subscriber_id
    )
    with mailing.outbox.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def test_the_login_comes_from_the_environment(mailing: Mailing) -> None:
    mailing.project.environ.update(
        {"PUBLISHER_SMTP__USERNAME": "harbornotes", "SMTP_PASSWORD": "from-the-environment"}
    )
    mailing.subscribe(READERS[0])
    mailing.open()
    assert mailing.drain().sent == 1
    assert mailing.server.recorder.logins == [("harbornotes", "from-the-environment")]


def test_the_rate_limit_spaces_messages_out() -> None:
    async def ten_sends() -> float:
        limit = RateLimit(100.0)
        started = time.monotonic()
        for _ in range(11):
            await limit.wait()
        return time.monotonic() - started

    assert asyncio.run(ten_sends()) >= 0.099  # ten intervals of 10 ms, at least
    assert RateLimit(0).interval == 0.0


def test_a_stop_finishes_sends_under_way_and_releases_the_rest(mailing: Mailing) -> None:
    from publisher.mail.sender import Sender
    from publisher.mail.transports import transport_for

    mailing.project.environ["PUBLISHER_SMTP__CONNECTIONS"] = "2"
    mailing.subscribe(*(f"reader{n}@example.com" for n in range(40)))
    mailing.open()
    mailing.server.script.data_delay = 0.05
    settings = mailing.settings

    async def stop_soon() -> None:
        stop = asyncio.Event()
        sender = Sender(mailing.outbox, transport_for(settings), settings)
        running = asyncio.create_task(sender.drain(stop))
        await asyncio.sleep(0.4)
        stop.set()
        report = await running
        assert 0 < report.sent < 40

    asyncio.run(stop_soon())
    counts = mailing.outbox.deliveries.counts()
    assert counts["sending"] == 0  # nothing left claimed
    assert counts["sent"] == len(mailing.server.received)  # nothing marked sent that was not
    assert counts["sent"] + counts["queued"] == 40


@pytest.mark.parametrize("smtputf8", [True, False], ids=["relay-with-smtputf8", "relay-without"])
def test_a_non_ascii_address_goes_with_smtputf8_or_fails_at_once_blaming_nobody(
    db_project: Project, smtputf8: bool
) -> None:
    server = MailServer(smtputf8=smtputf8).start()
    try:
        db_project.environ.update(server.environ())
        db_project.environ["PUBLISHER_SMTP__BOUNCE_AFTER"] = "1"
        db_project.publish()
        store = Store.open(db_project.settings().database_url)
        mailing = Mailing(db_project, Outbox(store.engine), server)
        mailing.subscribe("jörg@example.org", "ada@bücher.example")
        mailing.open()
        report = mailing.drain()
        received = {r.recipients[0] for r in server.received}
        assert "ada@xn--bcher-kva.example" in received  # the domain in ASCII, at any relay
        if smtputf8:
            assert report.sent == 2 and "jörg@example.org" in received
        else:
            assert (report.sent, report.failed, report.bounced, report.retrying) == (1, 1, 0, 0)
            assert "SMTPUTF8" in report.failures[0]
        statuses = {s.status for s in mailing.outbox.subscribers.each()}
        assert statuses == {"active"}  # nobody's mailbox was at fault
        store.close()
    finally:
        server.stop()
