"""The database goes away and comes back (issue 8, finding 14): every route answers 503 with the
reason instead of a bare 500, ``/healthz`` names it, the worker writes one line per failing
round instead of a traceback storm, and both recover on their own once it is back.

The fault is real: PostgreSQL is reached through a TCP proxy that the test stops (every
connection cut, new ones refused) and starts again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from publisher.mail.tokens import token
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.services import fast, fetch, serve, until, wait_until_up
from tests.smtpserver import free_port
from tests.tcpproxy import Proxy

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied(project: Project, postgres_url: str) -> Iterator[tuple[Project, Proxy]]:
    """The project on PostgreSQL, through a proxy the test can stop."""
    url = make_url(postgres_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432)).start()
    through = url.set(host="127.0.0.1", port=proxy.port)
    project.environ["DATABASE_URL"] = through.render_as_string(hide_password=False)
    project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    try:
        yield project, proxy
    finally:
        proxy.stop()


def test_with_the_database_gone_every_route_answers_503_with_the_reason(
    proxied: tuple[Project, Proxy], tmp_path: Path
) -> None:
    project, proxy = proxied
    project.publish()
    store = Store.open(project.settings().database_url)
    outbox = Outbox(store.engine)
    outbox.subscribers.add([("ada@example.com", ["daily"])], "active", NOW)
    (reader,) = outbox.subscribers.each()
    store.close()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    service = serve(project, port, log)
    api = {"Authorization": f"Bearer {TOKEN}"}
    try:
        wait_until_up(base, service)
        assert fetch(f"{base}/atom.xml")[0] == 200
        proxy.stop()
        status, body = fetch(f"{base}/healthz")
        assert status == 503
        assert json.loads(body)["ok"] is False
        assert "connection" in json.loads(body)["database"].lower()
        for path, method, kind in [
            ("/atom.xml", "GET", b"<html"),
            ("/", "GET", b"<html"),
            (f"/unsubscribe/{token(reader, 'unsubscribe')}", "POST", b"<html"),
            ("/api/status", "GET", b'"error"'),
            ("/api/publish", "POST", b'"error"'),
            ("/metrics", "GET", b"# database"),
        ]:
            status, body = fetch(f"{base}{path}", api, method)
            assert (status, kind in body) == (503, True), (path, status, body[:200])
        proxy.start()
        assert fetch(f"{base}/healthz")[0] == 200
        assert fetch(f"{base}/atom.xml")[0] == 200
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        log.close()
    text = log_path.read_text()
    assert service.returncode == 0, text
    assert "Traceback" not in text
    assert "ERROR publisher.service.web: GET /atom.xml: database " in text


def test_the_worker_logs_one_line_per_failing_round_and_recovers(
    proxied: tuple[Project, Proxy], caplog: pytest.LogCaptureFixture
) -> None:
    from publisher.service.worker import Worker

    project, proxy = proxied
    project.environ.update(
        {"PUBLISHER_WORKER__DRAIN_SECONDS": "0.2", "PUBLISHER_WORKER__RESCAN_SECONDS": "1"}
    )
    settings = project.settings()

    async def scenario() -> None:
        worker = fast(Worker(settings))
        worker.lead_every = 0.2
        # A drain round waits a moment for the store before it fails: failures a few seconds
        # apart are still "in a row".
        worker.supervisor.steady = 10
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        health = worker.supervisor.health

        async def leading() -> bool:
            return worker.leading and health.get("drain") is not None

        await until(leading, 20, "the worker leads and drains")
        caplog.clear()
        proxy.stop()

        async def unhealthy() -> bool:
            return health["drain"].state == "unhealthy" and not worker.leading

        await until(unhealthy, 20, "the drain unhealthy and the lead given up")
        outage = list(caplog.records)
        proxy.start()

        async def recovered() -> bool:
            return health["drain"].state == "ok" and worker.leading

        await until(recovered, 20, "the drain sending and the worker leading again")
        stop.set()
        await running
        assert all(r.exc_info is None for r in outage), "a traceback while the database is gone"
        drain = [r for r in outage if r.getMessage().startswith("drain failed")]
        assert len(drain) >= 3
        assert all("\n" not in r.getMessage() and "database" in r.getMessage() for r in drain)

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    assert sum(line.startswith("lost the lead") for line in lines) == 1
    assert any(line.startswith("drain recovered after") for line in lines)
