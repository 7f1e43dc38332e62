"""Where messages go: an SMTP relay (aiosmtplib) or, by default, a Maildir under ``var/``.

A transport opens connections; a connection hands over one message at a time and reports
failure as a :class:`DeliveryError` carrying the relay's :class:`Reply` and the stage it answered
(:mod:`publisher.mail.replies` says what that means). So the SMTP conversation is held one
command at a time: a silence before the final dot means the message was certainly not
delivered, one after
it that it may have been.

A sender may hand over a message before it knows the message is still its to send: the
envelope goes while ``cleared`` is pending, and the text only once it says yes (otherwise
:class:`Withdrawn`). So the store's commit of "this one is in flight" overlaps with the
relay's answers to ``MAIL`` and ``RCPT`` instead of preceding them, and nothing that could be
delivered leaves before that commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import aiosmtplib

from publisher.addresses import Mailbox, envelope_address
from publisher.config.settings import Settings, SmtpSettings
from publisher.mail.replies import DeliveryError, Reply, Stage, Verdict

LINE_END = re.compile(rb"\r\n|\r|\n")
LEADING_DOT = re.compile(rb"(?m)^\.")
CLOSED = (
    aiosmtplib.SMTPServerDisconnected,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
)
#: What the relay was asked when it said nothing, for "no reply within 30 s to MAIL FROM".
ASKED = {
    Stage.CONNECT: "while connecting",
    Stage.EHLO: "to EHLO",
    Stage.STARTTLS: "to STARTTLS",
    Stage.AUTH: "to AUTH",
    Stage.MAIL: "to MAIL FROM",
    Stage.RCPT: "to RCPT TO",
    Stage.DATA: "to DATA",
    Stage.MESSAGE: "after the message was sent",
}


class Withdrawn(Exception):
    """The sender took a message back before its text went (``cleared`` said no): nothing was
    delivered, and the conversation stopped where it was, so the connection is to be closed."""


class Connection(Protocol):
    """One open conversation with wherever messages go."""

    async def send(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        key: str,
        cleared: Awaitable[bool] | None = None,
    ) -> str:
        """Hand over one message; the relay's reply. Raises :class:`DeliveryError`, or
        :class:`Withdrawn` when ``cleared`` (awaited before the text goes) is false."""

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


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, outermost first (aiosmtplib wraps socket errors)."""
    found = [exc]
    while (cause := found[-1].__cause__) is not None and len(found) < 10:
        found.append(cause)
    return found


def _silence(stage: Stage, exc: Exception, timeout: float) -> str:
    """What happened when the relay gave no reply, in the operator's words."""
    causes = _chain(exc)
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    if any(isinstance(cause, TimeoutError) for cause in causes):
        return f"no reply within {timeout:g} s {ASKED[stage]}"
    if any(isinstance(cause, CLOSED) for cause in causes):
        return "connection closed by the relay"
    return " ".join(str(exc).split()) or type(exc).__name__


def failure(stage: Stage, exc: Exception, timeout: float) -> DeliveryError:
    """The relay's reply at ``stage``, or what its silence was. Only a reply other than 421
    leaves the connection usable (aiosmtplib gives a malformed reply the code -1)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code > 0:
        reply = Reply(stage, exc.code, " ".join(exc.message.split()))
        return DeliveryError(reply, reconnect=exc.code == 421)
    return DeliveryError(Reply(stage, None, _silence(stage, exc, timeout)), reconnect=True)


def wire_form(message: bytes) -> tuple[bytes, int]:
    """The message as ``DATA`` carries it — CRLF line ends, leading dots doubled, the final
    dot — and its size for ``SIZE=`` (RFC 1870: with CRLFs, before the dots are doubled).

    A digest comes with CRLFs and no line starting with a dot, and the regular expressions
    would copy its 20 KB for nothing (a fifth of the sender's CPU): counting and finding are
    scans in C, so a message that needs nothing done is only checked.
    """
    crlf = message.count(b"\r\n")
    bare = crlf != message.count(b"\n") or crlf != message.count(b"\r")
    text = LINE_END.sub(b"\r\n", message) if bare else message
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    if text.startswith(b".") or b"\n." in text:
        return LEADING_DOT.sub(b"..", text) + b".\r\n", len(text)
    return text + b".\r\n", len(text)


class SmtpConnection:
    """An aiosmtplib client, already greeted (and logged in)."""

    def __init__(self, client: aiosmtplib.SMTP, timeout: float) -> None:
        self.client, self.timeout = client, timeout

    async def send(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        key: str,
        cleared: Awaitable[bool] | None = None,
    ) -> str:
        source, target = envelope_address(sender), envelope_address(recipient)
        wire, size = wire_form(message)
        size_option = [f"SIZE={size}"] if self.client.supports_extension("size") else []
        utf8 = self._utf8(source, target)
        stage = Stage.MAIL
        try:
            # aiosmtplib's timeout is per command; smtp.timeout is for the whole message.
            async with asyncio.timeout(self.timeout) as deadline:
                options = size_option + utf8
                await self.client.mail(source.address, options=options, encoding=_enc(utf8))
                stage = Stage.RCPT
                await self.client.rcpt(target.address, encoding=_enc(utf8))
                if cleared is not None:
                    await self._cleared(cleared, deadline)
                stage = Stage.DATA
                started = await self.client.execute_command(b"DATA")
                if started.code != 354:
                    raise aiosmtplib.SMTPDataError(started.code, started.message)
                stage = Stage.MESSAGE
                return await self._message(wire)
        except (aiosmtplib.SMTPException, OSError) as exc:  # OSError: TimeoutError too
            raise await self._failed(stage, exc) from exc

    @staticmethod
    async def _cleared(cleared: Awaitable[bool], deadline: asyncio.Timeout) -> None:
        """Wait for the sender's word off the relay's clock (it waits for the store, which
        may be slow); :class:`Withdrawn` on a no."""
        loop = asyncio.get_running_loop()
        left = (deadline.when() or loop.time()) - loop.time()
        deadline.reschedule(None)
        go = await cleared
        deadline.reschedule(loop.time() + left)
        if not go:
            raise Withdrawn

    async def try_sender(self, sender: str) -> str:
        """``MAIL FROM`` and ``RSET``, nothing sent: whether the relay takes this sender."""
        source = envelope_address(sender)
        utf8 = self._utf8(source, source)
        try:
            said = await self.client.mail(source.address, options=utf8, encoding=_enc(utf8))
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise await self._failed(Stage.MAIL, exc) from exc
        await self._reset()
        return str(said)

    def _utf8(self, source: Mailbox, target: Mailbox) -> list[str]:
        """``SMTPUTF8`` when an address needs it. RFC 6531 lets a non-ASCII address go only
        to a relay that offers it; to any other this is refused before a word is sent, with the
        reply (553, X.6.7) an SMTPUTF8 relay gives an address it cannot take."""
        if not (source.smtputf8 or target.smtputf8):
            return []
        if self.client.supports_extension("smtputf8"):
            return ["SMTPUTF8"]
        stage, who = (Stage.MAIL, source) if source.smtputf8 else (Stage.RCPT, target)
        said = f"5.6.7 {who.address}: the relay does not offer SMTPUTF8, which this address needs"
        raise DeliveryError(Reply(stage, 553, said))

    async def _message(self, wire: bytes) -> str:
        """The message and its final reply, written through aiosmtplib's protocol as its
        ``data()`` would, but apart from the ``DATA`` command: a silence here is ambiguous."""
        protocol = self.client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        protocol.write(wire)
        said = await protocol.read_response(timeout=None)  # the deadline of send() holds
        if Reply(Stage.MESSAGE, said.code, said.message).verdict is not Verdict.SENT:
            raise aiosmtplib.SMTPDataError(said.code, said.message)
        return str(said)

    async def _failed(self, stage: Stage, exc: Exception) -> DeliveryError:
        """The error for ``exc`` at ``stage``, leaving the connection closed or ready for the
        next message: a refused envelope is reset (``RSET``)."""
        error = failure(stage, exc, self.timeout)
        if error.reconnect:
            self.client.close()
        elif stage is not Stage.MESSAGE and not await self._reset():
            error.reconnect = True
        return error

    async def _reset(self) -> bool:
        """``RSET``; whether the connection can still be used."""
        try:
            await self.client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self.client.close()
            return False
        return True

    async def close(self) -> None:
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await self.client.quit()
        self.client.close()


def _enc(utf8: list[str]) -> str:
    """How aiosmtplib is to encode the envelope's addresses."""
    return "utf-8" if utf8 else "ascii"


class SmtpTransport:
    """A relay over STARTTLS or implicit TLS (plain only to a loopback relay)."""

    def __init__(self, smtp: SmtpSettings, helo: str) -> None:
        self.smtp, self.helo = smtp, helo
        self.description = f"smtp://{smtp.host}:{smtp.port} ({smtp.security})"

    async def connect(self) -> Connection:
        return await self._open()

    async def _open(self) -> SmtpConnection:
        """Connect, EHLO, STARTTLS (then EHLO again, RFC 3207 §4.2) and AUTH, one step at a
        time so that a failure names its stage."""
        smtp = self.smtp
        client = aiosmtplib.SMTP(
            hostname=smtp.host,
            port=smtp.port,
            local_hostname=self.helo,  # else aiosmtplib looks up this machine's FQDN
            timeout=smtp.timeout,
            use_tls=smtp.security == "tls",
            start_tls=False,  # done below, required, never opportunistic
            validate_certs=smtp.validate_certs,
        )
        steps: list[tuple[Stage, Callable[[], Awaitable[object]]]] = [
            (Stage.CONNECT, client.connect),
            (Stage.EHLO, client.ehlo),
        ]
        if smtp.security == "starttls":
            steps += [(Stage.STARTTLS, client.starttls), (Stage.EHLO, client.ehlo)]
        if smtp.username:
            steps.append(
                (Stage.AUTH, functools.partial(client.login, smtp.username, smtp.password))
            )
        for stage, step in steps:
            try:
                await step()
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                error = failure(stage, exc, smtp.timeout)
                error.reconnect = True
                raise error from exc
        return SmtpConnection(client, smtp.timeout)

    async def probe(self, sender: str) -> str:
        connection = await self._open()
        try:
            return await connection.try_sender(sender)
        finally:
            await connection.close()


class MaildirConnection:
    """Writes each message into ``new/`` of a Maildir, atomically, named by its delivery."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def send(
        self,
        sender: str,
        recipient: str,
        message: bytes,
        key: str,
        cleared: Awaitable[bool] | None = None,
    ) -> str:
        if cleared is not None and not await cleared:
            raise Withdrawn
        name = key.strip("<>").replace("/", "_").replace(":", "_")
        temporary = self.root / "tmp" / name
        try:
            temporary.write_bytes(message)
            # Same name on a retry: the file is replaced, never doubled.
            os.replace(temporary, self.root / "new" / name)
        except OSError as exc:
            raise _unwritable(self.root, exc) from exc
        return f"250 written to {self.root / 'new' / name}"

    async def close(self) -> None:
        """Nothing to close."""


def _unwritable(root: Path, exc: OSError) -> DeliveryError:
    """A folder that takes no file is this transport's relay being down: nothing was delivered,
    and the probe tells when it takes files again."""
    return DeliveryError(Reply(Stage.CONNECT, None, f"maildir {root}: {exc}"), reconnect=True)


class MaildirTransport:
    """The embedded default: a Maildir that any mail client can open, and tests can read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.description = f"maildir {root}"

    async def connect(self) -> Connection:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(self.root, exc) from exc
        return MaildirConnection(self.root)

    async def probe(self, sender: str) -> str:
        await self.connect()
        trial = self.root / "tmp" / f"probe.{os.getpid()}"
        try:
            trial.write_bytes(b"")
            trial.unlink()
        except OSError as exc:
            raise _unwritable(self.root, exc) from exc
        return f"250 {self.root} is writable"


def transport_for(settings: Settings) -> Transport:
    """The configured relay, or the Maildir under ``var/outbox`` when no host is set."""
    if settings.smtp.host:
        helo = settings.smtp.helo_name or settings.mail.from_address.rpartition("@")[2]
        return SmtpTransport(settings.smtp, helo)
    return MaildirTransport(settings.path(settings.output.var_dir) / "outbox")
