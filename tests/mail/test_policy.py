"""The sender's policy as pure functions, with a fixed clock: what each verdict does to a
delivery, how a relay's pause grows, and reports that count each delivery once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from publisher.config.settings import SmtpSettings
from publisher.mail.policy import DrainReport, decide, paused
from publisher.mail.replies import DeliveryError, Reply, Stage
from publisher.models import Claim, RelayState, Subscriber
from tests.conftest import NOW

SMTP = SmtpSettings(retry_seconds=60, max_attempts=3, probe_seconds=30)
CLAIM = Claim(7, 2, Subscriber(5, "ada@example.com", "active", "s"), 0, NOW + timedelta(minutes=5))


def error(stage: Stage, code: int | None, text: str) -> DeliveryError:
    return DeliveryError(Reply(stage, code, text))


@pytest.mark.parametrize(
    ("failure", "state", "tried", "bounce", "retry_in"),
    [
        (None, "sent", True, False, None),
        (error(Stage.RCPT, 550, "5.1.1 no such user"), "failed", True, True, None),
        (error(Stage.RCPT, 553, "5.6.7 needs SMTPUTF8"), "failed", True, False, None),
        (error(Stage.RCPT, 451, "4.7.1 greylisted"), "queued", True, False, 60),
        (error(Stage.CONNECT, None, "connection refused"), "queued", False, False, 0),
        (error(Stage.MAIL, 530, "5.7.0 Authentication required"), "queued", False, False, 0),
        # The relay's policy for one recipient: pauses, but costs that delivery a try.
        (error(Stage.RCPT, 550, "5.7.1 recipient rejected by policy"), "queued", True, False, 60),
        (
            error(Stage.MESSAGE, None, "no reply within 30 s"),
            "possibly_delivered",
            True,
            False,
            None,
        ),
    ],
    ids=[
        "sent",
        "bounce",
        "fail",
        "retry",
        "relay-down",
        "refusing-sender",
        "refusing-rcpt",
        "possibly",
    ],
)
def test_each_verdict_decides_the_delivery(
    failure: DeliveryError | None, state: str, tried: bool, bounce: bool, retry_in: int | None
) -> None:
    outcome = decide(CLAIM, failure, NOW, SMTP)
    assert (outcome.state, outcome.tried, outcome.bounce) == (state, tried, bounce)
    if retry_in is not None:
        assert outcome.next_attempt == NOW + timedelta(seconds=retry_in)
    assert outcome.reply == ("" if failure is None else str(failure))


def test_temporary_refusals_give_up_after_the_last_try_in_plain_words() -> None:
    greylisted = error(Stage.RCPT, 451, "4.7.1 greylisted")
    assert decide(
        replace(CLAIM, attempts=1), greylisted, NOW, SMTP
    ).next_attempt == NOW + timedelta(minutes=2)
    last = decide(replace(CLAIM, attempts=2), greylisted, NOW, SMTP)
    assert last.state == "failed" and not last.bounce
    assert last.reply == "gave up after 3 tries: 451 4.7.1 greylisted (at rcpt)"
    one = decide(CLAIM, greylisted, NOW, replace(SMTP, max_attempts=1))
    assert one.reply.startswith("gave up after 1 try: ")


def test_a_possibly_delivered_message_goes_again_only_as_often_as_allowed() -> None:
    silent = error(Stage.MESSAGE, None, "no reply within 30 s after the message was sent")
    allowed = replace(SMTP, resend_possibly_delivered=1)
    first = decide(CLAIM, silent, NOW, allowed)
    assert (first.state, first.uncertain) == ("queued", True)
    second = decide(replace(CLAIM, uncertain=1), silent, NOW, allowed)
    assert (second.state, second.uncertain) == ("possibly_delivered", True)


def test_a_relays_pause_starts_once_and_its_probes_back_off() -> None:
    refused = error(Stage.CONNECT, None, "connection refused")
    first = paused(RelayState("smtp://relay"), refused, NOW, 30)
    assert (first.state, first.since, first.probes) == ("down", NOW, 0)
    assert first.probe_at == NOW + timedelta(seconds=30)
    later = NOW + timedelta(minutes=1)
    second = paused(first, refused, later, 30)
    assert second.since == NOW and second.probe_at == later + timedelta(seconds=60)
    for _ in range(10):
        second = paused(second, refused, later, 30)
    assert second.probe_at == later + timedelta(minutes=15)  # the longest wait
    refusing = paused(second, error(Stage.MAIL, 530, "5.7.0 auth"), later, 30)
    assert refusing.state == "refusing" and refusing.since == NOW


def test_a_report_counts_each_delivery_where_it_ended() -> None:
    report = DrainReport()
    greylisted = decide(CLAIM, error(Stage.RCPT, 451, "4.7.1 later"), NOW, SMTP)
    sent = decide(CLAIM, None, NOW, SMTP)
    report.add(greylisted)
    report.remove(greylisted)  # the same delivery, tried again in the same drain
    report.add(sent)
    assert (report.sent, report.retrying, report.done) == (1, 0, 1)
