"""The service under faults it meets first (issue 8, findings 2, 3 and 14): every task of
``publisher run`` is supervised, a task that keeps failing turns ``/healthz`` to 503 naming it,
``/api/status`` and ``/metrics`` show every task's health from the store, and a failing publish
never stops the watcher, the rescan or the digest jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.config.settings import Settings
from publisher.service.worker import Worker
from publisher.store.publishing import Store
from publisher.store.status import Status
from tests.conftest import Project, clean_environ
from tests.services import Running, fast, fetch, running, until, wait_for, wait_until_up
from tests.smtpserver import free_port

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
BAD_DATE = "---\ntitle: Bad Date\ndate: 2024-13-45\nattribution: By us.\n---\nBody.\n"


def _article(title: str) -> str:
    return f"---\ntitle: {title}\ndate: 2026-03-01\nattribution: By the Harbor Wire.\n---\nNews.\n"


def _published(settings: Settings, slug: str) -> bool:
    store = Store.open(settings.database_url)
    try:
        return store.outputs.head(f"articles/{slug}.html") is not None
    finally:
        store.close()


async def _health(service: Running) -> tuple[int, dict[str, object]]:
    status, body = await service.get("/healthz")
    return status, json.loads(body)


def test_a_task_that_keeps_failing_makes_healthz_503_and_status_and_metrics_show_it(
    db_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    db_project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    settings = db_project.settings()
    content = db_project.root / "content"
    kept = db_project.root / "content.away"

    async def scenario() -> None:
        content.rename(kept)  # the watcher cannot start, and every publish fails
        async with running(settings) as service:

            async def unhealthy() -> bool:
                return (await _health(service))[0] == 503

            await until(unhealthy, 20, "/healthz 503")
            body = (await _health(service))[1]
            failing = {item["task"] for item in body["failing"]}  # type: ignore[attr-defined]
            assert "watcher" in failing, body

            async def stored() -> bool:
                status = json.loads((await service.get("/api/status", TOKEN))[1])
                return any(
                    t["task"] == "watcher" and t["state"] == "unhealthy" for t in status["tasks"]
                )

            await until(stored, 10, "the watcher's health in the store")
            metrics = (await service.get("/metrics", TOKEN))[1].decode()
            assert "publisher_tasks_unhealthy 0" not in metrics
            assert 'task="watcher"} 1' in metrics  # publisher_task_unhealthy{…,task="watcher"}

            kept.rename(content)  # the folder is back: the watcher starts and stays up

            async def healthy() -> bool:
                return (await _health(service))[0] == 200

            await until(healthy, 20, "/healthz 200 again")

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    watcher = [r for r in caplog.records if r.getMessage().startswith("watcher failed")]
    assert watcher and all(r.exc_info and r.exc_info[0] is FileNotFoundError for r in watcher)
    assert any(r.getMessage().startswith("watcher restarts in") for r in caplog.records)
    # A process that stops cleanly takes its task rows with it.
    store = Store.open(settings.database_url)
    assert Status(store.engine).tasks() == []
    store.close()


def test_a_bad_file_at_start_up_does_not_stop_the_worker(db_project: Project) -> None:
    db_project.write("bad.md", BAD_DATE)
    settings = db_project.settings()

    async def scenario() -> None:
        async with running(settings) as service:
            worker = service.worker

            async def watching() -> bool:
                health = worker.supervisor.health
                return "watcher" in health and {"digest:daily", "digest:weekly"} <= set(health)

            await until(watching, 20, "the watcher and the digest jobs run")
            db_project.write("bad.md", _article("Fixed At Last"))

            async def fixed() -> bool:
                return await asyncio.to_thread(_published, settings, "fixed-at-last")

            await until(fixed, 2, "the fixed file published by the watcher")

    asyncio.run(scenario())
    store = Store.open(settings.database_url)
    runs = Status(store.engine).last_runs()
    store.close()
    assert {"digest:daily", "digest:weekly"} <= set(runs)


def test_the_watcher_goes_on_after_a_publish_that_raised(
    db_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    # A hub URL without a scheme makes each publish that changed a feed raise after its commit
    # (the config check refuses it at load; here it is set past the check).
    loaded = db_project.settings()
    settings = replace(loaded, feeds=replace(loaded.feeds, hub="hub.example.org/publish"))

    async def scenario() -> None:
        async with running(settings, fast(Worker(settings))) as service:

            async def watching() -> bool:
                return service.worker.supervisor.health.get("watcher") is not None

            await until(watching, 20, "the watcher runs")
            for title, slug in [("First Drop", "first-drop"), ("Second Drop", "second-drop")]:
                db_project.write(f"{slug}.md", _article(title))

                async def published(slug: str = slug) -> bool:
                    return await asyncio.to_thread(_published, settings, slug)

                await until(published, 2, f"{slug} published by the watcher")

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    failed = [r for r in caplog.records if r.getMessage().startswith("publish failed")]
    # Each drop was published by a publish after one that raised: at least two, each loud.
    assert len(failed) >= 2 and all(r.exc_info for r in failed)


def test_a_worker_that_cannot_schedule_is_named_on_healthz(db_project: Project) -> None:
    # A schedule the config check refuses at load; set past the check, the leader task fails.
    loaded = db_project.settings()
    digests = (replace(loaded.digests[0], schedule="0 25 * * *"), *loaded.digests[1:])
    settings = replace(loaded, digests=digests)

    async def scenario() -> None:
        async with running(settings) as service:

            async def unhealthy() -> bool:
                return (await _health(service))[0] == 503

            await until(unhealthy, 20, "/healthz 503")
            body = (await _health(service))[1]
            (leader,) = body["failing"]  # type: ignore[misc]
            assert leader["task"] == "leader"
            assert "digests.daily.schedule: '0 25 * * *' is not a cron" in leader["last_error"]

    asyncio.run(scenario())


def test_run_goes_on_picking_up_new_files_after_a_bad_one(project: Project, tmp_path: Path) -> None:
    """Issue 8, "Done when": in ``publisher run`` the watcher picks up a new file within 2 s
    after a bad one was published (the rescan, a minute apart, would take far longer)."""
    project.environ.update(
        {"PUBLISHER_ADMIN_TOKEN": TOKEN, "PUBLISHER_CONTENT__SETTLE_SECONDS": "0.3"}
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    command += ["--root", str(project.root), "run", "--port", str(port)]
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        service = subprocess.Popen(
            command, env=clean_environ(project.environ), stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            wait_until_up(base, service)

            def problems() -> list[str]:
                headers = {"Authorization": f"Bearer {TOKEN}"}
                return [
                    p["path"]
                    for p in json.loads(fetch(f"{base}/api/status", headers)[1])["problems"]
                ]

            wait_for(lambda: fetch(f"{base}/atom.xml")[0] == 200, 30, "the site published")
            project.write("bad.md", BAD_DATE)
            wait_for(lambda: problems() == ["bad.md"], 30, "the bad file's problem stored")
            project.write("fresh.md", _article("Fresh After Bad"))
            wait_for(
                lambda: b"Fresh After Bad" in fetch(f"{base}/atom.xml")[1],
                2,
                "the new file in the feed",
            )
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=30)
    text = log_path.read_text()
    assert service.returncode == 0, text
    assert "ERROR publisher.worker: content problem: bad.md: date: " in text
