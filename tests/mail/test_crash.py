"""A sender killed with SIGKILL in the middle of a 2,000-recipient issue, then restarted:
every recipient gets the issue, and duplicates are at most the messages in flight at the kill
(one per connection), all under the same Message-ID as the first copy. And two senders
draining one outbox at once send each message once.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from sqlalchemy import func, select

from publisher.mail.issues import find_digest, open_issue
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.store.schema import subscribers
from tests.conftest import NOW, Project
from tests.outboxes import drain_process, subscribe_many
from tests.smtpserver import MailServer

RECIPIENTS = 2000
CONNECTIONS = 4
LEASE = 3.0


def test_a_sender_killed_mid_issue_loses_nothing_and_repeats_at_most_what_was_in_flight(
    db_project: Project, mail_server: MailServer
) -> None:
    project = db_project
    project.environ.update(mail_server.environ())
    project.environ.update(
        {
            "PUBLISHER_SMTP__CONNECTIONS": str(CONNECTIONS),
            "PUBLISHER_SMTP__LEASE_SECONDS": str(LEASE),
        }
    )
    project.publish()
    settings = project.settings()
    store = Store.open(settings.database_url)
    try:
        outbox = Outbox(store.engine)
        subscribe_many(outbox, RECIPIENTS)
        digest = find_digest(settings, "daily")
        opened = open_issue(settings, outbox, environment_for(settings), digest, NOW)
        assert opened.issue is not None and opened.issue.recipients == RECIPIENTS

        sender = drain_process(project)
        deadline = time.monotonic() + 60
        while len(mail_server.received) < RECIPIENTS // 4 and time.monotonic() < deadline:
            assert sender.poll() is None, sender.communicate()
            time.sleep(0.005)
        os.kill(sender.pid, signal.SIGKILL)
        sender.communicate()
        at_kill = len(mail_server.received)
        assert RECIPIENTS // 4 <= at_kill < RECIPIENTS, "the kill came too late to test anything"
        counts = outbox.deliveries.counts()
        assert counts["sending"] > 0  # claims the dead sender held

        time.sleep(LEASE + 0.5)  # its leases run out
        restarted = drain_process(project)
        out, err = restarted.communicate(timeout=120)
        assert restarted.returncode == 0, err.decode()

        received = Counter(r.recipients[0] for r in mail_server.received)
        assert set(received) == {f"reader{n}@example.com" for n in range(RECIPIENTS)}
        duplicates = sum(received.values()) - RECIPIENTS
        assert duplicates <= CONNECTIONS, (duplicates, out.decode())
        ids: dict[str, set[str]] = {}
        for r in mail_server.received:
            ids.setdefault(r.recipients[0], set()).add(r.message()["Message-ID"])
        assert all(len(found) == 1 for found in ids.values())
        assert outbox.deliveries.counts() == {
            "queued": 0,
            "sending": 0,
            "sent": RECIPIENTS,
            "failed": 0,
            "possibly_delivered": 0,
            "cancelled": 0,
        }
        with outbox.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(subscribers)).scalar() == 2000
    finally:
        store.close()


def test_two_senders_at_once_send_each_message_once(
    db_project: Project, mail_server: MailServer
) -> None:
    project = db_project
    project.environ.update(mail_server.environ())
    project.environ["PUBLISHER_SMTP__CONNECTIONS"] = "3"
    project.publish()
    settings = project.settings()
    store = Store.open(settings.database_url)
    try:
        outbox = Outbox(store.engine)
        subscribe_many(outbox, 1000)
        digest = find_digest(settings, "daily")
        assert (
            open_issue(settings, outbox, environment_for(settings), digest, NOW).issue is not None
        )
        senders = [drain_process(project) for _ in range(2)]
        for sender in senders:
            _out, err = sender.communicate(timeout=120)
            assert sender.returncode == 0, err.decode()
        received = Counter(r.recipients[0] for r in mail_server.received)
        assert len(received) == 1000 and set(received.values()) == {1}
        assert outbox.deliveries.counts()["sent"] == 1000
    finally:
        store.close()
