"""The worker: APScheduler 3 jobs defined from config at start-up, a watcher on content/, and the
outbox drain loop, each under the :mod:`publisher.service.supervisor`.

Jobs live in memory and are made from the settings each time the worker starts (nothing pickled
to lose on a refactor). They only publish and open issues; sending stays in the drain loop, which
is idempotent per (issue, subscriber). Missed digest slots are the store's business, not the
scheduler's: at start-up and at each fire time, :func:`publisher.mail.issues.open_due` opens the
latest missed slot once, unless it is older than ``worker.misfire_grace_seconds``.

Only the leader schedules and watches; it checks that it still leads before each job and every
:data:`LEAD_CHECK_SECONDS`, and when it lost the lead it stops both and stands by again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from publisher.config.settings import Settings
from publisher.errors import StoreError
from publisher.mail.issues import open_due
from publisher.mail.sender import Sender
from publisher.mail.transports import transport_for
from publisher.service.logs import ProblemLog, publish_line
from publisher.service.schedule import job_ids, jobs
from publisher.service.supervisor import Start, Supervisor, pause
from publisher.site.publish import publish
from publisher.site.render import environment_for
from publisher.store.engine import open_engine
from publisher.store.leadership import Leadership
from publisher.store.meta import Processes
from publisher.store.outbox import Outbox

log = logging.getLogger("publisher.worker")
WATCH_DEBOUNCE_MS = 200
LEAD_CHECK_SECONDS = 5.0


class Worker:
    """Publishes, opens due issues and drains the outbox until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.supervisor = supervisor or Supervisor(settings.worker.unhealthy_after)
        self.engine = open_engine(settings.database_url)
        self.outbox = Outbox(self.engine)
        self.processes = Processes(self.engine)
        self.publishing = asyncio.Lock()
        lock_file = settings.path(settings.output.var_dir) / "scheduler.lock"
        # the lock's name predates the layout: kept, so a worker of an older release still sees it
        self.leadership = Leadership(self.engine, "publisher.scheduler", lock_file)
        self.lead_every = LEAD_CHECK_SECONDS
        self.wake = asyncio.Event()
        self.problems = ProblemLog(log)
        self._ending: asyncio.Event | None = None  # set when this lead ends; None: not leading

    @property
    def leading(self) -> bool:
        """Whether this worker schedules and watches now."""
        return self._ending is not None and not self._ending.is_set()

    async def publish(self) -> None:
        """Publish once; runs of the watcher and of the rescan never overlap.

        Files still being written are waited for a little (the watcher sees them again anyway).
        """
        async with self.publishing:
            began = time.monotonic()
            wait = 4 * self.settings.content.settle_seconds
            report = await asyncio.to_thread(publish, self.settings, self.clock(), wait=wait)
            await asyncio.to_thread(self.processes.note_run, "publish", self.clock())
        line = publish_line(report, time.monotonic() - began)
        log.log(logging.INFO if report.changed or report.refused else logging.DEBUG, "%s", line)
        for refused in report.refused:
            log.error("refused: %s", refused)
        for topic in report.unpinged:
            log.warning("the WebSub hub could not be told about %s", topic)
        self.problems.update(report.skipped)

    async def open_digests(self, names: tuple[str, ...] | None = None) -> None:
        """Open every due issue (of the named digests), wake the drain, and publish the new
        issues' pages (their "view in your browser" links) while it sends."""
        digests = tuple(d for d in self.settings.digests if names is None or d.name in names)
        env = environment_for(self.settings)
        opened = await asyncio.to_thread(
            open_due, self.settings, self.outbox, env, self.clock(), digests
        )
        for digest in digests:
            await asyncio.to_thread(self.processes.note_run, f"digest:{digest.name}", self.clock())
        for item in opened:
            if item.issue is not None:
                log.info(
                    "opened %s issue %d: %d articles for %d readers",
                    item.plan.digest.name,
                    item.issue.id,
                    len(item.plan.articles),
                    item.issue.recipients,
                )
            else:
                log.info("no %s issue: %s", item.plan.digest.name, item.reason)
        self.wake.set()
        if any(item.issue is not None for item in opened):
            await self.publish()

    async def drain_loop(self, stop: asyncio.Event) -> None:
        """Send what is due, then wait for a new issue or the next check.

        A round the store fails (gone, locked too long) is one line and one failure in a row
        of ``drain``; the next round tries again.
        """
        transport = transport_for(self.settings)
        while not stop.is_set():
            sender = Sender(self.outbox, transport, self.settings, self.clock, inline=False)
            report = await sender.drain(stop)
            if report.error:  # the store is gone or locked: a failed round of the drain
                self.supervisor.failed("drain", StoreError(report.error))
            else:
                self.supervisor.succeeded("drain")
                if report.done:
                    log.info(
                        "sent %d, %d retrying, %d failed (%.1f s)",
                        report.sent,
                        report.retrying,
                        report.failed,
                        report.seconds,
                    )
            self.wake.clear()
            await pause(self.settings.worker.drain_seconds, self.wake, stop)

    async def watch(self, stop: asyncio.Event) -> None:
        """Publish within a moment of a change under content/ (the rescan is the safety net).

        :raises FileNotFoundError: when content/ is missing; the supervisor restarts it.
        """
        from watchfiles import awatch

        folder = self.settings.path(self.settings.content.dir)
        async for _changes in awatch(folder, stop_event=stop, debounce=WATCH_DEBOUNCE_MS):
            await self.scheduled("publish", self.publish)

    def scheduler(self) -> AsyncIOScheduler:
        """The scheduler with every job; missed runs coalesce, within the configured grace."""
        grace = self.settings.worker.misfire_grace_seconds
        scheduler = AsyncIOScheduler(
            timezone=self.settings.zone,
            # In job_defaults: a top-level misfire_grace_time is silently ignored (1 s default).
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )
        for job, run in zip(jobs(self.settings), self._runs(), strict=True):
            scheduler.add_job(
                self.scheduled, job.trigger, args=[job.id, run], id=job.id, name=job.description
            )
        return scheduler

    def _runs(self) -> list[Start]:
        """What each job of :func:`jobs` does, in the same order."""
        digests = [partial(self.open_digests, (d.name,)) for d in self.settings.digests]
        return [self.publish, *digests]

    async def scheduled(self, name: str, run: Start) -> None:
        """Run a job, only while this worker still leads; a failure is logged and counted."""
        if self.leading and await self._still_leading():
            await self.supervisor.job(name, run)

    async def _still_leading(self) -> bool:
        if await asyncio.to_thread(self.leadership.check):
            return True
        if self.leading:
            log.warning("lost the lead: scheduling and watching stop; this worker only sends")
            assert self._ending is not None
            self._ending.set()
        return False

    async def lead(self, stop: asyncio.Event) -> None:
        """Stand by until no other worker leads; lead; stand by again when the lead is lost.

        Every worker drains the outbox; only the leader publishes and opens issues, so two
        workers never run the same job (APScheduler 3 cannot share a job store).
        """
        standing_by = False
        while not stop.is_set():
            if await asyncio.to_thread(self.leadership.try_acquire):
                standing_by = False
                await self._lead(stop)  # a lead that keeps failing at once counts each time
                self.supervisor.succeeded("leader")
            else:
                self.supervisor.succeeded("leader")
                if not standing_by:
                    log.info("another worker schedules; this one only sends")
                standing_by = True
            await pause(self.settings.worker.rescan_seconds, stop)

    async def _lead(self, stop: asyncio.Event) -> None:
        """Catch up, then schedule and watch until ``stop`` or until the lead is lost."""
        ending = self._ending = asyncio.Event()
        scheduler: AsyncIOScheduler | None = None
        watching: asyncio.Task[None] | None = None
        try:
            scheduler = self.scheduler()
            log.info("leading: scheduling %d jobs", len(scheduler.get_jobs()))
            if self.settings.worker.watch:  # first: a file dropped during the catch-up is seen
                watch = partial(self.watch, ending)
                watching = asyncio.create_task(self.supervisor.keep("watcher", watch, ending))
            for job, run in zip(jobs(self.settings), self._runs(), strict=True):
                await self.scheduled(job.id, run)  # what was missed while no worker led
            if not ending.is_set():
                scheduler.start()
            while not (ending.is_set() or stop.is_set()):
                await pause(self.lead_every, ending, stop)
                if not (ending.is_set() or stop.is_set()):
                    await self._still_leading()
        finally:
            ending.set()
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=False)
            if watching is not None:
                await watching
            for job_id in job_ids(self.settings):
                self.supervisor.stopped(job_id)
            await asyncio.to_thread(self.leadership.release)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: drain the outbox, lead when no other worker does, and keep the
        tasks' health in the store. Each runs supervised: none can end the others."""
        keep = self.supervisor.keep
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(keep("drain", partial(self.drain_loop, stop), stop))
                group.create_task(keep("leader", partial(self.lead, stop), stop))
                beat = partial(self.supervisor.beat, self.processes, stop)
                group.create_task(keep("heartbeat", beat, stop))
        finally:
            self.engine.dispose()
