"""Web handlers never block the event loop on the store (issue 8, finding 4; PITFALLS 67):
while another connection holds SQLite's write lock, feeds and ``/healthz`` answer at once over a
real socket, and a one-click unsubscribe waits for the lock, answers 200 and takes effect.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from publisher.mail.tokens import token
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.services import fetch, serve, wait_until_up
from tests.smtpserver import free_port

HOLD_SECONDS = 2.0  # well within SQLite's busy timeout (10 s), which the unsubscribe waits


def test_feeds_and_health_answer_while_the_store_is_locked_and_an_unsubscribe_waits_for_it(
    project: Project, tmp_path: Path
) -> None:
    project.publish()
    settings = project.settings()
    store = Store.open(settings.database_url)
    outbox = Outbox(store.engine)
    outbox.subscribers.add([("ada@example.com", ["daily"])], "active", NOW)
    (reader,) = outbox.subscribers.each()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("wb")
    service = serve(project, port, log)
    try:
        wait_until_up(base, service)
        lock = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=0)
        lock.isolation_level = None
        lock.execute("BEGIN IMMEDIATE")  # what a long write (a publish, a big import) holds
        with ThreadPoolExecutor(1) as pool:
            try:
                unsubscribing = pool.submit(
                    fetch,
                    f"{base}/unsubscribe/{token(reader, 'unsubscribe')}",
                    {"Content-Type": "application/x-www-form-urlencoded"},
                    "POST",
                    b"List-Unsubscribe=One-Click",
                )
                held = time.monotonic()
                while time.monotonic() - held < HOLD_SECONDS:
                    # A second is a loose bound: it tells an answer from a wait on the lock.
                    assert fetch(f"{base}/atom.xml", timeout=1)[0] == 200
                    assert fetch(f"{base}/healthz", timeout=1)[0] == 200
                assert not unsubscribing.done()  # it does wait for the lock
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            status, page = unsubscribing.result(timeout=15)
        assert status == 200 and b"will receive no more digests" in page
        assert outbox.subscribers.get(reader.id).status == "unsubscribed"  # type: ignore[union-attr]
    finally:
        store.close()
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        log.close()
    assert service.returncode == 0, (tmp_path / "serve.log").read_text()
