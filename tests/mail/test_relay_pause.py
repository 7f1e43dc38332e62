"""A relay that refuses the sender or cannot be reached pauses the whole outbox, blames no
reader and spends no message's tries; the operator sees it, and can undo bounces (issue
"delivery faults", findings 1 and 4) — on SQLite and PostgreSQL, against the in-process relay.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from publisher.mail.drain import drain
from publisher.mail.issues import find_digest, open_issue
from publisher.mail.policy import DrainReport
from publisher.service.web import create_app
from publisher.site.render import environment_for
from publisher.store.schema import issues
from tests.cli.test_cli import _run
from tests.conftest import NOW, Project
from tests.corpus import article_text
from tests.outboxes import Outboxed
from tests.smtpserver import MailServer

REFUSED = "530 5.7.0 Authentication required"
HOUR = timedelta(hours=1)
TOKEN = "relay-test-token"  # noqa: S105 (a test token)


def _drain(box: Outboxed, at: timedelta) -> DrainReport:
    return drain(box.project.settings(), box.outbox, clock=lambda: NOW + at)


def _open_another_issue(box: Outboxed, number: int, at: datetime) -> None:
    box.project.write(f"story-{number}.md", article_text(100 + number))
    box.project.publish(at)
    settings = box.project.settings()
    digest = find_digest(settings, "daily")
    opened = open_issue(settings, box.outbox, environment_for(settings), digest, at)
    assert opened.issue is not None, opened.reason


def test_a_sender_refused_at_mail_from_for_three_issues_bounces_nobody(
    outboxed: Callable[..., Outboxed], mail_server: MailServer
) -> None:
    # A lease long enough for a slow machine to send all 600 in one drain: past 80 % of the
    # default test lease (3 s) a claim still queued is left for the next drain.
    box = outboxed(200, PUBLISHER_SMTP__LEASE_SECONDS="60")
    mail_server.script.mail = deque([REFUSED] * 1000)  # the relay wants a login we do not give
    for number in range(3):
        if number:
            _open_another_issue(box, number, NOW + timedelta(days=number))
        report = _drain(box, timedelta(days=number, minutes=30))
        assert report.relay is not None and report.relay.state == "refusing"
        assert report.failed == 0 and REFUSED in report.relay.reply
    statuses = {s.status for s in box.outbox.subscribers.each()}
    assert statuses == {"active"}  # nobody bounced
    counts = box.outbox.deliveries.counts()
    assert counts["queued"] == 600 and counts["failed"] == 0
    assert all(row["attempts"] == 0 for row in box.rows())  # no try spent
    # The operator sees it, and `drain` says so and fails.
    shown = _run(box.project, "outbox").stdout
    assert "refusing the sender since" in shown and REFUSED in shown
    drained = _run(box.project, "drain")
    assert drained.returncode == 1 and "refusing the sender" in drained.stdout
    # Once the relay takes the sender again, every message of the three issues goes out once.
    mail_server.script.mail.clear()
    # The CLI's drain probed on the real clock: the next probe is due an hour after it.
    report = drain(box.project.settings(), box.outbox, clock=lambda: datetime.now(UTC) + HOUR)
    assert report.sent == 600 and report.relay is None
    assert sum(1 for _ in mail_server.received) == 600
    assert all(row["attempts"] == 1 for row in box.rows())


def test_a_relay_down_then_up_delivers_everything_and_spends_no_try(
    db_project: Project,
    outboxed: Callable[..., Outboxed],
    mail_server: MailServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db_project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    # A lease long enough for a slow machine to send all 1,000 in one drain (the clock stands
    # still here, so claims left past 80 % of a short lease would wait for good).
    box = outboxed(1000, PUBLISHER_SMTP__MAX_ATTEMPTS="2", PUBLISHER_SMTP__LEASE_SECONDS="60")
    mail_server.down()
    with caplog.at_level(logging.WARNING, logger="publisher.sender"):
        first = _drain(box, timedelta(minutes=1))
    assert first.relay is not None and first.relay.state == "down"
    assert "connection refused" in first.relay.reply
    paused = [r for r in caplog.records if "sending paused" in r.getMessage()]
    assert len(paused) == 1  # said once, not once per message
    assert first.done == 0 and first.held > 0  # claims given back untried, none failed
    # Hours of downtime: the probe's wait doubles, and no message's budget is spent.
    for minutes in (2, 5, 30, 120, 180):
        later = _drain(box, timedelta(minutes=minutes))
        assert later.relay is not None and later.done == 0
    counts = box.outbox.deliveries.counts()
    assert counts["queued"] == 1000 and counts["failed"] == 0
    # Status and metrics of any process say it.
    with TestClient(create_app(box.project.settings())) as client:
        status = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    [relay] = status["relays"]
    assert relay["state"] == "down" and "connection refused" in relay["reply"]
    assert f'publisher_relay_up{{relay="{relay["relay"]}"}} 0' in metrics
    mail_server.up()
    done = _drain(box, timedelta(hours=5))
    assert done.relay is None and done.sent == 1000
    assert len(mail_server.received) == 1000
    assert all(row["attempts"] == 1 for row in box.rows())  # max_attempts=2 was never near


def test_readers_bounced_by_an_issue_can_be_reactivated(
    outboxed: Callable[..., Outboxed], mail_server: MailServer
) -> None:
    box = outboxed(3, PUBLISHER_SMTP__BOUNCE_AFTER="1")
    with box.outbox.engine.connect() as conn:
        issue_id = conn.execute(select(func.max(issues.c.id))).scalar_one()
    for n in range(3):
        mail_server.script.rcpt[f"reader{n}@example.com"] = deque(["550 5.1.1 no such user"])
    assert _drain(box, timedelta(minutes=1)).bounced == 3
    again = _run(box.project, "subscribers", "add", "reader0@example.com")
    assert "subscribers reactivate" in again.stdout  # the hint names the undo
    done = _run(box.project, "subscribers", "reactivate", "--issue", str(issue_id))
    assert done.returncode == 0 and "reactivated: 3" in done.stdout
    assert {s.status for s in box.outbox.subscribers.each()} == {"active"}
    none = _run(box.project, "subscribers", "reactivate", "--issue", str(issue_id))
    assert "reactivated: 0" in none.stdout
    missing = _run(box.project, "subscribers", "reactivate")
    assert missing.returncode == 2 and "--issue" in missing.stderr


def test_one_recipient_refused_by_policy_cannot_stop_everyone_else(
    outboxed: Callable[..., Outboxed], mail_server: MailServer
) -> None:
    """A 5.7.1 at RCPT for one reader pauses like any policy refusal, but that delivery costs
    a try and waits: after the probe, the others go first; it ends failed, nobody bounced."""
    box = outboxed(20, PUBLISHER_SMTP__MAX_ATTEMPTS="2", PUBLISHER_SMTP__CONNECTIONS="1")
    refused = "reader0@example.com"
    mail_server.script.rcpt[refused] = deque(["550 5.7.1 recipient rejected by policy"] * 10)
    for minutes in range(1, 60, 5):
        _drain(box, timedelta(minutes=minutes))
    delivered = {r.recipients[0] for r in mail_server.received}
    assert len(delivered) == 19 and refused not in delivered
    rows = {r["state"] for r in box.rows()}
    assert rows == {"sent", "failed"}
    assert {s.status for s in box.outbox.subscribers.each()} == {"active"}
