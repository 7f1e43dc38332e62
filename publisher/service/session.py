"""The operator's console session: the admin token, given once at sign-in, is exchanged for a
signed, expiring cookie, so the token itself is never kept by the browser.

The cookie is ``<expires>.<signature>``: an HMAC, under the server's form key (shared by every
web process through the store, see :func:`publisher.store.meta.form_key`), of the expiry and a
hash of the admin token. Changing the token therefore ends every session; signing out clears
the cookie. It is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page
sends it) and ``Secure`` whenever the site or the request is https.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

from publisher.mail.tokens import form_token, verify_form_token

COOKIE = "publisher_admin"
SESSION_SECONDS = 12 * 3600  # a working day; then sign in again
PATH = "/admin"


def _purpose(admin_token: str) -> str:
    """What a session is signed for: this admin token (a new token ends every session)."""
    return "admin-session " + hashlib.sha256(admin_token.encode()).hexdigest()


def session_value(key: bytes, admin_token: str, now: float) -> str:
    """A new session's cookie value."""
    return form_token(key, _purpose(admin_token), now)


def signed_in(key: bytes, admin_token: str, value: str, now: float) -> bool:
    """Whether ``value`` is a session cookie for this token, made within the session's life."""
    if not admin_token or not value:
        return False
    if not verify_form_token(key, _purpose(admin_token), value, now):
        return False
    issued = int(value.partition(".")[0])
    return now - issued <= SESSION_SECONDS


def token_matches(expected: str, given: str) -> bool:
    """The admin token compared in constant time (any text may be given)."""
    return bool(expected) and hmac.compare_digest(
        expected.encode(), given.strip().encode("utf-8", "surrogateescape")
    )


def secure(request: Request, base_url: str) -> bool:
    """Whether the cookie must be ``Secure``: the site is https, or this request came by it."""
    return base_url.lower().startswith("https:") or request.url.scheme == "https"


def set_session(response: Response, value: str, secure_only: bool) -> None:
    """Give the browser the session cookie."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path=PATH,
        secure=secure_only,
        httponly=True,
        samesite="strict",
    )


def end_session(response: Response, secure_only: bool) -> None:
    """Take the session cookie back."""
    response.delete_cookie(COOKIE, path=PATH, secure=secure_only, httponly=True, samesite="strict")
