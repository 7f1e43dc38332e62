"""Signed links for subscribers: unguessable, checkable without a session, and never the address.

Each subscriber has a random secret; a link carries the subscriber's id and an HMAC of the link's
purpose under that secret, so forging one needs the secret and a leaked link works for its own
purpose only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from publisher.models import Subscriber

MAX_ID = 2**31 - 1  # subscribers.id is an INTEGER: 32 bits on PostgreSQL
MAX_DIGITS = 19  # an expiry time in Unix seconds fits with room to spare
FORM_SECONDS = 24 * 3600  # a form page left open for a day still posts
CLOCK_SLACK = 300  # web processes on several machines may disagree on the time a little


def _number(text: str, limit: int) -> int | None:
    """``text`` as a number when it is 1 to :data:`MAX_DIGITS` ASCII digits up to ``limit``.

    ``str.isdigit`` alone is not enough: ``"²".isdigit()`` holds and ``int("²")`` raises,
    and ``int`` takes other scripts' digits (Arabic-Indic one parses as 1).
    """
    if not (0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= limit else None


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison that takes any text: ``compare_digest`` raises on a ``str``
    that is not ASCII, and a link's signature is whatever the request sent."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


def subscriber_id(value: str) -> int | None:
    """The subscriber id a signed link names (the part before the first dot), or ``None`` when
    it is no id: what every route that takes a token looks the subscriber up by."""
    return _number(value.partition(".")[0], MAX_ID)


def _mac(key: bytes, message: str) -> str:
    """A URL-safe HMAC-SHA256 of ``message`` under ``key``, cut to 128 bits."""
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(secret: str, purpose: str) -> str:
    """A URL-safe signature of ``purpose`` under ``secret`` (128 bits)."""
    return _mac(secret.encode(), purpose)


def token(subscriber: Subscriber, purpose: str) -> str:
    """``<id>.<signature>``: what a link names a subscriber by."""
    return f"{subscriber.id}.{sign(subscriber.secret, purpose)}"


def verify(value: str, purpose: str, secret_of: dict[int, str] | None = None) -> int | None:
    """The subscriber id a token names, when its signature holds; ``None`` otherwise.

    ``secret_of`` maps ids to secrets (the caller looks the one id up in the store).
    """
    number, signature = subscriber_id(value), value.partition(".")[2]
    if number is None or not signature or secret_of is None:
        return None
    secret = secret_of.get(number)
    if secret is None:
        return None
    return number if _same(sign(secret, purpose), signature) else None


def message_id(issue_id: int, subscriber: Subscriber, domain: str) -> str:
    """The Message-ID of one delivery: the same on every retry, and naming no address."""
    mac = hmac.new(subscriber.secret.encode(), f"message {issue_id}".encode(), hashlib.sha256)
    return f"<{issue_id}.{subscriber.id}.{mac.hexdigest()[:16]}@{domain}>"


def confirm_token(subscriber: Subscriber, expires: int) -> str:
    """``<id>.<expires>.<signature>``: a confirmation link that stops working at ``expires``
    (a Unix time), unlike unsubscribe links, which must work in old mail for good."""
    return f"{subscriber.id}.{expires}.{sign(subscriber.secret, f'confirm {expires}')}"


def confirm_expiry(value: str) -> int | None:
    """The expiry a confirmation token carries (its signature not checked)."""
    return _number(value.partition(".")[2].partition(".")[0], 10**MAX_DIGITS)


def verify_confirm(value: str, secret_of: dict[int, str], now: float) -> int | None:
    """The subscriber id a confirmation token names, while it holds and has not expired."""
    expires, _, signature = value.partition(".")[2].partition(".")
    number, until = subscriber_id(value), confirm_expiry(value)
    if number is None or until is None or until < now:
        return None
    secret = secret_of.get(number)
    if secret is None:
        return None
    return number if _same(sign(secret, f"confirm {expires}"), signature) else None


def form_token(key: bytes, action: str, now: float) -> str:
    """``<issued>.<signature>``: the hidden field of a form that posts to ``action`` (a path
    under the site, e.g. ``manage/<token>``), signed with the server's key (see
    :func:`publisher.store.meta.form_key`), so a post shows it came from a form this site
    served for that very action within :data:`FORM_SECONDS`. It needs no session and no cookie."""
    issued = int(now)
    return f"{issued}.{_mac(key, f'form {action} {issued}')}"


def verify_form_token(key: bytes, action: str, value: str, now: float) -> bool:
    """Whether ``value`` is a form token for ``action`` made within :data:`FORM_SECONDS`."""
    issued_text, _, signature = value.partition(".")
    issued = _number(issued_text, 10**MAX_DIGITS)
    if issued is None or not now - FORM_SECONDS <= issued <= now + CLOCK_SLACK:
        return False
    return _same(_mac(key, f"form {action} {issued}"), signature)
