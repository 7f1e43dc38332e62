"""The supervisor on its own: a task that raises is logged with its traceback and restarted with
backoff, a task that keeps failing is unhealthy, a job's failure is counted and a success resets
it (PITFALLS 65: nothing dies without a word)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from publisher.errors import StoreError
from publisher.service import supervisor as supervision
from publisher.service.supervisor import Supervisor


def _fast(unhealthy_after: int = 3) -> Supervisor:
    found = Supervisor(unhealthy_after, process="test:1")
    found.backoff = (0.01, 0.04)
    return found


def test_a_task_that_raises_is_logged_with_its_traceback_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = _fast()
    runs = 0

    async def flaky(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise ValueError(f"broken run {runs}")
        stop.set()  # the third run works, until we stop it

    async def main() -> None:
        stop = asyncio.Event()
        await supervisor.keep("flaky", lambda: flaky(stop), stop)

    with caplog.at_level(logging.INFO, "publisher.supervisor"):
        asyncio.run(main())
    assert runs == 3
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.getMessage() for r in failures] == [
        "flaky failed (1 in a row): broken run 1",
        "flaky failed (2 in a row): broken run 2",
    ]
    assert all(r.exc_info and r.exc_info[0] is ValueError for r in failures)  # the traceback
    assert sum("flaky restarts in" in r.getMessage() for r in caplog.records) == 2
    assert supervisor.health["flaky"].state == "stopped"


def test_a_task_that_keeps_failing_is_unhealthy_and_recovers_once_it_runs_well() -> None:
    supervisor = _fast(unhealthy_after=3)
    supervisor.steady = 0.05
    runs = 0
    unhealthy: list[str] = []
    recovered = asyncio.Event()

    async def task(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise OSError("content/ is gone")
        unhealthy.extend(h.task for h in supervisor.health.values() if h.state == "unhealthy")
        while supervisor.health["task"].state != "ok":  # noqa: ASYNC110 (until it ran well)
            await asyncio.sleep(0.01)
        recovered.set()
        await stop.wait()

    async def main() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(supervisor.keep("task", lambda: task(stop), stop))
        await asyncio.wait_for(recovered.wait(), 10)
        stop.set()
        await running

    asyncio.run(main())
    assert unhealthy == ["task"]  # after three failures in a row, until it ran well again
    assert supervisor.health["task"].failures == 0
    assert supervisor.health["task"].last_error == "content/ is gone"  # still shown


def test_the_backoff_doubles_to_its_bound_and_starts_again_after_a_steady_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    supervisor = Supervisor(3, process="test:1")
    supervisor.steady = 0.05
    delays: list[float] = []

    async def no_wait(seconds: float, *events: asyncio.Event) -> None:
        delays.append(seconds)

    monkeypatch.setattr(supervision, "pause", no_wait)
    runs = 0

    async def task(stop: asyncio.Event) -> None:
        nonlocal runs
        runs += 1
        if runs == 9:
            await asyncio.sleep(0.1)  # a run that goes well for a while, then fails
        if runs == 11:
            stop.set()
            return
        raise RuntimeError("again")

    async def main() -> None:
        stop = asyncio.Event()
        await supervisor.keep("task", lambda: task(stop), stop)

    asyncio.run(main())
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 1, 2]


def test_a_job_failure_is_counted_and_a_success_resets_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = _fast(unhealthy_after=2)
    outcomes = [StoreError("database gone"), StoreError("database gone"), None]

    async def job() -> None:
        error = outcomes.pop(0)
        if error is not None:
            raise error

    async def main() -> list[str]:
        states = []
        for _ in range(3):
            await supervisor.job("publish", job)  # never raises
            states.append(supervisor.health["publish"].state)
        return states

    with caplog.at_level(logging.INFO, "publisher.supervisor"):
        assert asyncio.run(main()) == ["failing", "unhealthy", "ok"]
    lines = [r.getMessage() for r in caplog.records]
    assert lines[1].startswith("publish failed (2 in a row, unhealthy): database gone (hint: ")
    assert lines[2] == "publish recovered after 2 failures in a row"
    # An error the operator can act on is one line: no traceback unless debugging.
    assert not any(r.exc_info for r in caplog.records)
