"""What the sender does after each reply, as pure functions of the reply, the claim and the time:
retry with a backoff, give up, count a bounce, pause for the relay. Tested with a fixed clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from publisher.config.settings import SmtpSettings
from publisher.mail.replies import DeliveryError, Stage, Verdict
from publisher.models import Claim, Outcome, RelayCondition, RelayState
from publisher.text import plural

MAX_BACKOFF = timedelta(hours=6)
PROBE_MAX = timedelta(minutes=15)


def backoff(tries: int, smtp: SmtpSettings) -> timedelta:
    """The wait after the ``tries``-th failed try: doubling from ``smtp.retry_seconds``."""
    return min(timedelta(seconds=smtp.retry_seconds * 2 ** (tries - 1)), MAX_BACKOFF)


def decide(claim: Claim, error: DeliveryError | None, now: datetime, smtp: SmtpSettings) -> Outcome:
    """What becomes of a claimed delivery after its try.

    Sent; failed at once when the reader's mailbox refused it for good (a bounce) or it cannot
    be delivered this way; queued again after a backoff for a temporary refusal, until
    ``max_attempts``; possibly delivered after no reply to the final dot, sent again at most
    ``resend_possibly_delivered`` times; queued again, uncounted, when the relay is to blame
    (the sender pauses for it).
    """
    key = (claim.id, claim.subscriber.id, claim.issue_id)
    if error is None:
        return Outcome(*key, "sent", "", claim.lease)
    verdict, reply = error.verdict, str(error)
    # A refusal at RCPT may be the relay's policy for this one recipient: it pauses like any
    # other, but costs this delivery a try, and waits a backoff, so that one recipient cannot
    # stop every other message at each resume (nor bounce anyone).
    recipients_stage = error.reply.stage is Stage.RCPT
    if verdict.pauses and not (verdict is Verdict.REFUSING and recipients_stage):
        return Outcome(*key, "queued", reply, claim.lease, now, tried=False)
    if verdict in (Verdict.BOUNCE, Verdict.FAIL):
        return Outcome(*key, "failed", reply, claim.lease, bounce=verdict is Verdict.BOUNCE)
    tries = claim.attempts + 1
    if verdict is Verdict.POSSIBLY_DELIVERED:
        if claim.uncertain + 1 > smtp.resend_possibly_delivered:
            return Outcome(*key, "possibly_delivered", reply, claim.lease, uncertain=True)
        later = now + backoff(tries, smtp)
        return Outcome(*key, "queued", reply, claim.lease, later, uncertain=True)
    if tries >= smtp.max_attempts:
        gave_up = f"gave up after {plural(tries, 'try', 'tries')}: {reply}"
        return Outcome(*key, "failed", gave_up, claim.lease)
    return Outcome(*key, "queued", reply, claim.lease, now + backoff(tries, smtp))


def paused(relay: RelayState, error: DeliveryError, now: datetime, probe: float) -> RelayState:
    """The relay's state after a reply that blames it: paused since the first such reply, the
    next probe after ``probe`` seconds, doubling with each probe that fails (up to 15 min)."""
    state: RelayCondition = "down" if error.verdict is Verdict.RELAY_DOWN else "refusing"
    if not relay.paused:
        return RelayState(relay.relay, state, now, str(error), now + timedelta(seconds=probe), 0)
    probes = relay.probes + 1
    wait = min(timedelta(seconds=probe * 2**probes), PROBE_MAX)
    return RelayState(relay.relay, state, relay.since, str(error), now + wait, probes)


def relay_line(relay: RelayState, zone: tzinfo) -> str:
    """``… down since 2026-12-01 21:40 CET: connection refused (at connect); next try at
    21:41:30``: the relay's state for people, in the site's zone."""
    since = f"{relay.since.astimezone(zone):%Y-%m-%d %H:%M %Z}" if relay.since else "?"
    probe = f"{relay.probe_at.astimezone(zone):%H:%M:%S}" if relay.probe_at else "?"
    what = "down" if relay.state == "down" else "refusing the sender"
    return f"{relay.relay} {what} since {since}: {relay.reply}; next try at {probe}"


@dataclass
class DrainReport:
    """What one drain did, in rows (each delivery counted once, by where it ended up)."""

    sent: int = 0
    retrying: int = 0  # queued again for a later try
    failed: int = 0
    bounced: int = 0  # of the failed: the reader's own mailbox refused
    possibly_delivered: int = 0
    held: int = 0  # given back untried: the relay paused, or a stop
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # the replies of the failed ones
    relay: RelayState | None = None  # paused when the drain ended
    waiting: int = 0  # held by another sender, or by one that stopped, until their lease ends
    waiting_until: datetime | None = None
    error: str = ""  # the store stopped answering
    stopped: bool = False  # by a signal or a stop request
    signal: int = 0  # the signal that stopped it, if one did

    @property
    def done(self) -> int:
        """Deliveries this drain settled one way or another."""
        return self.sent + self.retrying + self.failed + self.possibly_delivered

    @property
    def rate(self) -> float:
        """Messages delivered a second (failures and retries do not count)."""
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def delivered_nothing(self) -> bool:
        """Something was tried and nothing arrived, or the relay or the store stopped it."""
        blocked = self.relay is not None or bool(self.error)
        return blocked or (self.done + self.held > 0 and self.sent == 0)

    def add(self, outcome: Outcome) -> None:
        """Count one delivery where it ended up (an earlier outcome of it already taken back)."""
        if not outcome.tried:
            self.held += 1
        elif outcome.state == "sent":
            self.sent += 1
        elif outcome.state == "queued":
            self.retrying += 1
        elif outcome.state == "possibly_delivered":
            self.possibly_delivered += 1
        else:
            self.failed += 1
            self.bounced += outcome.bounce
            if len(self.failures) < 20:
                self.failures.append(outcome.reply)

    def remove(self, outcome: Outcome) -> None:
        """Take back an outcome that a later one of the same delivery replaces."""
        if not outcome.tried:
            self.held -= 1
        elif outcome.state == "queued":
            self.retrying -= 1
        elif outcome.state == "possibly_delivered":
            self.possibly_delivered -= 1
