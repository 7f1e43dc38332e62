"""The relay-facing half of delivery against a real SMTP server (aiosmtpd): every stage of the
conversation gives its own reply and verdict, a silence after the final dot is told from one
before it, the probe sends nothing, and non-ASCII addresses go only where they can.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.addresses import Mailbox, envelope_address
from publisher.config.settings import SmtpSettings
from publisher.mail.messages import Letter, Links
from publisher.mail.replies import DeliveryError, Stage, Verdict
from publisher.mail.transports import MaildirTransport, SmtpTransport, wire_form
from publisher.models import Issue, Subscriber
from tests.conftest import NOW
from tests.smtpserver import DROP, MailServer

SENDER = "digests@harbornotes.example"
READER = "ada@example.com"
LOGIN = {"username": "harbornotes", "password": "wrong"}  # refused by the relay
MESSAGE = b"From: <digests@harbornotes.example>\r\nSubject: hello\r\n\r\nfirst\r\n.dotted\r\n"


@pytest.fixture
def plain_server() -> Iterator[MailServer]:
    """A relay whose EHLO does not offer SMTPUTF8."""
    server = MailServer(smtputf8=False).start()
    try:
        yield server
    finally:
        server.stop()


def relay(server: MailServer, **changes: Any) -> SmtpTransport:
    chosen: dict[str, Any] = {"security": "plain", "timeout": 5.0, **changes}
    smtp = SmtpSettings(host="127.0.0.1", port=server.port, **chosen)
    return SmtpTransport(smtp, "harbornotes.example")


async def send(
    transport: SmtpTransport, recipient: str = READER, message: bytes = MESSAGE, times: int = 1
) -> list[str | DeliveryError]:
    """``times`` messages over one connection: each reply, or the error it raised."""
    connection = await transport.connect()
    outcomes: list[str | DeliveryError] = []
    try:
        for _ in range(times):
            try:
                outcomes.append(await connection.send(SENDER, recipient, message, "<k@h>"))
            except DeliveryError as exc:
                outcomes.append(exc)
    finally:
        await connection.close()
    return outcomes


def refused(coroutine: Coroutine[Any, Any, object]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(coroutine)
    return caught.value


def failed_once(server: MailServer, transport: SmtpTransport) -> DeliveryError:
    """Send twice over one connection: the first fails, the second gets through."""
    first, second = asyncio.run(send(transport, times=2))
    assert isinstance(first, DeliveryError), first
    assert isinstance(second, str) and second.startswith("250"), second
    assert not first.reconnect  # the envelope was reset, the connection kept
    assert len(server.received) == 1
    return first


def test_a_refused_connection_is_the_relay_down_and_it_comes_up_on_its_port(
    mail_server: MailServer,
) -> None:
    mail_server.down()
    error = refused(send(relay(mail_server)))
    assert (error.reply.stage, error.reply.code) == (Stage.CONNECT, None)
    assert str(error) == "connection refused (at connect)"
    assert error.verdict is Verdict.RELAY_DOWN and error.reconnect
    mail_server.up()
    assert asyncio.run(send(relay(mail_server))) == ["250 2.0.0 queued"]


def test_authentication_required_at_mail_from_refuses_the_sender(mail_server: MailServer) -> None:
    mail_server.script.mail = deque(["530 5.7.0 Authentication required"])
    error = failed_once(mail_server, relay(mail_server))
    assert error.reply.stage is Stage.MAIL
    assert str(error) == "530 5.7.0 Authentication required (at mail)"
    assert error.verdict is Verdict.REFUSING


def test_no_such_user_at_rcpt_bounces_that_reader(mail_server: MailServer) -> None:
    mail_server.script.rcpt[READER] = deque(["550 5.1.1 no such user"])
    error = failed_once(mail_server, relay(mail_server))
    assert str(error) == "550 5.1.1 no such user (at rcpt)"
    assert error.verdict is Verdict.BOUNCE


def test_a_full_mailbox_at_rcpt_is_retried(mail_server: MailServer) -> None:
    mail_server.script.rcpt[READER] = deque(["452 4.2.2 mailbox full"])
    error = failed_once(mail_server, relay(mail_server))
    assert (error.reply.stage, error.reply.code) == (Stage.RCPT, 452)
    assert error.verdict is Verdict.RETRY


def test_a_policy_refusal_after_the_message_refuses_the_sender(mail_server: MailServer) -> None:
    mail_server.script.data = deque(["554 5.7.1 message refused"])
    error = failed_once(mail_server, relay(mail_server))
    assert str(error) == "554 5.7.1 message refused (at message)"
    assert error.verdict is Verdict.REFUSING


def test_a_multiline_reply_is_kept_as_the_relay_said_it_on_one_line(
    mail_server: MailServer,
) -> None:
    mail_server.script.rcpt[READER] = deque(["550-5.1.1 The account does not\r\n550 5.1.1 exist"])
    error = failed_once(mail_server, relay(mail_server))
    assert str(error) == "550 5.1.1 The account does not 5.1.1 exist (at rcpt)"


def test_a_421_closes_the_connection_and_the_relay_counts_as_down(
    mail_server: MailServer,
) -> None:
    mail_server.script.rcpt[READER] = deque(["421 4.3.2 shutting down"])
    [error] = asyncio.run(send(relay(mail_server)))
    assert isinstance(error, DeliveryError)
    assert error.reconnect and error.verdict is Verdict.RELAY_DOWN


def test_a_reply_after_the_timeout_is_possibly_delivered_and_says_so(
    mail_server: MailServer,
) -> None:
    # Finding 3: the relay keeps the message but answers late; retrying makes copies.
    mail_server.script.data_delay = 1.0
    [error] = asyncio.run(send(relay(mail_server, timeout=0.3)))
    assert isinstance(error, DeliveryError)
    assert (error.reply.stage, error.reply.code) == (Stage.MESSAGE, None)
    assert str(error) == "no reply within 0.3 s after the message was sent (at message)"
    assert error.verdict is Verdict.POSSIBLY_DELIVERED and error.reconnect
    assert len(mail_server.received) == 1  # the relay has it


def test_a_drop_before_the_final_dot_is_retried(mail_server: MailServer) -> None:
    mail_server.script.data_command = deque([DROP])
    [error] = asyncio.run(send(relay(mail_server)))
    assert isinstance(error, DeliveryError)
    assert str(error) == "connection closed by the relay (at data)"
    assert error.verdict is Verdict.RETRY and error.reconnect
    assert mail_server.received == []


def test_a_refused_data_command_is_its_own_stage(mail_server: MailServer) -> None:
    mail_server.script.data_command = deque(["451 4.7.1 try later"])
    error = failed_once(mail_server, relay(mail_server))
    assert (error.reply.stage, error.verdict) == (Stage.DATA, Verdict.RETRY)


def test_a_drop_after_the_final_dot_is_possibly_delivered(mail_server: MailServer) -> None:
    mail_server.script.drop = deque([True])
    [error] = asyncio.run(send(relay(mail_server)))
    assert isinstance(error, DeliveryError)
    assert str(error) == "connection closed by the relay (at message)"
    assert error.verdict is Verdict.POSSIBLY_DELIVERED and error.reconnect


def test_the_message_arrives_dot_stuffed_with_its_size_declared(mail_server: MailServer) -> None:
    assert asyncio.run(send(relay(mail_server))) == ["250 2.0.0 queued"]
    [received] = mail_server.received
    assert received.data == MESSAGE  # the dotted line came back unstuffed
    assert f"SIZE={len(MESSAGE)}" in received.options
    assert "SMTPUTF8" not in received.options


@given(st.binary(max_size=300))
def test_the_message_on_the_wire_ends_only_at_its_final_dot(message: bytes) -> None:
    wire, size = wire_form(message)
    lines = wire.split(b"\r\n")
    assert lines[-2:] == [b".", b""]
    body = lines[:-2]
    assert all(line[:1] != b"." or line[:2] == b".." for line in body)
    unstuffed = b"\r\n".join(line[1:] if line[:1] == b"." else line for line in body) + b"\r\n"
    expected = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    assert unstuffed == (expected if expected.endswith(b"\r\n") else expected + b"\r\n")
    assert size == len(unstuffed)


# -- the stages of opening a connection ----------------------------------------------------------


def test_a_refused_login_refuses_the_sender(mail_server: MailServer) -> None:
    mail_server.script.refuse_logins = True
    error = refused(send(relay(mail_server, **LOGIN)))
    assert (error.reply.stage, error.reply.code) == (Stage.AUTH, 535)
    assert error.verdict is Verdict.REFUSING and error.reconnect
    assert mail_server.recorder.logins[0] == ("harbornotes", "wrong")


def test_a_relay_without_starttls_fails_at_that_stage(mail_server: MailServer) -> None:
    error = refused(send(relay(mail_server, security="starttls")))
    assert error.reply.stage is Stage.STARTTLS
    assert "STARTTLS" in str(error).upper()
    assert error.verdict is Verdict.RELAY_DOWN
    assert mail_server.received == []


# -- the probe ------------------------------------------------------------------------------


def test_the_probe_asks_mail_from_and_sends_nothing(mail_server: MailServer) -> None:
    mail_server.script.mail = deque([None])
    assert asyncio.run(relay(mail_server).probe(SENDER)) == "250 OK"
    assert not mail_server.script.mail  # MAIL FROM was asked
    assert mail_server.received == []


def test_the_probe_fails_as_refusing_when_mail_from_is_refused(mail_server: MailServer) -> None:
    mail_server.script.mail = deque(["550 5.7.1 Sender refused"])
    error = refused(relay(mail_server).probe(SENDER))
    assert str(error) == "550 5.7.1 Sender refused (at mail)"
    assert error.verdict is Verdict.REFUSING


def test_the_probe_finds_a_relay_down(mail_server: MailServer) -> None:
    mail_server.down()
    error = refused(relay(mail_server).probe(SENDER))
    assert error.verdict is Verdict.RELAY_DOWN


def test_the_probe_logs_in_first(mail_server: MailServer) -> None:
    mail_server.script.refuse_logins = True
    error = refused(relay(mail_server, **LOGIN).probe(SENDER))
    assert (error.reply.stage, error.verdict) == (Stage.AUTH, Verdict.REFUSING)


def test_the_maildir_probe_checks_its_folder_takes_files(tmp_path: Path) -> None:
    assert asyncio.run(MaildirTransport(tmp_path / "outbox").probe(SENDER)).startswith("250")
    (tmp_path / "file").write_text("not a folder")
    error = refused(MaildirTransport(tmp_path / "file" / "outbox").probe(SENDER))
    assert error.verdict is Verdict.RELAY_DOWN
    assert "file" in str(error)


def test_a_maildir_that_takes_no_file_is_down_not_possibly_delivered(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")

    async def send_one() -> str:
        connection = await transport.connect()
        (tmp_path / "outbox" / "tmp").rmdir()
        (tmp_path / "outbox" / "tmp").write_text("in the way")
        return await connection.send(SENDER, READER, MESSAGE, "<k@h>")

    error = refused(send_one())
    assert error.verdict is Verdict.RELAY_DOWN
    assert list((tmp_path / "outbox" / "new").iterdir()) == []


# -- non-ASCII addresses (finding 8) -------------------------------------------------------------


def test_the_envelope_form_of_an_address() -> None:
    assert envelope_address("ada@example.com") == Mailbox("ada@example.com", False)
    assert envelope_address("user@bücher.example") == Mailbox("user@xn--bcher-kva.example", False)
    assert envelope_address("jörg@example.org") == Mailbox("jörg@example.org", True)
    assert envelope_address("jörg@bücher.example") == Mailbox("jörg@xn--bcher-kva.example", True)


def digest_for(address: str) -> bytes:
    """A composed digest to ``address``: its ``To:`` is compose's."""
    issue = Issue(41, "daily", "2026-03-29T12:00", NOW, "0011223344556677", "Hi", "<p>x</p>", "x")
    links = Links("https://harbornotes.example/", SENDER)
    letter = Letter(issue, "Harbor Notes", SENDER, links)
    return letter.bytes_for(Subscriber(7, address, "active", "secret"))


def test_a_non_ascii_local_part_goes_with_smtputf8_when_the_relay_offers_it(
    mail_server: MailServer,
) -> None:
    message = digest_for("jörg@example.org")
    assert asyncio.run(send(relay(mail_server), "jörg@example.org", message))[0] == (
        "250 2.0.0 queued"
    )
    [received] = mail_server.received
    assert received.recipients == ["jörg@example.org"]
    assert "SMTPUTF8" in received.options
    assert "To: jörg@example.org\r\n".encode() in received.data  # RFC 6532: as UTF-8


def test_a_non_ascii_local_part_fails_at_once_where_the_relay_lacks_smtputf8(
    plain_server: MailServer,
) -> None:
    async def two_readers() -> str:
        connection = await relay(plain_server).connect()
        try:
            with pytest.raises(DeliveryError) as caught:
                await connection.send(
                    SENDER, "jörg@example.org", digest_for("jörg@example.org"), "<1@h>"
                )
            assert plain_server.received == []  # not a word of it reached the relay
            error = caught.value
            assert (error.reply.stage, error.reply.code) == (Stage.RCPT, 553)
            assert error.reply.text.startswith(
                "5.6.7 jörg@example.org: the relay does not offer SMTPUTF8"
            )
            assert error.verdict is Verdict.FAIL and not error.reconnect  # nobody bounced
            return await connection.send(SENDER, READER, MESSAGE, "<2@h>")
        finally:
            await connection.close()

    assert asyncio.run(two_readers()) == "250 2.0.0 queued"  # the same connection goes on


def test_a_non_ascii_domain_arrives_in_ascii_at_any_relay(plain_server: MailServer) -> None:
    message = digest_for("user@bücher.example")
    replies = asyncio.run(send(relay(plain_server), "user@bücher.example", message))
    assert replies == ["250 2.0.0 queued"]
    [received] = plain_server.received
    assert received.recipients == ["user@xn--bcher-kva.example"]
    assert "SMTPUTF8" not in received.options
    assert b"To: user@xn--bcher-kva.example\r\n" in received.data
    assert received.data.isascii()
