"""The service as it runs: ``publisher run`` serving the site, picking up a new file, taking
digests from the schedule, and stopping cleanly on SIGTERM; ``publisher schedule``.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

from publisher.service.schedule import jobs, next_runs
from publisher.service.worker import Worker
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.store.status import Status
from tests.cli.test_cli import _run
from tests.conftest import BERLIN, NOW, Project, clean_environ
from tests.smtpserver import MailServer, free_port

NEW = """---
title: Fresh From The Quay
date: 2026-03-01
attribution: "Originally published by Harbor Wire."
---
Just in.
"""


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own loopback)
        return bytes(response.read())


def test_run_serves_the_site_and_picks_up_a_new_file(project: Project) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    command += ["--root", str(project.root), "run", "--port", str(port)]
    service = subprocess.Popen(
        command,
        env=clean_environ({**project.environ, "PUBLISHER_CONTENT__SETTLE_SECONDS": "0.3"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if b"<feed" in _get(f"{base}/atom.xml"):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the site never came up")
        assert b"Fresh From The Quay" not in _get(f"{base}/atom.xml")
        project.write("fresh.md", NEW)
        dropped = time.monotonic()
        while time.monotonic() - dropped < 15:
            if b"Fresh From The Quay" in _get(f"{base}/atom.xml"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the new file never reached the feed")
        assert b"Fresh From The Quay" in _get(f"{base}/articles/fresh-from-the-quay.html")
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=30)
    assert service.returncode == 0, err.decode()
    assert b"admin API: " in out


def test_schedule_lists_every_job_with_its_next_runs(project: Project) -> None:
    listed = _run(project, "schedule").stdout.splitlines()
    assert [line.split()[0] for line in listed] == ["publish", "digest:daily", "digest:weekly"]
    assert "Mon" in listed[2] and re.search(r"07:00 CES?T", listed[1])


def test_jobs_come_from_the_config_with_an_explicit_grace(project: Project) -> None:
    settings = project.settings()
    assert [job.id for job in jobs(settings)] == ["publish", "digest:daily", "digest:weekly"]
    runs = next_runs(settings, datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN), count=2)
    # Across the change to summer time, still 07:00 on the wall clock.
    assert [f"{t:%m-%d %H:%M %Z}" for t in runs["digest:daily"]] == [
        "03-29 07:00 CEST",
        "03-30 07:00 CEST",
    ]
    worker = Worker(settings)
    try:
        scheduler = worker.scheduler()
        # Set in job_defaults, where APScheduler reads them (a top-level kwarg is ignored).
        defaults = scheduler._job_defaults  # type: ignore[attr-defined]
        assert defaults == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        assert [job.id for job in scheduler.get_jobs()] == [j.id for j in jobs(settings)]
    finally:
        worker.engine.dispose()


def test_the_worker_opens_the_due_issue_once_and_sends_it(
    project: Project, mail_server: MailServer
) -> None:
    project.environ.update(mail_server.environ())
    project.environ["PUBLISHER_WORKER__WATCH"] = "false"
    settings = project.settings()
    store = Store.open(settings.database_url)
    Outbox(store.engine).subscribers.add([("ada@example.com", ["daily"])], "active", NOW)
    store.close()
    clock = lambda: datetime(2026, 3, 30, 7, 5, tzinfo=BERLIN)  # noqa: E731 (five past the slot)

    async def run_until_sent() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(Worker(settings, clock).run(stop))
        deadline = time.monotonic() + 20
        # The SMTP server records on its own thread: poll.
        while not mail_server.received and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        stop.set()
        await running

    asyncio.run(run_until_sent())
    asyncio.run(run_until_sent())  # a restart in the same slot opens nothing more
    assert [r.recipients for r in mail_server.received] == [["ada@example.com"]]
    store = Store.open(settings.database_url)
    runs = Status(store.engine).last_runs()
    store.close()
    assert set(runs) == {"publish", "digest:daily", "digest:weekly"}
    assert runs["publish"] == clock()
    message = mail_server.received[0].message()
    assert message["Subject"] == "Harbor Notes: 4 new stories"


def test_only_one_worker_leads_until_it_lets_go(db_project: Project) -> None:
    settings = db_project.settings()
    first, second = Worker(settings), Worker(settings)
    try:
        assert first.leadership.try_acquire()
        assert not second.leadership.try_acquire()  # another process, or another worker here
        first.leadership.release()
        assert second.leadership.try_acquire()
        assert not first.leadership.try_acquire()
    finally:
        for worker in (first, second):
            worker.leadership.release()
            worker.engine.dispose()


def test_a_second_worker_only_sends(project: Project, mail_server: MailServer) -> None:
    project.environ.update(mail_server.environ())
    project.environ["PUBLISHER_WORKER__WATCH"] = "false"
    settings = project.settings()
    leader = Worker(settings)
    assert leader.leadership.try_acquire()
    follower = Worker(settings)

    async def briefly() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(follower.run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await running

    try:
        asyncio.run(briefly())
        assert not (project.root / "public").exists()  # the follower published nothing
    finally:
        leader.leadership.release()
        leader.engine.dispose()
