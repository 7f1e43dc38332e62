"""Publishing inside the web process (issue 8, finding 12; PITFALLS 66): a publish large enough
to fan out to worker processes, run twenty times in a row through ``POST /api/publish`` of a
running ``publisher serve``, finishes every time, and SIGTERM then stops the server cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from publisher.site.parallel import THRESHOLD
from tests.conftest import Project
from tests.services import fetch, serve, wait_until_up
from tests.smtpserver import free_port

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
FILES = 300
ROUNDS = 20
HANG = 120  # seconds: far beyond a publish of 300 files, so only a hang reaches it


def _article(number: int, edition: int) -> str:
    return (
        f"---\ntitle: Harbor Note {number}\ndate: 2026-02-{1 + number % 28:02d}\n"
        f"attribution: By the Harbor Wire.\n---\nEdition {edition} of note {number}.\n"
    )


def _write_all(project: Project, edition: int) -> None:
    for number in range(FILES):
        project.write(f"bulk/note-{number:03d}.md", _article(number, edition))


def _touch_all(project: Project, moment: float) -> None:
    """New modification times, same bytes: every file is read again (by the worker processes)."""
    for path in (project.root / "content" / "bulk").iterdir():
        os.utime(path, (moment, moment))


def test_twenty_large_publishes_through_the_api_finish_and_sigterm_stops_the_server(
    db_project: Project, tmp_path: Path
) -> None:
    project = db_project  # on SQLite and on PostgreSQL
    assert FILES >= THRESHOLD  # large enough for the worker pool
    project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    _write_all(project, 0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    service = serve(project, port, log)
    api = {"Authorization": f"Bearer {TOKEN}"}
    try:
        wait_until_up(base, service)
        for round in range(ROUNDS):
            if round % 5 == 4:
                _write_all(project, round)  # changed articles: pages rendered by the pool too
            else:
                _touch_all(project, time.time() - 60 + round)
            status, body = fetch(f"{base}/api/publish", api, "POST", timeout=HANG)
            report = json.loads(body)
            assert (status, report["ok"]) == (200, True), (round, report)
            changed = FILES if round in (0, 4, 9, 14, 19) else 0
            assert len(report["new"]) + len(report["updated"]) == changed + 4 * (round == 0)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
        log.close()
    assert service.returncode == 0, log_path.read_text()
