"""What a relay's reply means for a delivery: the reader's fault, the relay's, or nobody knows.

RFC 5321 says a reply is about the command it answers: one to MAIL FROM is about the whole
message and its sender, one to RCPT TO about that recipient only (Postfix's ``smtp(8)`` reads
them so). RFC 3463's enhanced codes say more: X.1.x is about the address, X.2.x the mailbox,
X.3.x the receiving system, X.4.x routing, X.5.x the protocol, X.6.x the content, X.7.x policy
and security. So a reply is classified by the *stage* it answered and its codes, from one table
(:data:`RULES`), into a :class:`Verdict` that says what the outbox does — and only a
recipient-level permanent reply ever counts against a reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from publisher.errors import PublisherError


class Stage(StrEnum):
    """The part of the SMTP conversation a reply (or its absence) answered."""

    CONNECT = "connect"  # opening the connection, and the greeting
    EHLO = "ehlo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAIL = "mail"  # MAIL FROM: about the sender and the whole message
    RCPT = "rcpt"  # RCPT TO: about this recipient
    DATA = "data"  # the DATA command, before any of the message was sent
    MESSAGE = "message"  # the reply after the final dot: the message was handed over


class Verdict(StrEnum):
    """What the outbox does with a delivery after a reply."""

    SENT = "sent"  # accepted by the relay
    RETRY = "retry"  # this delivery, later; an attempt is counted
    BOUNCE = "bounce"  # the recipient's mailbox refused it for good: failed, counts for the reader
    FAIL = "fail"  # cannot be delivered this way, nobody's mailbox at fault: failed, not counted
    RELAY_DOWN = "relay_down"  # the relay cannot be reached or is busy: pause, probe, no attempt
    REFUSING = "refusing"  # the relay refuses the sender or the message: pause until fixed
    POSSIBLY_DELIVERED = "possibly_delivered"  # no reply after the final dot: nobody knows

    @property
    def pauses(self) -> bool:
        """Whether this verdict is about the relay, not the delivery: the whole outbox waits."""
        return self in (Verdict.RELAY_DOWN, Verdict.REFUSING)


ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
NO_REPLY = "none"  # a code pattern: no reply, or none that answers at this stage (a 1xx, a 354)


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 code a reply's text starts with (``5.1.1 no such user``), if any."""
    match = ENHANCED.match(text)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


@dataclass(frozen=True)
class Rule:
    """One row of :data:`RULES`: the replies it matches and what they mean.

    ``codes``: reply codes, exact (``421``) or by class (``4xx``), space-separated, or
    :data:`NO_REPLY`. ``enhanced``: RFC 3463 codes by class.subject (``5.1``) or exact
    (``5.2.3``), space-separated; ``*`` for any, ``""`` for a reply that gives none.
    """

    stages: frozenset[Stage]
    codes: str
    enhanced: str
    verdict: Verdict
    why: str

    def matches(
        self, stage: Stage, code: int | None, enhanced: tuple[int, int, int] | None
    ) -> bool:
        """Whether a reply with these codes at ``stage`` is one of this row's."""
        return stage in self.stages and self._code(code) and self._enhanced(enhanced)

    def _code(self, code: int | None) -> bool:
        if self.codes == NO_REPLY:
            return code is None or not 400 <= code < 600
        digits = "" if code is None else str(code)
        return any(
            digits == want or (want.endswith("xx") and digits[:1] == want[0] and len(digits) == 3)
            for want in self.codes.split()
        )

    def _enhanced(self, enhanced: tuple[int, int, int] | None) -> bool:
        if self.enhanced == "*":
            return True
        if enhanced is None or not self.enhanced:
            return enhanced is None and not self.enhanced
        full = ".".join(map(str, enhanced))
        return any(full == want or full.startswith(f"{want}.") for want in self.enhanced.split())


def _rule(stages: str, codes: str, enhanced: str, verdict: Verdict, why: str) -> Rule:
    return Rule(frozenset(Stage(s) for s in stages.split()), codes, enhanced, verdict, why)


OPENING = "connect ehlo starttls auth"
EVERY = f"{OPENING} mail rcpt data message"

#: First match wins. Codes are read as the relay means them: an enhanced code, when given, says
#: more than the basic code, so the rows keyed on one come before those that ignore it.
RULES: tuple[Rule, ...] = (
    _rule("message", "2xx", "*", Verdict.SENT, "accepted after the final dot"),
    _rule(EVERY, "421", "*", Verdict.RELAY_DOWN, "421: the relay is closing the session"),
    _rule(OPENING, NO_REPLY, "*", Verdict.RELAY_DOWN, "unreachable: refused, dropped, silent"),
    _rule(
        "mail rcpt data",
        NO_REPLY,
        "*",
        Verdict.RETRY,
        "no reply before the message was sent: certainly not delivered",
    ),
    _rule(
        "message",
        NO_REPLY,
        "*",
        Verdict.POSSIBLY_DELIVERED,
        "no reply after the final dot: the relay may have it (RFC 1047, RFC 5321 §3.8)",
    ),
    _rule(
        f"{OPENING} mail",
        "4xx",
        "*",
        Verdict.RELAY_DOWN,
        "a temporary refusal before any recipient: the relay is busy or failing",
    ),
    _rule(
        f"{OPENING} mail",
        "5xx",
        "*",
        Verdict.REFUSING,
        "the connection, the login or the sender refused: nothing goes until it is fixed",
    ),
    _rule(
        "rcpt data message",
        "4xx",
        "4.3",
        Verdict.RELAY_DOWN,
        "X.3.x is the relay's own system (RFC 3463), e.g. 452 4.3.1 out of storage",
    ),
    _rule("rcpt data message", "4xx", "*", Verdict.RETRY, "temporary: greylisted, mailbox busy"),
    _rule(
        "rcpt message",
        "5xx",
        "5.6.7",
        Verdict.FAIL,
        "RFC 6531: a non-ASCII address this relay cannot take; nobody's mailbox at fault",
    ),
    _rule(
        "rcpt",
        "5xx",
        "5.1.7 5.1.8",
        Verdict.REFUSING,
        "X.1.7 and X.1.8 are the sender's address, which Postfix checks at RCPT",
    ),
    _rule(
        "rcpt message",
        "5xx",
        "5.2.2",
        Verdict.RETRY,
        "a full mailbox: RFC 3463 calls it a persistent transient failure",
    ),
    _rule(
        "rcpt message",
        "5xx",
        "5.2.3",
        Verdict.REFUSING,
        "the message is longer than the relay allows: the message, not the mailbox",
    ),
    _rule(
        "rcpt message",
        "5xx",
        "5.1 5.2",
        Verdict.BOUNCE,
        "X.1.x and X.2.x: the recipient's address or mailbox (no such user, disabled)",
    ),
    _rule(
        "rcpt message",
        "5xx",
        "5.4",
        Verdict.FAIL,
        "X.4.x: no route to the recipient's system; not the mailbox's fault, nor the sender's",
    ),
    _rule(
        "rcpt",
        "552",
        "",
        Verdict.RETRY,
        "RFC 5321 §4.5.3.1.10: a bare 552 to RCPT means too many recipients, a 452",
    ),
    _rule("rcpt", "550 551 553", "", Verdict.BOUNCE, "the classic no such user, without a code"),
    _rule(
        "rcpt data message",
        "5xx",
        "*",
        Verdict.REFUSING,
        "policy (5.7.x), system (5.3.x), size (5.3.4, 552), protocol (5.5.x), 554: the sender's",
    ),
)


def rule_for(stage: Stage, code: int | None, text: str) -> Rule:
    """The row of :data:`RULES` a reply at ``stage`` falls under: the first that matches."""
    enhanced = enhanced_code(text)
    for rule in RULES:
        if rule.matches(stage, code, enhanced):
            return rule
    raise AssertionError(f"no rule for {stage} {code} {text!r}")  # the table covers every reply


def classify(stage: Stage, code: int | None, text: str) -> Verdict:
    """The verdict of a reply at ``stage``, from :data:`RULES`."""
    return rule_for(stage, code, text).verdict


@dataclass(frozen=True)
class Reply:
    """A relay's reply, or its absence (``code`` ``None``: a timeout, a dropped or refused
    connection, with ``text`` saying which), at one stage of the conversation."""

    stage: Stage
    code: int | None
    text: str

    def __str__(self) -> str:
        said = f"{self.code} {self.text}" if self.code is not None else self.text
        return f"{' '.join(said.split()) or 'no reply'} (at {self.stage.value})"

    @property
    def verdict(self) -> Verdict:
        """What this reply means for the delivery (see :func:`classify`)."""
        return classify(self.stage, self.code, self.text)


class DeliveryError(PublisherError):
    """A message was not accepted, with the relay's reply; ``reconnect`` when the connection
    cannot be used again (after a 421, a timeout, a dropped connection)."""

    hint = "`publisher outbox` shows every failure with the relay's reply"

    def __init__(self, reply: Reply, reconnect: bool = False) -> None:
        super().__init__(str(reply))
        self.reply = reply
        self.reconnect = reconnect

    @property
    def verdict(self) -> Verdict:
        """What the outbox does about it."""
        return self.reply.verdict
