"""Delivery under the faults real relays and stores have (issue "delivery faults"): a store
locked while outcomes are recorded, a drain stopped by a signal, senders that crash, and
reports that count rows — on SQLite and PostgreSQL, against the in-process SMTP server.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text

from publisher.mail.drain import drain
from publisher.mail.policy import DrainReport
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.outboxes import LEASE, Outboxed, drain_process, outboxed_project, subscribe_many
from tests.smtpserver import MailServer


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@contextmanager
def _write_lock_held(outbox: Outbox, until: threading.Event) -> Iterator[None]:
    """Another connection holds the store's write lock until ``until`` is set: SQLite's
    ``BEGIN IMMEDIATE`` (what a long writer does), a table lock on PostgreSQL."""
    held = threading.Event()

    def hold() -> None:
        if outbox.engine.dialect.name == "sqlite":
            conn = sqlite3.connect(str(outbox.engine.url.database), isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            until.wait(60)
            conn.execute("ROLLBACK")
            conn.close()
            return
        with outbox.engine.connect() as pg:
            pg.execute(text("LOCK TABLE deliveries IN EXCLUSIVE MODE"))
            held.set()
            until.wait(60)
            pg.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        yield
    finally:
        until.set()
        holder.join()


def test_a_store_locked_while_outcomes_are_recorded_loses_nothing_and_the_drain_ends(
    outboxed: Callable[..., Outboxed],
) -> None:
    """12 s of a held write lock: longer than SQLite's busy timeout, so recording fails and
    is tried again; no worker dies, nothing is sent twice, and the drain ends."""
    box = outboxed(400, PUBLISHER_SMTP__CONNECTIONS="4", PUBLISHER_SMTP__LEASE_SECONDS="300")
    box.server.script.data_delay = 0.005
    reports: list[DrainReport] = []
    sending = threading.Thread(
        target=lambda: reports.append(drain(box.project.settings(), box.outbox))
    )
    release = threading.Event()
    sending.start()
    _wait_for(lambda: len(box.server.received) >= 50)
    with _write_lock_held(box.outbox, release):
        time.sleep(12)
    sending.join(timeout=120)
    assert not sending.is_alive(), "the drain never ended"
    [report] = reports
    received = box.received()
    assert sum(received.values()) == box.readers == len(received)  # each once
    assert report.sent == box.readers and not report.error
    assert {row["state"] for row in box.rows()} == {"sent"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_drain_stopped_by_a_signal_records_what_it_sent_and_gives_the_rest_back(
    outboxed: Callable[..., Outboxed], signum: int
) -> None:
    box = outboxed(2000, PUBLISHER_SMTP__CONNECTIONS="4")
    box.server.script.data_delay = 0.002
    sender = drain_process(box.project)
    _wait_for(lambda: len(box.server.received) >= 200)
    sender.send_signal(signum)
    _out, err = sender.communicate(timeout=60)
    assert sender.returncode == 128 + signum, err.decode()
    counts = box.outbox.deliveries.counts()
    assert counts["sending"] == 0  # nothing left claimed
    received = box.received()
    assert counts["sent"] == len(received) == sum(received.values())  # all recorded, none twice
    assert counts["sent"] + counts["queued"] == box.readers
    assert "given back" in err.decode()
    assert all(row["attempts"] == (1 if row["state"] == "sent" else 0) for row in box.rows())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_digest_stopped_by_a_signal_while_it_sends_leaves_nothing_in_sending(
    db_project: Project, mail_server: MailServer, signum: int
) -> None:
    """``publisher digest`` opens the issue, then sends it as ``drain`` does: a signal stops
    the sending the same way, and the issue stays opened for the next drain."""
    project = db_project
    project.environ.update(mail_server.environ())
    project.environ["PUBLISHER_SMTP__CONNECTIONS"] = "4"
    project.publish()
    store = Store.open(project.settings().database_url)
    outbox = Outbox(store.engine)
    try:
        subscribe_many(outbox, 2000)
        mail_server.script.data_delay = 0.002
        sender = drain_process(project, "digest", "daily")
        _wait_for(lambda: len(mail_server.received) >= 200)
        sender.send_signal(signum)
        out, err = sender.communicate(timeout=60)
        assert sender.returncode == 128 + signum, err.decode()
        assert b"daily: issue 1 " in out and b"given back" in err
        counts = outbox.deliveries.counts()
        assert counts["sending"] == 0  # nothing left claimed
        received = Counter(r.recipients[0] for r in mail_server.received)
        assert counts["sent"] == len(received) == sum(received.values())  # recorded, none twice
        assert counts["sent"] + counts["queued"] == 2000
    finally:
        store.close()


def test_only_a_real_try_counts_and_a_crash_loop_sends_a_message_at_most_twice(
    outboxed: Callable[..., Outboxed],
) -> None:
    """A sender killed while messages are in flight, twice: the rows it held are sent once
    more after the first crash (within the lease's bound), and given up as possibly
    delivered after the second, instead of mailing the same readers on every restart."""
    box = outboxed(6, PUBLISHER_SMTP__CONNECTIONS="2")
    box.server.script.data_delay = 30  # every message hangs after its final dot
    for _crash in range(2):
        enough = len(box.server.received) + 2  # both connections in flight
        sender = drain_process(box.project)
        _wait_for(lambda: len(box.server.received) >= enough)  # noqa: B023 (waited for at once)
        os.kill(sender.pid, signal.SIGKILL)
        sender.communicate()
        time.sleep(LEASE + 0.5)  # the leases of the dead sender run out
    box.server.script.data_delay = 0
    last = drain_process(box.project)
    out, _err = last.communicate(timeout=60)
    copies = box.received()
    assert max(copies.values()) <= 2, copies
    rows = box.rows()
    given_up = [row for row in rows if row["state"] == "possibly_delivered"]
    assert given_up and all(row["uncertain"] == 2 and row["attempts"] == 0 for row in given_up)
    # The others were sent once each, one try each: claims that were never sent cost nothing.
    assert all(row["attempts"] == 1 for row in rows if row["state"] == "sent")
    assert len(given_up) + sum(row["state"] == "sent" for row in rows) == box.readers
    assert b"possibly delivered" in out or given_up


def test_a_drain_right_after_a_crash_says_what_waits_for_its_lease(
    outboxed: Callable[..., Outboxed],
) -> None:
    box = outboxed(300, PUBLISHER_SMTP__CONNECTIONS="2", PUBLISHER_SMTP__LEASE_SECONDS="120")
    box.server.script.data_delay = 0.01
    sender = drain_process(box.project)
    _wait_for(lambda: len(box.server.received) >= 20)
    os.kill(sender.pid, signal.SIGKILL)
    sender.communicate()
    again = drain_process(box.project)
    out, _err = again.communicate(timeout=120)
    waiting = box.outbox.deliveries.counts()["sending"]
    assert waiting > 0
    assert (
        f"waiting: {waiting:,} messages claimed by another sender (or one that stopped)"
        in out.decode()
    )


def test_reports_count_deliveries_once_and_the_rate_is_of_delivered_messages(
    db_project: Project, mail_server: MailServer
) -> None:
    from collections import deque

    box = outboxed_project(db_project, mail_server, 3, PUBLISHER_SMTP__RETRY_SECONDS="0")
    # One reader is greylisted three times before delivery; another's mailbox is full for good.
    mail_server.script.rcpt["reader0@example.com"] = deque(["451 4.7.1 greylisted"] * 3)
    mail_server.script.rcpt["reader1@example.com"] = deque(["550 5.1.1 no such user"])
    report = drain(box.project.settings(), box.outbox, clock=lambda: NOW + timedelta(minutes=1))
    assert (report.sent, report.retrying, report.failed, report.bounced) == (2, 0, 1, 1)
    assert report.done == 3
    assert report.rate == pytest.approx(report.sent / report.seconds)
    box.outbox.engine.dispose()
