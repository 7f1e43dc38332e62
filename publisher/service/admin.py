"""The operators' admin API: publish now, open an issue now, the status, the metrics and the
API's own description, each behind the admin token (compared in constant time).

It fails closed: with no token configured there is no API. A request's own mistake (an unknown
digest, say) is 422 with the hint; another publish still running is 503 with ``Retry-After``;
a store that is gone is left to the app's one 503 handler.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.config.settings import Settings
from publisher.errors import PublisherError, StoreError
from publisher.mail.issues import find_digest, open_issue
from publisher.service.health import metrics_body, publish_body, status_body
from publisher.service.logs import publish_line
from publisher.service.openapi import openapi_for
from publisher.site.publish import publish
from publisher.store.locks import LockTimeout
from publisher.store.outbox import Outbox
from publisher.store.status import Status

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)


class AdminApi:
    """The admin routes over the store's outbox and status; ``publishes`` counts this process's
    own publishes for ``/metrics``."""

    def __init__(
        self, settings: Settings, outbox: Outbox, status: Status, env: Environment
    ) -> None:
        self.settings, self.outbox, self.status, self.env = settings, outbox, status, env
        self.publishes = 0
        self.description = openapi_for(settings)

    def routes(self) -> list[BaseRoute]:
        """The routes under ``/api``."""
        return [
            Route("/publish", self.admin(self.api_publish), methods=["POST"]),
            Route("/status", self.admin(self.api_status), methods=["GET"]),
            Route("/digests/{name}/send", self.admin(self.api_send), methods=["POST"]),
            Route("/openapi.json", self.admin(self.openapi), methods=["GET"]),
        ]

    def admin(self, endpoint: Endpoint) -> Endpoint:
        """Fail closed: no configured token, no API; a wrong token, 401 (constant-time compare)."""

        async def guarded(request: Request) -> Response:
            expected = self.settings.web.admin_token
            if not expected:
                return JSONResponse({"error": "admin API disabled: set PUBLISHER_ADMIN_TOKEN"}, 503)
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected.encode()
            ):
                headers = {"WWW-Authenticate": 'Bearer realm="publisher"'}
                return JSONResponse({"error": "a valid bearer token is required"}, 401, headers)
            try:
                return await endpoint(request)
            except StoreError:
                raise  # the environment's fault, not the request's: 503 (see store_down)
            except LockTimeout as exc:  # another publish is still running: come back later
                body = {"error": str(exc), "hint": exc.hint}
                return JSONResponse(body, 503, {"Retry-After": "30"})
            except PublisherError as exc:
                return JSONResponse({"error": str(exc), "hint": exc.hint}, 422)

        return guarded

    async def api_publish(self, request: Request) -> Response:
        """Scan and build now; with ``?digest=NAME``, open that digest's issue now too."""
        now = datetime.now(UTC)
        began = time.monotonic()
        report = await run_in_threadpool(publish, self.settings, now)
        self.publishes += 1
        log.info("API: %s", publish_line(report, time.monotonic() - began))
        body = publish_body(report)
        if "digest" in request.query_params:
            body["issue"] = await run_in_threadpool(self._open, request.query_params["digest"], now)
        return JSONResponse(body)

    def _open(self, name: str, now: datetime) -> dict[str, Any]:
        digest = find_digest(self.settings, name)
        opened = open_issue(self.settings, self.outbox, self.env, digest, now)
        if opened.issue is None:
            return {"digest": name, "opened": False, "reason": opened.reason}
        issue = opened.issue
        return {
            "digest": name,
            "opened": True,
            "id": issue.id,
            "slot": issue.slot,
            "subject": issue.subject,
            "articles": len(opened.plan.articles),
            "recipients": issue.recipients,
        }

    async def api_send(self, request: Request) -> Response:
        """Open the issue of one digest now; the worker sends it."""
        name = request.path_params["name"]
        return JSONResponse(await run_in_threadpool(self._open, name, datetime.now(UTC)))

    async def api_status(self, request: Request) -> Response:
        """What the store holds, the content problems and every process's tasks."""
        now = datetime.now(UTC)
        body = await run_in_threadpool(status_body, self.settings, self.status, now)
        return JSONResponse(body)

    async def metrics(self, request: Request) -> Response:
        """Prometheus text format: what the store holds, and this process's own counters."""
        now = datetime.now(UTC)
        body = await run_in_threadpool(metrics_body, self.status, self.publishes, now)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def openapi(self, request: Request) -> Response:
        """The admin API's description; behind the token like the API itself."""
        return JSONResponse(self.description)
