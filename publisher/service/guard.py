"""What every request and response of the web process passes through before the routes.

:class:`Guard` is the outermost ASGI layer, so what it does holds for every answer, a 500 among
them:

- hardening headers on every response: a Content-Security-Policy that allows no script at all
  and, for styles, exactly the theme's own ``<style>`` elements (by their hashes, see
  :func:`style_hashes`) — a route may set its own, as the archive's issue pages do (see
  :data:`MAIL_STYLES`); ``nosniff``; ``Referrer-Policy: same-origin``; no framing; HSTS when the
  site or the request is https;
- bounded bodies: a ``Content-Length`` over the limit gets 413 before the routes run (nothing is
  read, nothing changes); a chunked body is counted as it arrives by Starlette's own limit (see
  :func:`publisher.service.web.create_app`); and an answer given before a request's body was
  read closes the connection, so the rest of the body is never read;
- a ``GET`` or ``HEAD`` hands the routes no body, so no route can be made to change state by
  one.

Below the ASGI layer, :class:`HeaderDeadline` (uvicorn's h11 protocol with a timer) closes a
connection that has not sent a whole request head in time: uvicorn has no such limit, and a
thousand half-sent heads would otherwise be held for as long as their clients like.

It also holds the check the form routes make of a post's origin (:func:`same_origin`); the
server key their form tokens are signed with is kept in the store, so every web process shares
it (:func:`publisher.store.meta.form_key`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

import h11
from jinja2 import Environment, TemplateError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from publisher.config.settings import SiteSettings

HSTS_SECONDS = 31_536_000  # a year: what browsers' preload lists ask for
BODILESS = frozenset({"GET", "HEAD"})
STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.DOTALL | re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower case and without a default port; ``None`` for a
    URL that names no host (``null``, a path, garbage)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def same_origin(headers: Headers, scheme: str, base_url: str) -> bool:
    """Whether a form post comes from a page of this site: its ``Origin`` — or, when a browser
    sent none, its ``Referer`` — is the site's canonical origin or the request's own host.

    A post with neither is refused: every browser sends one of them with a form post, and a
    page elsewhere cannot make a browser send ours.
    """
    given = headers.get("origin") or headers.get("referer")
    if not given:
        return False
    own = origin_of(f"{scheme}://{headers['host']}") if "host" in headers else None
    found = origin_of(given)
    return found is not None and found in {origin_of(base_url), own}


def style_hashes(env: Environment, site: SiteSettings) -> list[str]:
    """The CSP hash sources of every ``<style>`` element in the page templates, so the theme's
    CSS (and an operator's own, in ``templates/``) is allowed and no other inline style is.

    A style element is hashed as the pages write it: rendered with the site's settings (the
    theme colour), and nothing else — a style that depends on the page is refused. Jinja writes
    every newline as ``\\n``, so the source is read that way too.
    """
    found: set[str] = set()
    for name in env.list_templates(extensions=["html"]):
        if name.startswith("email/"):  # a digest's styles are inlined before it is sent
            continue
        source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
        for css in STYLE.findall(source.replace("\r\n", "\n")):
            try:
                written = env.from_string(css).render(site=site)
            except TemplateError:
                continue  # depends on more than the site: its pages go without it
            digest = hashlib.sha256(written.encode()).digest()
            found.add(f"'sha256-{base64.b64encode(digest).decode()}'")
    return sorted(found)


# A page that is a mail (the archive's issues: :mod:`publisher.site.issue_archive`) has its
# styles inlined into each element's ``style`` attribute, which no hash can allow: its policy
# allows inline styles, and still no script of any kind.
MAIL_STYLES = ("'unsafe-inline'",)
MAIL_PAGES = "issues/"


def content_security_policy(base_url: str, styles: Iterable[str]) -> str:
    """No script of any kind, no plug-ins, no framing, no ``<base>``; styles only the theme's;
    images from this site or https; forms post only to this site (its canonical origin too,
    which forms name in their ``action``)."""
    canonical = origin_of(base_url) or ""
    allowed = " ".join(styles) or "'none'"
    directives = [
        "default-src 'none'",
        f"style-src {allowed}",
        "img-src 'self' https:",
        f"form-action 'self' {canonical}".rstrip(),
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
    return "; ".join(directives)


def hardening_headers(base_url: str, styles: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS apart: see :class:`Guard`)."""
    return [
        (b"content-security-policy", content_security_policy(base_url, styles).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"DENY"),
    ]


def _declared_length(headers: Headers) -> int | None:
    """The body length a request declares; ``None`` for a chunked body (or none at all)."""
    value = headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


def _has_body(headers: Headers) -> bool:
    return "transfer-encoding" in headers or (_declared_length(headers) or 0) > 0


class Guard:
    """The ASGI layer around the whole application (see the module's docstring)."""

    def __init__(
        self, app: ASGIApp, base_url: str, styles: Iterable[str], max_body_bytes: int
    ) -> None:
        self.app = app
        self.headers = hardening_headers(base_url, styles)
        self.https = base_url.lower().startswith("https:")
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        extra = list(self.headers)
        if self.https or scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", f"max-age={HSTS_SECONDS}".encode()))
        unread = _has_body(request)

        async def reading() -> Message:
            nonlocal unread
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                unread = False
            return message

        async def hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                named = {name.lower() for name, _value in headers}
                headers += [(name, value) for name, value in extra if name not in named]
                if unread:  # the rest of the body is never read: the connection must go
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        if (_declared_length(request) or 0) > self.max_body_bytes:
            await self._too_large(hardened)
        elif scope["method"] in BODILESS:
            await self.app(scope, _bodiless(reading), hardened)
        else:
            await self.app(scope, reading, hardened)

    async def _too_large(self, send: Send) -> None:
        """413 at once, from the declared length alone: the routes never run."""
        text = f"The request is too large: at most {self.max_body_bytes} bytes.\n".encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        headers.append((b"content-length", str(len(text)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": text})


def _bodiless(receive: Receive) -> Receive:
    """A ``receive`` whose request has an empty body; what it waits for after that is only
    the client going away (what streaming responses listen for)."""
    given = False

    async def empty() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message

    return empty


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, with a deadline for each request head: a connection that has
    not sent a whole head within :attr:`header_seconds` of opening — or of the first byte of
    a later request on a kept-alive connection — is closed. Bytes arriving do not move the
    deadline, so a client sending one a second is closed as well. (Idle kept-alive
    connections are uvicorn's ``timeout_keep_alive``'s to close.)"""

    header_seconds: float = 10.0
    deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # a head has begun and is not complete
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.deadline is None and not self.transport.is_closing():
            self.deadline = self.loop.call_later(self.header_seconds, self._expire)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expire(self) -> None:
        self.deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
