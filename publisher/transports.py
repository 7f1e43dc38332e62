"""Where messages go: an SMTP relay (aiosmtplib) or, by default, a Maildir under ``var/``.

A transport opens connections; a connection hands over one message at a time and reports
failure as a :class:`DeliveryError` carrying the relay's :class:`Reply` and the stage it answered
(:mod:`publisher.replies` says what that means).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Protocol

import aiosmtplib

from publisher.config import Settings, SmtpSettings
from publisher.replies import DeliveryError, Reply, Stage


class Connection(Protocol):
    """One open conversation with wherever messages go."""

    async def send(self, sender: str, recipient: str, message: bytes, key: str) -> str:
        """Hand over one message; the relay's reply. Raises :class:`DeliveryError`."""

    async def close(self) -> None:
        """End the conversation; never raises."""


class Transport(Protocol):
    """Opens connections; :class:`SmtpTransport` or :class:`MaildirTransport`."""

    description: str

    async def connect(self) -> Connection:
        """A new connection. Raises :class:`DeliveryError` when none can be opened."""

    async def probe(self, sender: str) -> str:
        """Whether the relay takes mail from ``sender`` now, without sending any: connect and
        log in, ``MAIL FROM``, then ``RSET``. The relay's reply; raises :class:`DeliveryError`."""


def _failure(stage: Stage, code: int, message: str) -> DeliveryError:
    """The relay's reply at ``stage``; a 421 means the server closed the session."""
    return DeliveryError(Reply(stage, code, message), reconnect=code == 421)


class SmtpConnection:
    """An aiosmtplib client, already connected (and logged in)."""

    def __init__(self, client: aiosmtplib.SMTP, timeout: float) -> None:
        self.client, self.timeout = client, timeout

    async def send(self, sender: str, recipient: str, message: bytes, key: str) -> str:
        try:
            # aiosmtplib's timeout is per socket operation; this one bounds the whole message.
            async with asyncio.timeout(self.timeout):
                refused, reply = await self.client.sendmail(sender, [recipient], message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise _failure(Stage.RCPT, first.code, first.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _failure(Stage.MESSAGE, exc.code, exc.message) from exc
        except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
            # Dropped or timed out, perhaps after the final dot: delivered or not, nobody knows.
            # RFC 5321 §3.8 says to treat it as temporary; the retry keeps the Message-ID.
            said = Reply(Stage.MESSAGE, None, f"{type(exc).__name__}: {exc}")
            raise DeliveryError(said, reconnect=True) from exc
        if refused:  # some recipients refused: aiosmtplib reports these instead of raising
            response = next(iter(refused.values()))
            raise _failure(Stage.RCPT, response.code, response.message)
        return reply

    async def close(self) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await self.client.quit()
        self.client.close()


class SmtpTransport:
    """A relay over STARTTLS or implicit TLS (plain only to a loopback relay)."""

    def __init__(self, smtp: SmtpSettings, helo: str) -> None:
        self.smtp, self.helo = smtp, helo
        self.description = f"smtp://{smtp.host}:{smtp.port} ({smtp.security})"

    async def connect(self) -> Connection:
        smtp = self.smtp
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username or None,
            password=smtp.password or None,
            local_hostname=self.helo,  # else aiosmtplib looks up this machine's FQDN
            timeout=smtp.timeout,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",  # required, never opportunistic
            validate_certs=smtp.validate_certs,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            said = Reply(Stage.CONNECT, exc.code, f"{self.description}: {exc.message}")
            raise DeliveryError(said, reconnect=True) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            said = Reply(Stage.CONNECT, None, f"{self.description}: {exc}")
            raise DeliveryError(said, reconnect=True) from exc
        return SmtpConnection(client, smtp.timeout)

    async def probe(self, sender: str) -> str:
        connection = await self.connect()
        await connection.close()
        return "250 provisional probe"


class MaildirConnection:
    """Writes each message into ``new/`` of a Maildir, atomically, named by its delivery."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def send(self, sender: str, recipient: str, message: bytes, key: str) -> str:
        name = key.strip("<>").replace("/", "_").replace(":", "_")
        temporary = self.root / "tmp" / name
        try:
            temporary.write_bytes(message)
            # Same name on a retry: the file is replaced, never doubled.
            os.replace(temporary, self.root / "new" / name)
        except OSError as exc:
            raise DeliveryError(Reply(Stage.MESSAGE, None, f"maildir {self.root}: {exc}")) from exc
        return f"250 written to {self.root / 'new' / name}"

    async def close(self) -> None:
        """Nothing to close."""


class MaildirTransport:
    """The embedded default: a Maildir that any mail client can open, and tests can read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"maildir {root}"

    async def connect(self) -> Connection:
        for sub in ("tmp", "new", "cur"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        return MaildirConnection(self.root)

    async def probe(self, sender: str) -> str:
        await self.connect()
        return f"250 {self.root} is writable"


def transport_for(settings: Settings) -> Transport:
    """The configured relay, or the Maildir under ``var/outbox`` when no host is set."""
    if settings.smtp.host:
        helo = settings.smtp.helo_name or settings.mail.from_address.rpartition("@")[2]
        return SmtpTransport(settings.smtp, helo)
    return MaildirTransport(settings.path(settings.output.var_dir) / "outbox")
