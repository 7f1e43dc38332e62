"""The operator's console under ``/admin/``: server-rendered pages (the project's Jinja2
environment, autoescaped), usable without JavaScript, over the same actions as the admin API
(:class:`publisher.service.operations.Operations`).

- Sign-in exchanges the admin token once for a session cookie (:mod:`publisher.service.session`);
  every page wants that session, every form also the origin check and form token of
  :meth:`publisher.service.web.Web.form_post` (CSRF), and sign-out is a form too.
- Pages: the overview (tasks, relays, articles, last publishes, next runs, the outbox and a plot
  of deliveries), content problems (in ``publisher check``'s words) with *publish now*, issues by
  digest with their actions, one issue, a digest's preview and the subscribers.
- A digest's preview is the real HTML part, served to an ``<iframe>`` with a CSP ``sandbox``:
  no script, no form, no navigation of the console, whatever the digest's HTML holds.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.errors import NotFound, PublisherError, StoreError
from publisher.mail.transports import transport_for
from publisher.service import session
from publisher.service.guard import content_security_policy
from publisher.service.health import problem_of
from publisher.service.operations import STATUSES
from publisher.service.plot import SPANS, bars
from publisher.service.schedule import forecast
from publisher.service.supervisor import is_stale
from publisher.store import overview
from publisher.store.locks import LockTimeout
from publisher.store.tally import tally

if TYPE_CHECKING:
    from publisher.service.web import Web

Endpoint = Callable[[Request], Awaitable[Response]]
PAGE, POSTS = ["GET"], ["GET", "POST"]
# The preview frame's own policy: the digest's inline styles, https images, and a sandbox
# without scripts, forms or top navigation; only the console may frame it.
PREVIEW_POLICY = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'self'"
)


class Console:
    """The ``/admin`` routes, over the web process's store, operations and forms."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.settings = web.settings
        self.operations = web.operations
        self.engine = web.engine

    # -- sessions ------------------------------------------------------------------------

    def signed_in(self, request: Request) -> bool:
        value = request.cookies.get(session.COOKIE, "")
        token = self.settings.web.admin_token
        return session.signed_in(self.web.form_key, token, value, time.time())

    def guarded(self, action: str, endpoint: Endpoint) -> Endpoint:
        """A console route: the console must be on, the browser signed in, and a POST must
        pass the CSRF checks of the site's forms (``action`` names its form token)."""
        checked = self.web.form_post(action, endpoint)

        async def page(request: Request) -> Response:
            if not self.settings.web.admin_token:
                return self.off()
            if not self.signed_in(request):
                if request.method == "POST":
                    return self.web.refused()
                return RedirectResponse(f"{self.base}signin", 303)
            try:
                return await checked(request)
            except StoreError:
                raise
            except PublisherError as exc:  # the request's mistake, or a publish running
                return self.render("admin/message.html", request, _status_of(exc), error=exc)

        return page

    @property
    def base(self) -> str:
        return "/admin/"

    def off(self) -> HTMLResponse:
        message = (
            "The console is off: no admin token is configured. Set PUBLISHER_ADMIN_TOKEN, or "
            "run `publisher signin` on this machine, then restart the service."
        )
        return self.web.page("Console off", message, 503)

    def render(self, template: str, request: Request, code: int = 200, **context: Any) -> Response:
        zone = self.settings.zone

        def when(moment: datetime | str | None) -> str:
            if moment is None:
                return "—"
            if isinstance(moment, str):
                moment = datetime.fromisoformat(moment)
            return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"

        html = self.web.html(template, when=when, path=request.url.path, signed_in=True, **context)
        return HTMLResponse(html, status_code=code, headers={"Cache-Control": "no-store"})

    async def signin(self, request: Request) -> Response:
        """GET: the sign-in form; POST: the token for a session cookie, then the overview."""
        if not self.settings.web.admin_token:
            return self.off()
        error = ""
        if request.method == "POST":
            form = await request.form()
            given = str(form.get("token", ""))
            if session.token_matches(self.settings.web.admin_token, given):
                done = RedirectResponse(self.base, 303)
                value = session.session_value(
                    self.web.form_key, self.settings.web.admin_token, time.time()
                )
                secure = session.secure(request, self.settings.site.base_url)
                session.set_session(done, value, secure)
                return done
            error = "That is not the admin token."
        status = 401 if error else 200
        html = self.web.html("admin/signin.html", error=error, signed_in=False, path="")
        return HTMLResponse(html, status, headers={"Cache-Control": "no-store"})

    async def signout(self, request: Request) -> Response:
        done = RedirectResponse(f"{self.base}signin", 303)
        session.end_session(done, session.secure(request, self.settings.site.base_url))
        return done

    # -- pages ---------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        now = datetime.now(UTC)
        span = request.query_params.get("span", "day")
        step, count = SPANS.get(span, SPANS["day"])
        found = await run_in_threadpool(self._overview, now, step, count)
        return self.render("admin/overview.html", request, span=span, **found)

    def _overview(self, now: datetime, step: Any, count: int) -> dict[str, Any]:
        status = self.web.status
        runs, schedule_errors = forecast(self.settings, now)
        tasks = [(row, is_stale(row.seen, now)) for row in status.tasks()]
        return {
            "articles": status.articles(),
            "problems": len(status.problems()),
            "tasks": tasks,
            "relays": status.relays(),
            "relay": transport_for(self.settings).description,
            "outbox": status.deliveries(),
            "publishes": overview.publishes(self.engine)[:10],
            "next_runs": runs,
            "schedule_errors": schedule_errors,
            "last_runs": status.last_runs(),
            "plot": bars(overview.timeline(self.engine, now, step, count), self.settings.zone),
        }

    async def problems(self, request: Request) -> Response:
        found = await run_in_threadpool(self.web.status.problems)
        shown = [problem_of(p) for p in found]
        return self.render("admin/problems.html", request, problems=shown, report=None)

    async def publish(self, request: Request) -> Response:
        """Publish now; the report is shown with the problems that remain."""
        done = await run_in_threadpool(self.operations.publish, datetime.now(UTC))
        found = await run_in_threadpool(self.web.status.problems)
        shown = [problem_of(p) for p in found]
        return self.render("admin/problems.html", request, problems=shown, report=done)

    async def issues(self, request: Request) -> Response:
        found = await run_in_threadpool(overview.recent_issues, self.engine)
        now = datetime.now(UTC)
        relays = await run_in_threadpool(lambda: tally(self.engine, now))
        return self.render(
            "admin/issues.html",
            request,
            digests=self.settings.digests,
            issues=found,
            outbox=relays,
            done=request.query_params.get("done", ""),
        )

    async def issue(self, request: Request) -> Response:
        issue_id = request.path_params["id"]
        found = await run_in_threadpool(self.operations.issue, issue_id)
        articles = await run_in_threadpool(overview.issue_articles, self.engine, issue_id)
        replies = await run_in_threadpool(overview.issue_replies, self.engine, issue_id)
        return self.render(
            "admin/issue.html",
            request,
            issue=found,
            articles=articles,
            replies=replies,
            done=request.query_params.get("done", ""),
        )

    async def send(self, request: Request) -> Response:
        name = request.path_params["name"]
        opened = await run_in_threadpool(self.operations.open, name, datetime.now(UTC))
        if opened["opened"]:
            return RedirectResponse(f"{self.base}issues/{opened['id']}?done=opened", 303)
        done = f"{name}: no issue opened: {opened['reason']}"
        return self.render("admin/message.html", request, 200, note=done)

    async def preview(self, request: Request) -> Response:
        """The page around the preview: subject, articles, problems and the frame."""
        name = request.path_params["name"]
        shown = await run_in_threadpool(self.operations.preview, name, datetime.now(UTC))
        page = self.render("admin/preview.html", request, preview=shown)
        policy = content_security_policy(self.settings.site.base_url, self.web.styles)
        page.headers["Content-Security-Policy"] = f"{policy}; frame-src 'self'"
        return page

    async def preview_frame(self, request: Request) -> Response:
        """The digest's HTML part itself, for the frame only (sandboxed by its CSP)."""
        name = request.path_params["name"]
        shown = await run_in_threadpool(self.operations.preview, name, datetime.now(UTC))
        headers = {
            "Content-Security-Policy": PREVIEW_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        }
        return HTMLResponse(shown.html, headers=headers)

    async def send_test(self, request: Request) -> Response:
        name = request.path_params["name"]
        form = await request.form()
        to = str(form.get("to", ""))
        reply = await run_in_threadpool(self.operations.send_test, name, to, datetime.now(UTC))
        note = f"{name}: test sent to {to}: {reply}"
        return self.render("admin/message.html", request, 200, note=note)

    async def retry(self, request: Request) -> Response:
        issue_id = request.path_params["id"]
        queued = await run_in_threadpool(self.operations.retry, issue_id, datetime.now(UTC))
        return RedirectResponse(f"{self.base}issues/{issue_id}?done=retry-{queued}", 303)

    async def reactivate(self, request: Request) -> Response:
        issue_id = request.path_params["id"]
        done = await run_in_threadpool(self.operations.reactivate, issue_id, datetime.now(UTC))
        return RedirectResponse(f"{self.base}issues/{issue_id}?done=reactivated-{len(done)}", 303)

    async def subscribers(self, request: Request) -> Response:
        asked = request.query_params
        q, status, digest = asked.get("q", ""), asked.get("status", ""), asked.get("digest", "")
        found, total = await run_in_threadpool(
            overview.search_subscribers, self.engine, q, status, digest
        )
        return self.render(
            "admin/subscribers.html",
            request,
            found=found,
            total=total,
            q=q,
            status=status,
            digest=digest,
            statuses=STATUSES,
            digests=self.settings.digests,
            report=None,
        )

    async def subscribers_change(self, request: Request) -> Response:
        """One form for add, unsubscribe and change digests (its button says which)."""
        form = await request.form()
        action = str(form.get("do", ""))
        addresses = str(form.get("address", "")).split()
        digests = [str(v) for v in form.getlist("digest")]
        now = datetime.now(UTC)
        if action == "add":
            added = await run_in_threadpool(self.operations.add, addresses, digests, now)
            done = added.done
            note = f"{done.added} added, {done.updated} updated, {done.unchanged} unchanged"
            note += "".join(f"; kept: {line}" for line in done.refused)
            note += "".join(f"; refused: {line}" for line in added.problems)
        elif action == "unsubscribe" and len(addresses) == 1:
            found = await run_in_threadpool(self.operations.remove, addresses[0], now)
            note = f"{found.address}: unsubscribed"
        elif action == "digests" and len(addresses) == 1:
            choose = self.operations.choose
            found = await run_in_threadpool(choose, addresses[0], digests, now)
            note = f"{found.address}: digests changed"
        else:
            raise RequestError("say what to do, and for one address (several only to add)")
        return self.render("admin/message.html", request, note=note, back="subscribers")

    async def subscribers_import(self, request: Request) -> Response:
        form = await request.form()
        text = str(form.get("csv", ""))
        done = await run_in_threadpool(self.operations.import_csv, text, datetime.now(UTC))
        return self.render("admin/imported.html", request, 200, report=done)

    async def subscribers_export(self, request: Request) -> Response:
        text = await run_in_threadpool(self.operations.export_csv)
        headers = {
            "Content-Disposition": 'attachment; filename="subscribers.csv"',
            "Cache-Control": "no-store",
        }
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)

    def routes(self) -> list[BaseRoute]:
        """Every console route, each with the name its form token is signed for."""
        table: list[tuple[str, str, Endpoint, list[str]]] = [
            ("/", "admin/home", self.home, PAGE),
            ("/signout", "admin/signout", self.signout, ["POST"]),
            ("/problems", "admin/problems", self.problems, PAGE),
            ("/publish", "admin/publish", self.publish, ["POST"]),
            ("/issues", "admin/issues", self.issues, PAGE),
            ("/issues/{id:int}", "admin/issue", self.issue, PAGE),
            ("/issues/{id:int}/retry", "admin/retry", self.retry, ["POST"]),
            ("/issues/{id:int}/reactivate", "admin/reactivate", self.reactivate, ["POST"]),
            ("/digests/{name}/send", "admin/send", self.send, ["POST"]),
            ("/digests/{name}/preview", "admin/preview", self.preview, PAGE),
            ("/digests/{name}/preview.html", "admin/frame", self.preview_frame, PAGE),
            ("/digests/{name}/test", "admin/test", self.send_test, ["POST"]),
            ("/subscribers", "admin/subscribers", self.subscribers, PAGE),
            ("/subscribers/change", "admin/change", self.subscribers_change, ["POST"]),
            ("/subscribers/import", "admin/import", self.subscribers_import, ["POST"]),
            ("/subscribers/export.csv", "admin/export", self.subscribers_export, PAGE),
        ]
        routes: list[BaseRoute] = [
            Route("/signin", self.web.form_post("admin/signin", self.signin), methods=POSTS)
        ]
        routes += [
            Route(path, self.guarded(action, call), methods=methods)
            for path, action, call, methods in table
        ]
        return routes


class RequestError(PublisherError):
    """A console form that does not say what to do."""

    hint = "use the buttons of the subscribers page"


def _status_of(exc: PublisherError) -> int:
    """Another publish running is the server's state (503); a missing issue or subscriber is
    404; anything else is the request's own mistake (422)."""
    if isinstance(exc, LockTimeout):
        return 503
    return 404 if isinstance(exc, NotFound) else 422
