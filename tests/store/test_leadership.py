"""Leadership is re-checked, and lost gracefully (PITFALLS 60; issue 8, finding 6): when the
lock is taken away from the leader — its PostgreSQL session killed, its SQLite lock file
replaced — it stops scheduling before its next job and another worker can take the lead.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import create_engine, text

from publisher.config.settings import Settings
from publisher.service.schedule import jobs
from publisher.service.worker import Worker
from publisher.store.status import Status
from tests.conftest import Project
from tests.services import fast, until


def _take_the_lock_away(worker: Worker, settings: Settings) -> None:
    """What a database restart, an idle-connection reaper or an operator's cleanup does."""
    if worker.engine.dialect.name != "postgresql":
        worker.leadership.lock_file.unlink()
        return
    engine = create_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    query = text(
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
        " AND objid::bigint = :key AND database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database())"
    )
    with engine.connect() as conn:
        assert conn.execute(query, {"key": worker.leadership.key}).scalars().all() == [True]
    engine.dispose()


def test_a_leader_that_lost_its_lock_stops_before_its_next_job_and_another_can_lead(
    db_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    settings = db_project.settings()

    async def scenario() -> None:
        first = fast(Worker(settings))
        first.lead_every = 0.1
        stop = asyncio.Event()
        running = asyncio.create_task(first.run(stop))

        async def leading() -> bool:
            return first.leading and "watcher" in first.supervisor.health

        async def caught_up() -> bool:  # the start-up catch-up is over: nothing runs now
            ran = await asyncio.to_thread(Status(first.engine).last_runs)
            return set(ran) == {job.id for job in jobs(settings)}

        await until(leading, 20, "the first worker leads and watches")
        await until(caught_up, 20, "the first worker caught up")
        runs = await asyncio.to_thread(Status(first.engine).last_runs)
        _take_the_lock_away(first, settings)
        await first.scheduled("publish", first.publish)  # the rescan fires: nothing runs

        async def stood_down() -> bool:  # watching stopped, and the lock given up after it
            watching = first.supervisor.health["watcher"].state
            return watching == "stopped" and not first.leadership.held

        await until(stood_down, 5, "the first worker stops watching")
        assert not first.leading and not first.leadership.held
        assert await asyncio.to_thread(Status(first.engine).last_runs) == runs
        second = Worker(settings)
        try:
            assert await asyncio.to_thread(second.leadership.try_acquire)
            assert not await asyncio.to_thread(first.leadership.try_acquire)
        finally:
            second.leadership.release()
            second.engine.dispose()
            stop.set()
            await running

    with caplog.at_level(logging.INFO, "publisher.worker"):
        asyncio.run(scenario())
    lost = [r for r in caplog.records if r.getMessage().startswith("lost the lead")]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING


def test_a_leader_that_still_holds_its_lock_says_so(db_project: Project) -> None:
    worker = Worker(db_project.settings())
    try:
        assert not worker.leadership.check()  # never taken
        assert worker.leadership.try_acquire()
        assert worker.leadership.check() and worker.leadership.check()
        worker.leadership.release()
        assert not worker.leadership.check()
    finally:
        worker.leadership.release()
        worker.engine.dispose()
