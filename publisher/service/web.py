"""The web process (ASGI, Starlette): feeds and pages from the store with conditional GET, the
subscribers' own pages, and the operators' admin API (:mod:`publisher.service.admin`).

It shares nothing with the worker but the database: outputs are read from the store, so ``web``
and ``worker`` may run on different machines. Readers' pages are reached through signed links
(:mod:`publisher.mail.tokens`); the one-click unsubscribe POST of RFC 8058 needs no cookie, no CSRF
token and no redirect, and a GET never unsubscribes. Every other form that changes state takes
a POST only from a page of this site, with the form token that page carries
(:meth:`Web.form_post`). Everything passes through :class:`publisher.service.guard.Guard` first:
hardening headers, bounded bodies, bodiless ``GET`` and ``HEAD``.

Every store call runs on a worker thread, never on the event loop: a write that waits for
SQLite's lock (a publish, the worker) must not stall every other request meanwhile. When the
database is gone, each route answers 503 with the reason (an HTML page, or JSON for the API),
never a bare 500, and ``/healthz`` says so too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from publisher.addresses import AddressError, normalise_address
from publisher.config.settings import Settings
from publisher.errors import StoreError
from publisher.mail.confirmation import send_confirmation, send_welcome
from publisher.mail.tokens import (
    confirm_expiry,
    form_token,
    subscriber_id,
    verify,
    verify_confirm,
    verify_form_token,
)
from publisher.models import Subscriber
from publisher.service.admin import AdminApi
from publisher.service.conditional import Bodies, not_modified
from publisher.service.console import Console
from publisher.service.guard import (
    MAIL_PAGES,
    MAIL_STYLES,
    Guard,
    content_security_policy,
    same_origin,
    style_hashes,
)
from publisher.service.health import healthz_body
from publisher.service.operations import Operations
from publisher.service.supervisor import Supervisor
from publisher.site.render import environment_for, render
from publisher.store.engine import open_engine
from publisher.store.limits import Limits, client_address
from publisher.store.meta import form_key
from publisher.store.outbox import Outbox
from publisher.store.outputs import Outputs
from publisher.store.status import Status

Endpoint = Callable[[Request], Awaitable[Response]]
INDEX = "index.html"
FORM_TOKEN = "csrf_token"  # noqa: S105 (the name of the hidden field of every form that posts)
POSTS = ["GET", "POST"]  # a form page and its post
log = logging.getLogger(__name__)


class Web:
    """The routes, over the store's readers and the project's settings; ``health`` is the
    supervisor of the worker sharing this process (``publisher run``), whose failing tasks
    ``/healthz`` names."""

    def __init__(self, settings: Settings, health: Supervisor | None = None) -> None:
        self.settings = settings
        self.health = health
        self.engine = open_engine(settings.database_url)
        self.outputs = Outputs(self.engine)
        self.status = Status(self.engine)
        self.outbox = Outbox(self.engine)
        self.subscribers = self.outbox.subscribers  # what the readers' own pages change
        self.limits = Limits(self.engine, settings.web)
        self.env = environment_for(settings)
        self.operations = Operations(settings, self.outbox, self.env)
        self.api = AdminApi(settings, self.operations, self.status)
        self.bodies = Bodies()
        self.form_key = form_key(self.engine)
        self.styles = style_hashes(self.env, settings.site)
        self.mail_policy = content_security_policy(settings.site.base_url, MAIL_STYLES)

    def close(self) -> None:
        self.engine.dispose()

    # -- feeds and pages ----------------------------------------------------------------------

    async def output(self, request: Request) -> Response:
        path = request.path_params["path"] or INDEX
        if path.endswith("/"):
            path += INDEX
        head = await run_in_threadpool(self.outputs.head, path)
        bare = head is None and "." not in path.rsplit("/", 1)[-1]
        # /articles/x is /articles/x.html: redirected, so each page keeps one address
        if bare and await run_in_threadpool(self.outputs.head, f"{path}.html") is not None:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"/{path}.html{query}", 308)
        if head is None:
            return self.page("Not found", "There is nothing at this address.", 404)
        media_type, sha256, updated = head
        headers = {
            "ETag": f'"{sha256[:32]}"',
            "Last-Modified": format_datetime(updated.astimezone(UTC), usegmt=True),
            "Cache-Control": f"public, max-age={self.settings.web.cache_seconds}",
        }
        if path.startswith(MAIL_PAGES) and media_type.startswith("text/html"):
            headers["Content-Security-Policy"] = self.mail_policy
        if not_modified(request, headers["ETag"], updated):
            return Response(status_code=304, headers=headers)
        body = self.bodies.get((path, sha256))
        if body is None:
            found = await run_in_threadpool(self.outputs.read, path)
            if found is None:  # removed since the first look
                return self.page("Not found", "There is nothing at this address.", 404)
            body = found[1]
            self.bodies.put((path, found[2]), body)
        return Response(body, media_type=media_type, headers=headers)

    # -- readers' pages -----------------------------------------------------------------------

    def page(self, heading: str, message: str, status: int = 200) -> HTMLResponse:
        html = self.html("web/message.html", heading=heading, message=message)
        return HTMLResponse(html, status_code=status)

    def html(self, template: str, **context: Any) -> str:
        site = self.settings.site
        return render(
            self.env,
            template,
            site=site,
            root=site.base_url,
            subscribe=False,  # the readers' own pages do not offer the subscribe block
            form_token=lambda action: form_token(self.form_key, action, time.time()),
            **context,
        )

    def refused(self) -> HTMLResponse:
        message = (
            "This form was not sent from a page of this site, or the page is too old. "
            "Go back, reload the page and send the form again."
        )
        return self.page("Not sent", message, 403)

    def form_post(self, action: str, endpoint: Endpoint) -> Endpoint:
        """A route whose POST changes state: it must come from a page of this site (its
        ``Origin`` or ``Referer``, checked before anything is read) and carry the form token
        that page was served with (see :func:`publisher.mail.tokens.form_token`); its form is read
        once, within the limits, and the route gets it from the request's cache. A refusal is
        403 and changes nothing. Other methods pass through untouched."""
        web = self.settings.web

        async def checked(request: Request) -> Response:
            if request.method != "POST":
                return await endpoint(request)
            if not same_origin(request.headers, request.url.scheme, self.settings.site.base_url):
                return self.refused()
            form = await request.form(
                max_files=0, max_fields=web.max_form_fields, max_part_size=web.max_body_bytes
            )
            named = action + "".join(f"/{v}" for v in request.path_params.values())
            given = form.get(FORM_TOKEN)
            if not isinstance(given, str) or not verify_form_token(
                self.form_key, named, given, time.time()
            ):
                return self.refused()
            return await endpoint(request)

        return checked

    async def named(self, request: Request) -> Subscriber | None:
        """The subscriber whose id a signed link carries (not yet checked against the signature);
        ``None`` for a link whose id is no id."""
        number = subscriber_id(request.path_params["token"])
        return None if number is None else await run_in_threadpool(self.subscribers.get, number)

    async def reader(self, request: Request, purpose: str) -> Subscriber | None:
        """The subscriber a signed link names, when its signature holds."""
        subscriber = await self.named(request)
        secrets = {subscriber.id: subscriber.secret} if subscriber else {}
        if subscriber is None or verify(request.path_params["token"], purpose, secrets) is None:
            return None
        return subscriber

    async def unsubscribe(self, request: Request) -> Response:
        subscriber = await self.reader(request, "unsubscribe")
        if subscriber is None:  # one answer for every bad link: no oracle
            return self.page("Link not valid", "This link is not valid or has been cut.", 400)
        token = request.path_params["token"]
        if request.method == "POST":  # RFC 8058: the POST itself unsubscribes
            await run_in_threadpool(self.subscribers.unsubscribe, subscriber.id, datetime.now(UTC))
        done = request.method == "POST" or subscriber.status == "unsubscribed"
        html = self.html("web/unsubscribe.html", address=subscriber.address, token=token, done=done)
        return HTMLResponse(html)

    async def manage(self, request: Request) -> Response:
        subscriber = await self.reader(request, "manage")
        if subscriber is None:
            return self.page("Link not valid", "This link is not valid or has been cut.", 400)
        chosen = set(subscriber.digests) if subscriber.status == "active" else set()
        saved, status = False, subscriber.status
        if request.method == "POST":
            form = await request.form()
            known = {d.name for d in self.settings.digests}
            chosen = {str(v) for v in form.getlist("digest")} & known
            now = datetime.now(UTC)
            await run_in_threadpool(self.subscribers.choose, subscriber.id, sorted(chosen), now)
            found = await run_in_threadpool(self.subscribers.get, subscriber.id)
            saved, status = True, found.status if found else status
        html = self.html(
            "web/manage.html",
            address=subscriber.address,
            token=request.path_params["token"],
            digests=self.settings.digests,
            chosen=chosen,
            saved=saved,
            status=status,
        )
        return HTMLResponse(html)

    async def subscribe(self, request: Request) -> Response:
        """Double opt-in: a POST stores the choice and mails a confirmation link, with the same
        answer whatever the address (no enumeration); a filled honeypot sends nothing. A GET (or
        HEAD) only shows the form. A client over ``web.subscribes_per_client`` gets 429 before
        its form is read; a mailbox or the site over its limit gets the answer of a success,
        and no mail (see :mod:`publisher.store.limits`)."""
        digests = self.settings.digests
        every = [d.name for d in digests]
        if request.method != "POST":
            typed = request.query_params.get("email", "")[:254]  # from a page's subscribe block
            page = self.html(
                "web/subscribe.html",
                digests=digests,
                sent=False,
                error="",
                email=typed,
                chosen=every,
            )
            return HTMLResponse(page)
        peer = request.client.host if request.client else ""
        client = client_address(
            peer, request.headers.getlist("x-forwarded-for"), self.limits.proxies
        )
        counted = await run_in_threadpool(self.limits.client, client, datetime.now(UTC))
        if not counted.allowed:
            message = "There were too many requests from your address. Please try again later."
            refused = self.page("Too many requests", message, 429)
            refused.headers["Retry-After"] = str(counted.retry_after)
            return refused
        form = await request.form()
        typed = str(form.get("email", ""))
        picked = sorted({str(v) for v in form.getlist("digest")} & set(every))
        try:
            address = normalise_address(typed)
        except AddressError:  # the form again, with what the reader typed and ticked
            html = self.html(
                "web/subscribe.html",
                digests=digests,
                sent=False,
                error="That does not look like an email address.",
                email=typed[:254],
                chosen=picked or every,
            )
            return HTMLResponse(html, status_code=422)
        chosen = picked or sorted(every)
        if not form.get("website"):  # people leave the hidden field empty; bots fill it
            await self._confirm_mail(address, chosen)
        page = self.html("web/subscribe.html", digests=digests, sent=True, error="", email="")
        return HTMLResponse(page)

    async def _confirm_mail(self, address: str, digests: list[str]) -> None:
        now = datetime.now(UTC)
        reader = await run_in_threadpool(
            self.subscribers.request, address, digests, now, self.limits
        )
        if reader is None:
            return
        await send_confirmation(self.env, self.settings, reader, now)

    async def confirm(self, request: Request) -> Response:
        """A pending reader's confirmation: the link of the latest confirmation mail asks, its
        POST subscribes. An active reader is told so (a second click changes nothing); for
        anyone else — unsubscribed since, bounced — the link is not valid."""
        token = request.path_params["token"]
        reader = await self.named(request)
        invalid = self.page("Link not valid", "This link is not valid or has expired.", 400)
        if reader is None or reader.status not in ("pending", "active"):
            return invalid
        secrets = {reader.id: reader.secret}
        if verify_confirm(token, secrets, time.time()) is None:
            return invalid
        if not await self._from_latest_mail(reader.id, token):
            return invalid
        now = datetime.now(UTC)
        posted = request.method == "POST" and reader.status == "pending"
        if posted and not await run_in_threadpool(self.subscribers.confirm, reader.id, now):
            return invalid  # the reader's state changed since it was read
        if posted:  # what they will get and when, and their preferences link
            await send_welcome(self.env, self.settings, reader, now)
        done = request.method == "POST" or reader.status == "active"
        html = self.html("web/confirm.html", address=reader.address, token=token, done=done)
        return HTMLResponse(html)

    async def _from_latest_mail(self, reader_id: int, token: str) -> bool:
        """Whether a confirmation link came with the latest confirmation mail: its expiry is
        that mail's (mails to one address are an hour apart at least, so an older mail's link
        expires at least that much earlier)."""
        sent = await run_in_threadpool(self.subscribers.confirmation_sent, reader_id)
        until = confirm_expiry(token)
        if sent is None or until is None:
            return False
        return until >= int(sent.timestamp()) + self.settings.web.pending_hours * 3600

    async def healthz(self, request: Request) -> Response:
        """200 when the database answers and no task of this process keeps failing; 503 naming
        the reason otherwise (JSON either way)."""
        try:
            await run_in_threadpool(self.status.deliveries)
        except StoreError as exc:
            return JSONResponse({"ok": False, "database": str(exc)}, 503)
        body = healthz_body(self.health.snapshot() if self.health else [])
        return JSONResponse(body, 200 if body["ok"] else 503)

    async def store_down(self, request: Request, exc: Exception) -> Response:
        """The one answer to a :class:`StoreError` on any route: 503 with the reason, and one
        line in the log (no traceback: the fault is the environment's)."""
        log.error("%s %s: %s", request.method, request.url.path, exc)
        headers = {"Retry-After": "30"}
        path = request.url.path
        if path.startswith("/api/") or path == "/healthz":
            body = {"error": str(exc), "hint": getattr(exc, "hint", "")}
            return JSONResponse(body, 503, headers)
        if path == "/metrics":
            return Response(f"# {exc}\n", 503, headers, media_type="text/plain")
        message = "The site cannot reach its database just now. Please try again in a moment."
        page = self.page("Temporarily unavailable", message, 503)
        page.headers.update(headers)
        return page

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """Starlette's own refusals — 404 and 405 under ``/api/``, 400 for a form that breaks
        its limits, 413 for a body over the limit — as JSON for the API, a page elsewhere."""
        assert isinstance(exc, HTTPException)
        headers = exc.headers or {}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, exc.status_code, headers)
        page = self.page("Not accepted", exc.detail, exc.status_code)
        page.headers.update(headers)
        return page

    def routes(self) -> list[BaseRoute]:
        """Every route; the admin API is one mount, so a wrong method there is 405 (with
        ``Allow``), never the catch-all page route's 404."""
        api = self.api
        metrics = api.metrics if self.settings.web.public_metrics else api.admin(api.metrics)
        return [
            Route("/healthz", self.healthz),
            Route("/unsubscribe/{token}", self.unsubscribe, methods=POSTS),
            Route("/manage/{token}", self.form_post("manage", self.manage), methods=POSTS),
            Route("/subscribe", self.form_post("subscribe", self.subscribe), methods=POSTS),
            Route("/confirm/{token}", self.form_post("confirm", self.confirm), methods=POSTS),
            Mount("/api", routes=api.routes()),
            Route("/admin", lambda _request: RedirectResponse("/admin/", 308)),
            Mount("/admin", routes=Console(self).routes()),
            Route("/metrics", metrics),
            Route("/{path:path}", self.output, methods=["GET", "HEAD"]),
        ]


class GuardedApp(Starlette):
    """A Starlette application inside a :class:`~publisher.service.guard.Guard`: outside even its
    error handler, so a 500 carries the hardening headers too."""

    def __init__(self, guard: Callable[[ASGIApp], ASGIApp], **options: Any) -> None:
        self.guard = guard
        super().__init__(**options)

    def build_middleware_stack(self) -> ASGIApp:
        return self.guard(super().build_middleware_stack())


def create_app(settings: Settings, health: Supervisor | None = None) -> Starlette:
    """The ASGI application; its store is opened at start-up and closed at shutdown.

    :raises StoreError: when the database cannot be reached at start-up.
    """
    web = Web(settings, health)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            web.close()

    def guard(app: ASGIApp) -> ASGIApp:
        return Guard(app, settings.site.base_url, web.styles, settings.web.max_body_bytes)

    handlers = {StoreError: web.store_down, HTTPException: web.http_error}
    return GuardedApp(
        guard,
        routes=web.routes(),
        lifespan=lifespan,
        exception_handlers=handlers,
        max_body_size=settings.web.max_body_bytes,  # a chunked body is counted as it arrives
    )
