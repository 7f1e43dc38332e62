"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, recording what it receives, with
scripted replies at RCPT and DATA, dropped connections, slow replies and a connection count.

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


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Script:
    """What the server answers. Lists are consumed one reply per command; ``None`` = accept."""

    rcpt: dict[str, deque[str | None]] = field(default_factory=dict)  # per recipient address
    data: deque[str | None] = field(default_factory=deque)  # per DATA, any recipient
    drop: deque[bool] = field(default_factory=deque)  # per DATA: close before replying
    data_delay: float = 0.0  # seconds before the reply to DATA


class Recorder:
    """The aiosmtpd handler."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script = Script()
        self.lock = threading.Lock()
        self.open = 0
        self.most_open = 0
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        replies = self.script.rcpt.get(address)
        reply = replies.popleft() if replies else None
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.script.drop and self.script.drop.popleft():
            assert server.transport is not None
            server.transport.close()
            return "451 never seen"
        reply = self.script.data.popleft() if self.script.data else None
        if reply is not None:
            return reply
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), envelope.content)
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
        """Accept any login and remember it."""
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


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


class TestController(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailServer:
    """Start with :meth:`start`, stop with :meth:`stop` (the fixture does both)."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = TestController(
            self.recorder,
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=10,
            server_hostname="mx.test",  # no getfqdn() look-up
            enable_SMTPUTF8=True,
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
        return self

    def stop(self) -> None:
        self.controller.stop()

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
