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


def sign(secret: str, purpose: str) -> str:
    """A URL-safe signature of ``purpose`` under ``secret`` (128 bits)."""
    mac = hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token(subscriber: Subscriber, purpose: str) -> str:
    """``<id>.<signature>``: what a link names a subscriber by."""
    return f"{subscriber.id}.{sign(subscriber.secret, purpose)}"


def verify(value: str, purpose: str, secret_of: dict[int, str] | None = None) -> int | None:
    """The subscriber id a token names, when its signature holds; ``None`` otherwise.

    ``secret_of`` maps ids to secrets (the caller looks the one id up in the store).
    """
    number, _, signature = value.partition(".")
    if not number.isdigit() or not signature or secret_of is None:
        return None
    secret = secret_of.get(int(number))
    if secret is None:
        return None
    return int(number) if hmac.compare_digest(sign(secret, purpose), signature) else None


def message_id(issue_id: int, subscriber: Subscriber, domain: str) -> str:
    """The Message-ID of one delivery: the same on every retry, and naming no address."""
    mac = hmac.new(subscriber.secret.encode(), f"message {issue_id}".encode(), hashlib.sha256)
    return f"<{issue_id}.{subscriber.id}.{mac.hexdigest()[:16]}@{domain}>"


def confirm_token(subscriber: Subscriber, expires: int) -> str:
    """``<id>.<expires>.<signature>``: a confirmation link that stops working at ``expires``
    (a Unix time), unlike unsubscribe links, which must work in old mail for good."""
    return f"{subscriber.id}.{expires}.{sign(subscriber.secret, f'confirm {expires}')}"


def verify_confirm(value: str, secret_of: dict[int, str], now: float) -> int | None:
    """The subscriber id a confirmation token names, while it holds and has not expired."""
    number, _, rest = value.partition(".")
    expires, _, signature = rest.partition(".")
    if not (number.isdigit() and expires.isdigit()) or int(expires) < now:
        return None
    secret = secret_of.get(int(number))
    if secret is None:
        return None
    expected = sign(secret, f"confirm {expires}")
    return int(number) if hmac.compare_digest(expected, signature) else None
