"""The confirmation mail of double opt-in: one plain-text message, sent at once.

It carries the site's name, the address and a signed, expiring link — never text a visitor
typed, so the subscribe form cannot be used to mail strangers someone else's words.
"""

from __future__ import annotations

import time
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr, make_msgid

from jinja2 import Environment

from publisher.compose import header_text
from publisher.config import Settings
from publisher.models import Subscriber
from publisher.render import render
from publisher.subscribers import envelope_address
from publisher.tokens import confirm_token

VALID_HOURS = 48


def confirm_url(settings: Settings, subscriber: Subscriber, now: datetime) -> str:
    """The link that confirms ``subscriber``, valid for :data:`VALID_HOURS`."""
    expires = int(now.timestamp()) + VALID_HOURS * 3600
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
        hours=VALID_HOURS,
    )
    sender = settings.mail.from_address
    domain = sender.rpartition("@")[2]
    to = envelope_address(subscriber.address)
    # A UTF-8 local part is written as it is (RFC 6532), sent only where SMTPUTF8 is offered.
    message = EmailMessage(policy=SMTPUTF8 if to.smtputf8 else SMTP)
    message["From"] = formataddr(
        (header_text(settings.mail.from_name or settings.site.title), sender)
    )
    message["To"] = to.address
    message["Subject"] = header_text(f"Confirm your subscription to {settings.site.title}")
    message["Date"] = format_datetime(now)
    # With a domain: make_msgid would otherwise look up this host's name (slow, and it leaks).
    message_id = make_msgid(f"confirm.{subscriber.id}.{int(time.time())}", domain=domain)
    message["Message-ID"] = message_id
    message.set_content(text)
    return message_id, message.as_bytes()
