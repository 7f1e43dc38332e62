"""Supervised tasks: nothing the service runs dies without a word (STYLE 14, PITFALLS 65).

A long-running task (the watcher, the drain loop, the leadership loop) that raises is logged
with its traceback and started again after a pause that doubles from :data:`BACKOFF_START` to
:data:`BACKOFF_MAX`, and starts again from the shortest once the task ran well for
:data:`STEADY_SECONDS`. A scheduled job that raises is logged and counted the same way; a run
that succeeds resets its count. After ``worker.unhealthy_after`` failures in a row a task is
*unhealthy*: ``/healthz`` of its process answers 503 naming it.

Health is kept in memory for this process's ``/healthz``, and written to the store's ``tasks``
table (at each change, and every :data:`HEARTBEAT_SECONDS` as a heartbeat) for the status and
metrics of every process. A row whose heartbeat is older than :data:`STALE_SECONDS` belongs to a
process that died without cleaning up; a process that stops cleanly deletes its rows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from publisher.errors import PublisherError
from publisher.store.meta import Processes, TaskHealth

log = logging.getLogger("publisher.supervisor")

BACKOFF_START = 1.0
BACKOFF_MAX = 60.0
STEADY_SECONDS = 60.0  # a task that ran this long without failing counts as well again
HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 4 * HEARTBEAT_SECONDS  # three heartbeats missed: the process is gone
ERROR_CHARS = 500  # of the last error, kept with the task's health

Start = Callable[[], Awaitable[None]]


def process_name() -> str:
    """``host:pid``: which process a task row belongs to."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_stale(seen: datetime, now: datetime) -> bool:
    """Whether a task row's heartbeat is too old for its process to be alive."""
    return now - seen > timedelta(seconds=STALE_SECONDS)


async def pause(seconds: float, *events: asyncio.Event) -> None:
    """Sleep for ``seconds``, or until one of ``events`` is set."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, PublisherError) and error.hint:
        text += f" (hint: {error.hint})"
    return text[:ERROR_CHARS]


class Supervisor:
    """Runs tasks and jobs, restarts what fails, and keeps every task's health."""

    def __init__(
        self,
        unhealthy_after: int,
        process: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.unhealthy_after = max(1, unhealthy_after)
        self.process = process or process_name()
        self.clock = clock
        self.backoff = (BACKOFF_START, BACKOFF_MAX)
        self.steady = STEADY_SECONDS
        self.health: dict[str, TaskHealth] = {}
        self._failed_at: dict[str, float] = {}
        self.changed = asyncio.Event()  # set at each change, so the heartbeat writes at once

    # -- health ---------------------------------------------------------------------------

    def _set(self, name: str, state: str, failures: int, error: str | None = None) -> None:
        now = self.clock()
        old = self.health.get(name)
        last_error = error if error is not None else (old.last_error if old else "")
        if old is None or (old.state, old.failures, old.last_error) != (
            state,
            failures,
            last_error,
        ):
            changed = now if old is None or old.state != state else old.changed
            self.health[name] = TaskHealth(
                self.process, name, state, failures, last_error, changed, now
            )
            self.changed.set()

    def started(self, name: str) -> None:
        """A task or job is known from now on (as well, until it fails)."""
        if name not in self.health:
            self._set(name, "ok", 0)

    def failed(self, name: str, error: BaseException) -> None:
        """Count a failure in a row and log it: with its traceback unless it is an error the
        operator can act on (a :class:`PublisherError`: one line, traceback at DEBUG)."""
        old = self.health.get(name)
        failures = (old.failures if old else 0) + 1
        state = "unhealthy" if failures >= self.unhealthy_after else "failing"
        self._failed_at[name] = time.monotonic()
        self._set(name, state, failures, _describe(error))
        message = "%s failed (%d in a row%s): %s"
        args = (name, failures, ", unhealthy" if state == "unhealthy" else "", _describe(error))
        if isinstance(error, PublisherError):
            log.error(message, *args, exc_info=error if log.isEnabledFor(logging.DEBUG) else None)
        else:
            log.error(message, *args, exc_info=error)

    def succeeded(self, name: str) -> None:
        """A run went well: the count of failures in a row starts again."""
        old = self.health.get(name)
        if old is not None and old.failures:
            log.info("%s recovered after %d failures in a row", name, old.failures)
        self._set(name, "ok", 0)

    def stopped(self, name: str) -> None:
        """A task ended because it was asked to (shutdown, or the lead was lost)."""
        if name in self.health:
            self._set(name, "stopped", 0)

    def snapshot(self) -> list[TaskHealth]:
        """Every task's health, seen now."""
        now = self.clock()
        return [h._replace(seen=now) for h in self.health.values()]

    # -- running ----------------------------------------------------------------------------

    async def job(self, name: str, run: Start) -> None:
        """Run one scheduled job; a failure is logged and counted, never raised."""
        self.started(name)
        try:
            await run()
        except Exception as exc:  # any failure of a job is logged and counted
            self.failed(name, exc)
        else:
            self.succeeded(name)

    async def keep(self, name: str, start: Start, stop: asyncio.Event) -> None:
        """Run ``start()`` until ``stop`` is set, starting it again, with backoff, whenever it
        raises or ends by itself."""
        delay = self.backoff[0]
        while not stop.is_set():
            self.started(name)
            began = time.monotonic()
            try:
                await self._once(name, start)
                if stop.is_set():
                    break
                raise RuntimeError("ended by itself")
            except Exception as exc:  # a task's death is logged, then it restarts
                self.failed(name, exc)
            if stop.is_set():
                break
            if time.monotonic() - began >= self.steady:
                delay = self.backoff[0]
            log.info("%s restarts in %g s", name, delay)
            await pause(delay, stop)
            delay = min(2 * delay, self.backoff[1])
        self.stopped(name)

    async def _once(self, name: str, start: Start) -> None:
        """One run of a task; while it runs without failing for :attr:`steady`, it is well."""
        task = asyncio.ensure_future(start())
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.steady)
                if done:
                    break
                if time.monotonic() - self._failed_at.get(name, 0.0) >= self.steady:
                    self.succeeded(name)
            task.result()
        finally:
            task.cancel()  # a no-op when it ended; takes it down when we are cancelled

    async def beat(self, processes: Processes, stop: asyncio.Event) -> None:
        """Write every task's health at each change and every :data:`HEARTBEAT_SECONDS`;
        delete this process's rows when it stops."""
        while not stop.is_set():
            self.changed.clear()
            await asyncio.to_thread(processes.save_tasks, self.snapshot())
            await pause(HEARTBEAT_SECONDS, self.changed, stop)
        await asyncio.to_thread(processes.forget_tasks, self.process)
