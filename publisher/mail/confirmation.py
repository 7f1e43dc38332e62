"""The mails of double opt-in — the confirmation, and the welcome once confirmed: each one
plain-text message, sent at once by the web process that took the request (the reader is
waiting for it; it does not queue behind an issue of many thousands in the outbox).

It carries the site's name, the address and a signed, expiring link — never text a visitor
typed, so the subscribe form cannot be used to mail strangers someone else's words.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid

from jinja2 import Environment

from publisher.addresses import mailbox
from publisher.config.settings import Settings
from publisher.mail.messages import header_text
from publisher.mail.replies import DeliveryError
from publisher.mail.tokens import confirm_token, token
from publisher.mail.transports import transport_for
from publisher.models import Subscriber
from publisher.site.render import render

log = logging.getLogger(__name__)


def confirm_url(settings: Settings, subscriber: Subscriber, now: datetime) -> str:
    """The link that confirms ``subscriber``, valid for ``web.pending_hours``: as long as an
    unconfirmed subscription is kept (see
    :meth:`publisher.store.subscribers.Subscribers.request`)."""
    expires = int(now.timestamp()) + settings.web.pending_hours * 3600
    return f"{settings.site.base_url}confirm/{confirm_token(subscriber, expires)}"


def confirmation(
    env: Environment, settings: Settings, subscriber: Subscriber, now: datetime
) -> tuple[str, bytes]:
    """``(message_id, bytes)`` of the confirmation mail to ``subscriber``."""
    text = render(
        env,
        "email/confirm.txt",
        site=settings.site,
        mail=settings.mail,
        address=subscriber.address,
        digests=subscriber.digests,
        url=confirm_url(settings, subscriber, now),
        hours=settings.web.pending_hours,
    )
    subject = f"Confirm your subscription to {settings.site.title}"
    return _message(settings, subscriber, now, "confirm", subject, text)


def welcome(
    env: Environment, settings: Settings, subscriber: Subscriber, now: datetime
) -> tuple[str, bytes]:
    """``(message_id, bytes)`` of the mail a reader gets once confirmed: what they will
    receive and when, and the link to their preferences page."""
    chosen = [d for d in settings.digests if d.name in subscriber.digests]
    text = render(
        env,
        "email/welcome.txt",
        site=settings.site,
        mail=settings.mail,
        address=subscriber.address,
        digests=chosen,
        manage=f"{settings.site.base_url}manage/{token(subscriber, 'manage')}",
    )
    subject = f"Welcome to {settings.site.title}"
    return _message(settings, subscriber, now, "welcome", subject, text)


def _message(
    settings: Settings, subscriber: Subscriber, now: datetime, kind: str, subject: str, text: str
) -> tuple[str, bytes]:
    """One plain-text mail from the site to one subscriber."""
    sender, to = mailbox(settings.mail.from_address), mailbox(subscriber.address)
    domain = sender.domain
    # A UTF-8 local part is written as it is (RFC 6532), sent only where SMTPUTF8 is offered.
    utf8 = not (sender.username.isascii() and to.username.isascii())
    message = EmailMessage(policy=SMTPUTF8 if utf8 else SMTP)
    name = header_text(settings.mail.from_name or settings.site.title)
    message["From"] = Address(name, sender.username, sender.domain)
    message["To"] = to
    message["Subject"] = header_text(subject)
    message["Date"] = format_datetime(now)
    # With a domain: make_msgid would otherwise look up this host's name (slow, and it leaks).
    message_id = make_msgid(f"{kind}.{subscriber.id}.{int(time.time())}", domain=domain)
    message["Message-ID"] = message_id
    message.set_content(text)
    return message_id, message.as_bytes()


async def send_confirmation(
    env: Environment, settings: Settings, subscriber: Subscriber, now: datetime
) -> None:
    """Mail ``subscriber`` their confirmation link over one connection of its own. A relay that
    refuses or is down is logged, not raised: the reader may ask again once the cooldown is
    over, and the form's answer must not tell a visitor anything about the relay."""
    await _send(settings, subscriber, "confirmation", confirmation(env, settings, subscriber, now))


async def send_welcome(
    env: Environment, settings: Settings, subscriber: Subscriber, now: datetime
) -> None:
    """Mail a reader who just confirmed what they will receive (logged, not raised, when the
    relay refuses: they are subscribed either way, and their digests carry the same links)."""
    await _send(settings, subscriber, "welcome", welcome(env, settings, subscriber, now))


async def _send(
    settings: Settings, subscriber: Subscriber, kind: str, made: tuple[str, bytes]
) -> None:
    key, message = made
    try:
        connection = await transport_for(settings).connect()
        try:
            await connection.send(settings.mail.from_address, subscriber.address, message, key)
        finally:
            await connection.close()
    except DeliveryError as exc:
        log.warning("%s to subscriber %d not sent: %s", kind, subscriber.id, exc)
