"""The table that tells the reader's fault from the relay's: one test per row, with replies
real relays give (Postfix, Exchange, Gmail), and properties over every possible reply.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.mail.replies import (
    RULES,
    DeliveryError,
    Reply,
    Stage,
    Verdict,
    classify,
    enhanced_code,
    rule_for,
)

S = Stage
V = Verdict
Example = tuple[Stage, int | None, str]

#: Per row of RULES, in order: its verdict and replies that fall under it (and no row above).
ROWS: list[tuple[Verdict, list[Example]]] = [
    (V.SENT, [(S.MESSAGE, 250, "2.0.0 Ok: queued as 4Xyz1"), (S.MESSAGE, 250, "OK id=1t2")]),
    (
        V.RELAY_DOWN,
        [
            (S.CONNECT, 421, "4.3.2 Service shutting down"),
            (S.MAIL, 421, "4.7.0 mx.example Too many errors, closing"),
            (S.RCPT, 421, "4.4.2 Timeout exceeded"),
            (S.MESSAGE, 421, "4.4.2 closing transmission channel"),
        ],
    ),
    (
        V.RELAY_DOWN,
        [
            (S.CONNECT, None, "connection refused"),
            (S.CONNECT, None, "no reply within 30 s while connecting"),
            (S.EHLO, None, "connection closed by the relay"),
            (S.STARTTLS, None, "SMTP STARTTLS extension not supported by server."),
            (S.AUTH, None, "no reply within 30 s to AUTH"),
            (S.EHLO, 220, "a greeting where EHLO's reply belongs"),
        ],
    ),
    (
        V.RETRY,
        [
            (S.MAIL, None, "no reply within 30 s to MAIL FROM"),
            (S.RCPT, None, "connection closed by the relay"),
            (S.DATA, None, "connection closed by the relay"),
            (S.DATA, 250, "OK where 354 belongs"),
        ],
    ),
    (
        V.POSSIBLY_DELIVERED,
        [
            (S.MESSAGE, None, "no reply within 30 s after the message was sent"),
            (S.MESSAGE, None, "connection closed by the relay"),
            (S.MESSAGE, 354, "End data with <CR><LF>.<CR><LF>"),
        ],
    ),
    (
        V.RELAY_DOWN,
        [
            (S.CONNECT, 450, "4.3.2 try again later"),
            (S.STARTTLS, 454, "4.7.0 TLS not available due to temporary reason"),
            (S.AUTH, 454, "4.7.0 Temporary authentication failure"),
            (S.MAIL, 451, "4.3.0 <digests@harbornotes.example>: Temporary lookup failure"),
            (S.MAIL, 450, "4.7.1 Too many messages, slow down"),
        ],
    ),
    (
        V.REFUSING,
        [
            (S.CONNECT, 554, "5.7.1 No SMTP service here"),
            (S.EHLO, 550, "5.7.1 HELO name rejected"),
            (S.STARTTLS, 501, "5.5.4 Syntax error"),
            (S.AUTH, 535, "5.7.8 Authentication credentials invalid"),
            (S.MAIL, 530, "5.7.0 Authentication required"),
            (S.MAIL, 550, "5.7.1 Sender refused"),
            (S.MAIL, 552, "5.3.4 Message size exceeds fixed limit"),
            (S.MAIL, 553, "5.1.8 <digests@harbornotes.example>: Sender address rejected"),
            (S.MAIL, 550, "5.1.1 sender unknown"),
        ],
    ),
    (
        V.RELAY_DOWN,
        [
            (S.RCPT, 452, "4.3.1 Insufficient system storage"),
            (S.DATA, 451, "4.3.2 System not accepting network messages"),
            (S.MESSAGE, 451, "4.3.0 Error: queue file write error"),
        ],
    ),
    (
        V.RETRY,
        [
            (S.RCPT, 451, "4.7.1 <ada@example.com>: Recipient address rejected: Greylisted"),
            (S.RCPT, 452, "4.2.2 Mailbox full"),
            (S.RCPT, 450, "4.2.1 busy"),
            (S.RCPT, 450, "Requested mail action not taken: mailbox unavailable"),
            (S.DATA, 451, "4.7.1 later"),
            (S.MESSAGE, 451, "4.7.0 Temporary server error. Please try again later"),
        ],
    ),
    (
        V.FAIL,
        [
            (S.RCPT, 553, "5.6.7 Non-ASCII addresses not permitted for that recipient"),
            (S.MESSAGE, 550, "5.6.7 Non-ASCII addresses not permitted"),
        ],
    ),
    (
        V.REFUSING,
        [
            (S.RCPT, 550, "5.1.8 <digests@harbornotes.example>: Sender address rejected"),
            (S.RCPT, 553, "5.1.7 Bad sender's mailbox address syntax"),
        ],
    ),
    (
        V.RETRY,
        [
            (S.RCPT, 552, "5.2.2 Mailbox full"),
            (S.MESSAGE, 552, "5.2.2 The email account that you tried to reach is over quota"),
        ],
    ),
    (
        V.REFUSING,
        [
            (S.RCPT, 552, "5.2.3 Message length exceeds administrative limit"),
            (S.MESSAGE, 552, "5.2.3 Message size exceeds maximum permitted"),
        ],
    ),
    (
        V.BOUNCE,
        [
            (S.RCPT, 550, "5.1.1 <ada@example.com>: Recipient address rejected: User unknown"),
            (S.RCPT, 550, "5.1.10 RESOLVER.ADR.RecipientNotFound; not found"),
            (S.RCPT, 551, "5.1.6 mailbox has moved"),
            (S.RCPT, 550, "5.2.1 The email account that you tried to reach is disabled"),
            (S.RCPT, 553, "5.1.3 Bad recipient address syntax"),
            (S.MESSAGE, 550, "5.1.1 The email account that you tried to reach does not exist"),
        ],
    ),
    (
        V.FAIL,
        [
            (S.RCPT, 550, "5.4.4 Unable to route"),
            (S.MESSAGE, 554, "5.4.6 Routing loop detected"),
        ],
    ),
    (V.RETRY, [(S.RCPT, 552, "Too many recipients")]),
    (
        V.BOUNCE,
        [
            (S.RCPT, 550, "No such user here"),
            (S.RCPT, 551, "User not local; please try <ada@example.net>"),
            (S.RCPT, 553, "Requested action not taken: mailbox name not allowed"),
        ],
    ),
    (
        V.REFUSING,
        [
            (S.RCPT, 554, "5.7.1 <ada@example.com>: Relay access denied"),
            (S.RCPT, 552, "5.3.4 Message size exceeds fixed maximum message size"),
            (S.RCPT, 503, "5.5.1 Error: need MAIL command"),
            (S.RCPT, 554, "Transaction failed"),
            (S.RCPT, 550, "4.1.1 an enhanced code of the wrong class"),
            (S.DATA, 554, "5.5.1 Error: no valid recipients"),
            (S.MESSAGE, 554, "5.7.1 Message rejected as spam"),
            (S.MESSAGE, 552, "5.3.4 Message size exceeds fixed maximum message size"),
            (S.MESSAGE, 552, "Requested mail action aborted: exceeded storage allocation"),
            (S.MESSAGE, 550, "Message rejected"),
            (S.MESSAGE, 554, "5.3.0 Other mail system problem"),
        ],
    ),
]


def test_every_row_of_the_table_has_examples() -> None:
    assert len(ROWS) == len(RULES)
    assert all(examples for _, examples in ROWS)


@pytest.mark.parametrize(
    ("row", "verdict", "examples"),
    [(n, verdict, examples) for n, (verdict, examples) in enumerate(ROWS)],
    ids=[f"{n}-{verdict.value}" for n, (verdict, _) in enumerate(ROWS)],
)
def test_each_row_of_the_table_decides_its_replies(
    row: int, verdict: Verdict, examples: list[Example]
) -> None:
    assert RULES[row].verdict is verdict, RULES[row].why
    for stage, code, text in examples:
        assert rule_for(stage, code, text) is RULES[row], (stage, code, text)
        assert Reply(stage, code, text).verdict is verdict


def test_a_sender_refused_at_mail_from_counts_against_nobody() -> None:
    # Finding 1: a reply about the sender bounced every reader of the list.
    for code, text in [(530, "5.7.0 Authentication required"), (552, "5.3.4 too big")]:
        verdict = classify(Stage.MAIL, code, text)
        assert verdict is Verdict.REFUSING and verdict.pauses


def test_enhanced_codes_are_read_from_the_start_of_the_text() -> None:
    assert enhanced_code("5.1.1 <a@b.example>: no such user") == (5, 1, 1)
    assert enhanced_code("  4.7.1 greylisted") == (4, 7, 1)
    assert enhanced_code("5.1.10 null MX") == (5, 1, 10)
    assert enhanced_code("no such user 5.1.1") is None
    assert enhanced_code("3.1.1 not a class") is None
    assert enhanced_code("5.1 short") is None


CODES = st.one_of(st.none(), st.integers(0, 999))
ENHANCED_TEXT = st.builds(
    lambda c, s, d, rest: f"{c}.{s}.{d} {rest}",
    st.sampled_from([2, 4, 5]),
    st.integers(0, 999),
    st.integers(0, 999),
    st.text(max_size=30),
)
TEXTS = st.one_of(st.text(max_size=60), ENHANCED_TEXT)


@given(st.sampled_from(Stage), CODES, TEXTS)
def test_every_reply_gets_a_verdict_and_only_a_recipients_mailbox_bounces(
    stage: Stage, code: int | None, text: str
) -> None:
    verdict = classify(stage, code, text)
    assert verdict in Verdict
    enhanced = enhanced_code(text)
    if verdict is Verdict.BOUNCE:
        assert stage in (Stage.RCPT, Stage.MESSAGE)
        assert code is not None and 500 <= code < 600
        recipients = enhanced is not None and enhanced[:2] in ((5, 1), (5, 2))
        classic = enhanced is None and stage is Stage.RCPT and code in (550, 551, 553)
        assert recipients or classic
    if verdict is Verdict.SENT:
        assert stage is Stage.MESSAGE and code is not None and 200 <= code < 300
    if code == 421:
        assert verdict is Verdict.RELAY_DOWN
    opening = stage in (Stage.CONNECT, Stage.EHLO, Stage.STARTTLS, Stage.AUTH)
    if opening:
        assert verdict.pauses
    if stage is Stage.MAIL:
        assert verdict in (Verdict.RETRY, Verdict.RELAY_DOWN, Verdict.REFUSING)
    if code is None:  # a silence: down while opening, ambiguous only after the final dot
        silent = Verdict.POSSIBLY_DELIVERED if stage is Stage.MESSAGE else Verdict.RETRY
        assert verdict is (Verdict.RELAY_DOWN if opening else silent)


@given(st.sampled_from(Stage), CODES, st.text(max_size=60))
def test_what_the_operator_reads_is_never_empty_and_one_line(
    stage: Stage, code: int | None, text: str
) -> None:
    said = str(DeliveryError(Reply(stage, code, text)))
    assert said.strip() and "\n" not in said and "\r" not in said
    assert said.endswith(f"(at {stage.value})")
