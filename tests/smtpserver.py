"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording what it receives, with
scripted replies at MAIL FROM, RCPT, DATA and after the message, dropped connections before and
after the final dot, slow replies, refused logins, EHLO with or without SMTPUTF8, a relay that
goes down (connections refused) and comes up again on its port, and a connection count.

aiosmtpd's ``Controller(port=0)`` does not work (it probes the literal port), so a free port is
picked first; ``ready_timeout`` is generous for loaded CI machines.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

DROP = "drop"  # a scripted reply that closes the connection instead of answering


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    options: list[str] = field(default_factory=list)  # MAIL FROM's parameters (SIZE=, SMTPUTF8)

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Script:
    """What the server answers. Lists are consumed one reply per command; ``None`` = accept,
    :data:`DROP` = close the connection instead of answering."""

    mail: deque[str | None] = field(default_factory=deque)  # per MAIL FROM, any sender
    rcpt: dict[str, deque[str | None]] = field(default_factory=dict)  # per recipient address
    data_command: deque[str | None] = field(default_factory=deque)  # per DATA, instead of 354
    data: deque[str | None] = field(default_factory=deque)  # per message, after the final dot
    drop: deque[bool] = field(default_factory=deque)  # per message: close before replying
    data_delay: float = 0.0  # seconds before the reply to the message (it is kept meanwhile)
    refuse_logins: bool = False  # AUTH answers 535 5.7.8


def scripted(server: SMTP, replies: deque[str | None] | None) -> str | None:
    """The next scripted reply, if any; :data:`DROP` closes the connection first."""
    reply = replies.popleft() if replies else None
    if reply == DROP:
        assert server.transport is not None
        server.transport.close()
        return "451 never seen"
    return reply


class Recorder:
    """The aiosmtpd handler."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script = Script()
        self.lock = threading.Lock()
        self.open = 0
        self.most_open = 0
        self.logins: list[tuple[str, str]] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = scripted(server, self.script.mail)
        if reply is not None:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = scripted(server, self.script.rcpt.get(address))
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.script.drop and self.script.drop.popleft():
            assert server.transport is not None
            server.transport.close()
            return "451 never seen"
        reply = scripted(server, self.script.data)
        if reply is not None:
            return reply
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    envelope.content,
                    list(envelope.mail_options),
                )
            )
        if self.script.data_delay:  # accepted, but the reply comes late
            await asyncio.sleep(self.script.data_delay)
        return "250 2.0.0 queued"

    def connected(self, change: int) -> None:
        with self.lock:
            self.open += change
            self.most_open = max(self.most_open, self.open)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """Accept any login and remember it, unless told to refuse them."""
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        # handled=False: aiosmtpd answers a refusal itself, 535 5.7.8.
        return AuthResult(success=not self.script.refuse_logins, handled=False)


class CountingSMTP(SMTP):
    """Counts connections open at once."""

    def __init__(self, handler: Recorder, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.recorder = handler

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.recorder.connected(+1)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.recorder.connected(-1)
        super().connection_lost(error)

    async def smtp_DATA(self, arg: str) -> None:
        """The DATA command, answered from the script before any of the message is read."""
        reply = scripted(self, self.recorder.script.data_command)
        if reply is None:
            await super().smtp_DATA(arg)
        elif self.transport is not None and not self.transport.is_closing():
            await self.push(reply)


class TestController(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailServer:
    """Start with :meth:`start`, stop with :meth:`stop` (the fixture does both)."""

    def __init__(self, smtputf8: bool = True) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.running = False
        self.controller = TestController(
            self.recorder,
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=10,
            server_hostname="mx.test",  # no getfqdn() look-up
            enable_SMTPUTF8=smtputf8,  # else EHLO does not offer it, and MAIL FROM refuses it
            authenticator=self.recorder.authenticate,
            auth_require_tls=False,  # loopback only: lets the tests see the login
        )

    @property
    def script(self) -> Script:
        return self.recorder.script

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def start(self) -> MailServer:
        self.controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    def down(self) -> None:
        """Stop listening: a connection to the port is refused until :meth:`up`."""
        self.stop()

    def up(self) -> None:
        """Listen on the same port again (the old event loop closed with the old server)."""
        self.controller.loop = asyncio.new_event_loop()
        self.start()

    def environ(self) -> dict[str, str]:
        """Settings that point the publisher at this server."""
        return {
            "PUBLISHER_SMTP__HOST": "127.0.0.1",
            "PUBLISHER_SMTP__PORT": str(self.port),
            "PUBLISHER_SMTP__SECURITY": "plain",
        }

    def wait_for(self, count: int, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
