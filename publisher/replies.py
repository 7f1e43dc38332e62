"""What a relay's reply means for a delivery: the reader's fault, the relay's, or nobody knows.

RFC 5321 says a reply is about the command it answers: one to MAIL FROM is about the whole
message and its sender, one to RCPT TO about that recipient only (Postfix's ``smtp(8)`` reads
them so). RFC 3463's enhanced codes say more: X.1.x is about the address, X.2.x the mailbox,
X.3.x the receiving system, X.7.x policy and security. So a reply is classified by the *stage*
it answered and its codes, from one table (:data:`RULES`), into a :class:`Verdict` that says
what the outbox does — and only a recipient-level permanent reply ever counts against a reader.
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


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 code a reply's text starts with (``5.1.1 no such user``), if any."""
    match = ENHANCED.match(text)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


@dataclass(frozen=True)
class Reply:
    """A relay's reply, or its absence (``code`` ``None``: a timeout, a dropped or refused
    connection), at one stage of the conversation."""

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


def classify(stage: Stage, code: int | None, text: str) -> Verdict:
    """The verdict of a reply at ``stage``. (Provisional: the table of RULES replaces it.)"""
    if code is not None and 200 <= code < 300:
        return Verdict.SENT
    if code is not None and 500 <= code < 600:
        return Verdict.BOUNCE
    return Verdict.RETRY


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
