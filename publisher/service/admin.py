"""The operators' admin API: every action of the console (:mod:`publisher.service.console`) as
a JSON route — publish now, open, preview and test-send an issue, retry an issue's failures,
reactivate the readers it bounced, find, add, unsubscribe, import and export subscribers — plus
the status, the metrics and the API's own description, each behind the admin token (compared
in constant time). What each route does is :class:`publisher.service.operations.Operations`'s.

It fails closed: with no token configured there is no API. A request's own mistake (an unknown
digest, an address that is no address) is 422 with the hint; an issue or a subscriber that does
not exist is 404; another publish still running is 503 with ``Retry-After``; a store that is
gone is left to the app's one 503 handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.config.settings import Settings
from publisher.errors import ConfigError, NotFound, PublisherError, StoreError
from publisher.mail.issues import find_digest
from publisher.models import Subscriber
from publisher.service.health import metrics_body, publish_body, status_body
from publisher.service.logs import publish_line
from publisher.service.openapi import openapi_for
from publisher.service.operations import STATUSES, Operations, address_of
from publisher.service.session import token_matches
from publisher.store import overview
from publisher.store.locks import LockTimeout
from publisher.store.status import Status
from publisher.store.subscribers import Imported

Endpoint = Callable[[Request], Awaitable[Response]]
GET, POST = ["GET"], ["POST"]
log = logging.getLogger(__name__)


class BadRequest(PublisherError):
    """A JSON body that is not what the route takes."""

    hint = "see /api/openapi.json for what each route takes"


def subscriber_json(subscriber: Subscriber) -> dict[str, Any]:
    return {
        "address": subscriber.address,
        "status": subscriber.status,
        "digests": list(subscriber.digests),
    }


def imported_json(done: Imported) -> dict[str, Any]:
    return {
        "added": done.added,
        "updated": done.updated,
        "unchanged": done.unchanged,
        "refused": list(done.refused),
    }


def issue_json(issue: overview.IssueSummary) -> dict[str, Any]:
    return {
        "id": issue.id,
        "digest": issue.digest,
        "slot": issue.slot,
        "opened": issue.opened.isoformat(),
        "subject": issue.subject,
        "recipients": issue.recipients,
        "states": issue.states,
    }


async def _body(request: Request, fields: dict[str, type]) -> dict[str, Any]:
    """The JSON object a route takes: exactly ``fields`` (lists are of strings), all present.

    :raises BadRequest: naming what is wrong."""
    try:
        given = await request.json()
    except ValueError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(given, dict) or set(given) != set(fields):
        raise BadRequest(f"the body must be a JSON object with exactly: {', '.join(fields)}")
    for name, kind in fields.items():
        value = given[name]
        strings = isinstance(value, list) and all(isinstance(v, str) for v in value)
        if not isinstance(value, kind) or (kind is list and not strings):
            raise BadRequest(f"{name}: must be a {'list of strings' if kind is list else 'string'}")
    return given


class AdminApi:
    """The admin routes over the operator's actions and the store's status."""

    def __init__(self, settings: Settings, operations: Operations, status: Status) -> None:
        self.settings, self.operations, self.status = settings, operations, status
        self.engine = operations.outbox.engine
        self.description = openapi_for(settings)

    def routes(self) -> list[BaseRoute]:
        """The routes under ``/api``."""
        table: list[tuple[str, Endpoint, list[str]]] = [
            ("/publish", self.api_publish, POST),
            ("/status", self.api_status, GET),
            ("/digests/{name}/send", self.api_send, POST),
            ("/digests/{name}/preview", self.api_preview, GET),
            ("/digests/{name}/test", self.api_test, POST),
            ("/issues", self.api_issues, GET),
            ("/issues/{id:int}", self.api_issue, GET),
            ("/issues/{id:int}/retry", self.api_retry, POST),
            ("/issues/{id:int}/reactivate", self.api_reactivate, POST),
            ("/subscribers", self.api_subscribers, ["GET", "POST"]),
            ("/subscribers/unsubscribe", self.api_unsubscribe, POST),
            ("/subscribers/digests", self.api_choose, POST),
            ("/subscribers/import", self.api_import, POST),
            ("/subscribers/export", self.api_export, GET),
            ("/openapi.json", self.openapi, GET),
        ]
        return [Route(path, self.admin(call), methods=methods) for path, call, methods in table]

    def admin(self, endpoint: Endpoint) -> Endpoint:
        """Fail closed: no configured token, no API; a wrong token, 401 (constant-time compare)."""

        async def guarded(request: Request) -> Response:
            expected = self.settings.web.admin_token
            if not expected:
                return JSONResponse({"error": "admin API disabled: set PUBLISHER_ADMIN_TOKEN"}, 503)
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token_matches(expected, given):
                headers = {"WWW-Authenticate": 'Bearer realm="publisher"'}
                return JSONResponse({"error": "a valid bearer token is required"}, 401, headers)
            try:
                return await endpoint(request)
            except StoreError:
                raise  # the environment's fault, not the request's: 503 (see store_down)
            except LockTimeout as exc:  # another publish is still running: come back later
                body = {"error": str(exc), "hint": exc.hint}
                return JSONResponse(body, 503, {"Retry-After": "30"})
            except NotFound as exc:
                return JSONResponse({"error": str(exc), "hint": exc.hint}, 404)
            except PublisherError as exc:
                return JSONResponse({"error": str(exc), "hint": exc.hint}, 422)

        return guarded

    async def api_publish(self, request: Request) -> Response:
        """Scan and build now; with ``?digest=NAME``, open that digest's issue now too."""
        now = datetime.now(UTC)
        done = await run_in_threadpool(self.operations.publish, now)
        log.info("API: %s", publish_line(done.report, done.seconds))
        body = publish_body(done.report)
        if "digest" in request.query_params:
            name = request.query_params["digest"]
            body["issue"] = await run_in_threadpool(self.operations.open, name, now)
        return JSONResponse(body)

    async def api_send(self, request: Request) -> Response:
        """Open the issue of one digest now; the worker sends it."""
        name = request.path_params["name"]
        opened = await run_in_threadpool(self.operations.open, name, datetime.now(UTC))
        return JSONResponse(opened)

    async def api_preview(self, request: Request) -> Response:
        """The next issue of one digest, its HTML part for a sample reader; nothing stored."""
        name = request.path_params["name"]
        shown = await run_in_threadpool(self.operations.preview, name, datetime.now(UTC))
        body = {"digest": name, "subject": shown.subject, "articles": shown.articles}
        return JSONResponse(body | {"html": shown.html, "problems": list(shown.problems)})

    async def api_test(self, request: Request) -> Response:
        """Send the next issue of one digest to one address now; nothing stored."""
        name = request.path_params["name"]
        to = (await _body(request, {"to": str}))["to"]
        find_digest(self.settings, name)
        try:
            address_of(to)
        except ConfigError as exc:  # nothing to send: said, like an issue that was not opened
            return JSONResponse({"digest": name, "to": to, "sent": False, "reply": str(exc)})
        reply = await run_in_threadpool(self.operations.send_test, name, to, datetime.now(UTC))
        return JSONResponse({"digest": name, "to": to, "sent": True, "reply": reply})

    async def api_issues(self, request: Request) -> Response:
        """The newest issues with their deliveries by state."""
        found = await run_in_threadpool(overview.recent_issues, self.engine)
        return JSONResponse({"issues": [issue_json(issue) for issue in found]})

    async def api_issue(self, request: Request) -> Response:
        """One issue: its deliveries by state, its articles and the relay's replies grouped."""
        issue_id = request.path_params["id"]
        issue = await run_in_threadpool(self.operations.issue, issue_id)
        articles = await run_in_threadpool(overview.issue_articles, self.engine, issue_id)
        replies = await run_in_threadpool(overview.issue_replies, self.engine, issue_id)
        return JSONResponse(
            issue_json(issue)
            | {"articles": [{"title": t, "slug": s} for t, s, _when in articles]}
            | {"replies": [{"state": r.state, "reply": r.reply, "count": r.count} for r in replies]}
        )

    async def api_retry(self, request: Request) -> Response:
        """Queue the issue's failed deliveries again (to readers still active)."""
        issue_id = request.path_params["id"]
        queued = await run_in_threadpool(self.operations.retry, issue_id, datetime.now(UTC))
        return JSONResponse({"issue": issue_id, "queued": queued})

    async def api_reactivate(self, request: Request) -> Response:
        """Make the readers this issue bounced active again."""
        issue_id = request.path_params["id"]
        done = await run_in_threadpool(self.operations.reactivate, issue_id, datetime.now(UTC))
        return JSONResponse({"issue": issue_id, "reactivated": done})

    async def api_subscribers(self, request: Request) -> Response:
        """GET: find subscribers (``q`` in the address, ``status``, ``digest``); POST: add
        ``addresses`` as active subscribers of ``digests`` (all when empty)."""
        if request.method == "POST":
            given = await _body(request, {"addresses": list, "digests": list})
            add = self.operations.add
            done = await run_in_threadpool(
                add, given["addresses"], given["digests"], datetime.now(UTC)
            )
            return JSONResponse(imported_json(done.done) | {"problems": list(done.problems)})
        asked = request.query_params
        if asked.get("status", "") not in ("", *STATUSES):
            raise BadRequest(f"status: one of {', '.join(STATUSES)}, or empty")
        if asked.get("digest"):
            find_digest(self.settings, asked["digest"])
        found, total = await run_in_threadpool(
            overview.search_subscribers,
            self.engine,
            asked.get("q", ""),
            asked.get("status", ""),
            asked.get("digest", ""),
        )
        return JSONResponse({"total": total, "subscribers": [subscriber_json(s) for s in found]})

    async def api_unsubscribe(self, request: Request) -> Response:
        """Unsubscribe one reader (kept, so never mailed again)."""
        address = (await _body(request, {"address": str}))["address"]
        await run_in_threadpool(self.operations.remove, address, datetime.now(UTC))
        found = await run_in_threadpool(self.operations.find, address)
        return JSONResponse(subscriber_json(found))

    async def api_choose(self, request: Request) -> Response:
        """Set which digests one reader receives."""
        given = await _body(request, {"address": str, "digests": list})
        now = datetime.now(UTC)
        await run_in_threadpool(self.operations.choose, given["address"], given["digests"], now)
        found = await run_in_threadpool(self.operations.find, given["address"])
        return JSONResponse(subscriber_json(found))

    async def api_import(self, request: Request) -> Response:
        """Import ``email[,digests]`` CSV rows: bad rows reported by line, good ones kept."""
        text = (await _body(request, {"csv": str}))["csv"]
        done = await run_in_threadpool(self.operations.import_csv, text, datetime.now(UTC))
        return JSONResponse(imported_json(done.done) | {"problems": list(done.problems)})

    async def api_export(self, request: Request) -> Response:
        """Every subscriber as CSV (email, digests, status)."""
        text = await run_in_threadpool(self.operations.export_csv)
        headers = {"Content-Disposition": 'attachment; filename="subscribers.csv"'}
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)

    async def api_status(self, request: Request) -> Response:
        """What the store holds, the content problems and every process's tasks."""
        now = datetime.now(UTC)
        body = await run_in_threadpool(status_body, self.settings, self.status, now)
        return JSONResponse(body)

    async def metrics(self, request: Request) -> Response:
        """Prometheus text format: what the store holds, and this process's own counters."""
        now = datetime.now(UTC)
        publishes = self.operations.publishes
        body = await run_in_threadpool(metrics_body, self.status, publishes, now)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        """The admin API's description; behind the token like the API itself."""
        return JSONResponse(self.description)
