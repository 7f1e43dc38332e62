"""The worker: APScheduler 3 jobs defined from config at start-up, a watcher on content/, and the
outbox drain loop.

Jobs live in memory and are made from the settings each time the worker starts (nothing pickled
to lose on a refactor). They only publish and open issues; sending stays in the drain loop, which
is idempotent per (issue, subscriber). Missed digest slots are the store's business, not the
scheduler's: at start-up and at each fire time, :func:`publisher.issues.open_due` opens the
latest missed slot once, unless it is older than ``worker.misfire_grace_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError

from publisher.config import Settings
from publisher.digest import cron_trigger
from publisher.errors import StoreError
from publisher.issues import open_due
from publisher.leadership import Leadership
from publisher.mailer import Sender
from publisher.outbox import Outbox
from publisher.publish import publish
from publisher.render import environment_for
from publisher.store import Store
from publisher.transports import transport_for

log = logging.getLogger(__name__)
WATCH_DEBOUNCE_MS = 200


@dataclass(frozen=True)
class Job:
    """One scheduled job: its id, what it does, and when."""

    id: str
    description: str
    trigger: Any


def jobs(settings: Settings) -> list[Job]:
    """Every job of the worker, from the settings: the rescan and one per digest."""
    found = [
        Job(
            "publish",
            f"rescan content/ every {settings.worker.rescan_seconds:g} s",
            IntervalTrigger(seconds=settings.worker.rescan_seconds, timezone=settings.zone),
        )
    ]
    for digest in settings.digests:
        where = f"digests.{digest.name}.schedule"
        trigger = cron_trigger(digest.schedule, settings.zone, where)
        found.append(Job(f"digest:{digest.name}", f"open the {digest.name} issue", trigger))
    return found


def next_runs(settings: Settings, now: datetime, count: int = 3) -> dict[str, list[datetime]]:
    """The next ``count`` fire times of every job, in the site's time zone."""
    runs: dict[str, list[datetime]] = {}
    for job in jobs(settings):
        times: list[datetime] = []
        previous = None
        moment = now.astimezone(settings.zone)
        while len(times) < count:
            fire = job.trigger.get_next_fire_time(previous, moment)
            if fire is None:
                break
            times.append(fire)
            previous, moment = fire, fire + timedelta(microseconds=1)
        runs[job.id] = times
    return runs


class Worker:
    """Publishes, opens due issues and drains the outbox until ``stop`` is set."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.store = Store.open(settings.database_url)
        self.outbox = Outbox(self.store.engine)
        self.publishing = asyncio.Lock()
        lock_file = settings.path(settings.output.var_dir) / "scheduler.lock"
        self.leadership = Leadership(self.store.engine, "publisher.scheduler", lock_file)
        self.wake = asyncio.Event()

    async def publish(self) -> None:
        """Publish once; runs of the watcher and of the rescan never overlap."""
        async with self.publishing:
            report = await asyncio.to_thread(publish, self.settings, self.clock())
            await asyncio.to_thread(self.outbox.note_run, "publish", self.clock())
            if report.changed:
                log.info("published: %d new, %d updated", len(report.new), len(report.updated))

    async def open_digests(self, names: tuple[str, ...] | None = None) -> None:
        """Open every due issue (of the named digests), then wake the drain."""
        digests = tuple(d for d in self.settings.digests if names is None or d.name in names)
        env = environment_for(self.settings)
        opened = await asyncio.to_thread(
            open_due, self.settings, self.outbox, env, self.clock(), digests
        )
        for digest in digests:
            await asyncio.to_thread(self.outbox.note_run, f"digest:{digest.name}", self.clock())
        for item in opened:
            if item.issue is not None:
                log.info("opened %s issue %d", item.plan.digest.name, item.issue.id)
        self.wake.set()

    async def drain_loop(self, stop: asyncio.Event) -> None:
        """Send what is due, then wait for a new issue or the next check."""
        transport = transport_for(self.settings)
        while not stop.is_set():
            sender = Sender(self.outbox, transport, self.settings, self.clock, inline=False)
            try:
                await sender.drain(stop)
            except (
                SQLAlchemyError,
                StoreError,
            ) as exc:  # e.g. locked by a long publish: try again shortly
                log.warning("drain interrupted by the store: %s", exc)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.worker.drain_seconds)

    async def watch(self, stop: asyncio.Event) -> None:
        """Publish within a moment of a change under content/ (the rescan is the safety net)."""
        from watchfiles import awatch

        folder = self.settings.path(self.settings.content.dir)
        settle = self.settings.content.settle_seconds
        async for _changes in awatch(folder, stop_event=stop, debounce=WATCH_DEBOUNCE_MS):
            # A file younger than settle_seconds is skipped as still being written: let it settle.
            await asyncio.sleep(settle + 0.05)
            await self.publish()

    def scheduler(self) -> AsyncIOScheduler:
        """The scheduler with every job; missed runs coalesce, within the configured grace."""
        grace = self.settings.worker.misfire_grace_seconds
        scheduler = AsyncIOScheduler(
            timezone=self.settings.zone,
            # In job_defaults: a top-level misfire_grace_time is silently ignored (1 s default).
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        )
        for job in jobs(self.settings):
            if job.id == "publish":
                scheduler.add_job(self.publish, job.trigger, id=job.id, name=job.description)
            else:
                name = job.id.split(":", 1)[1]
                scheduler.add_job(
                    self.open_digests,
                    job.trigger,
                    args=[(name,)],
                    id=job.id,
                    name=job.description,
                )
        return scheduler

    async def lead(self, stop: asyncio.Event) -> None:
        """Wait to become the one worker that schedules; then catch up, schedule and watch.

        Every worker drains the outbox; only the leader publishes and opens issues, so two
        workers never run the same job (APScheduler 3 cannot share a job store).
        """
        while not self.leadership.try_acquire():
            log.info("another worker schedules; this one only sends")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker.rescan_seconds)
            if stop.is_set():
                return
        scheduler = self.scheduler()
        watching: asyncio.Task[None] | None = None
        try:
            await self.publish()
            await self.open_digests()
            scheduler.start()
            if self.settings.worker.watch:
                watching = asyncio.create_task(self.watch(stop))
            await stop.wait()
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            if watching is not None:
                await asyncio.gather(watching, return_exceptions=True)
            self.leadership.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: drain the outbox, and lead when no other worker does."""
        draining = asyncio.create_task(self.drain_loop(stop))
        try:
            await self.lead(stop)
            await stop.wait()
        finally:
            stop.set()
            self.wake.set()  # the drain loop stops waiting
            await asyncio.gather(draining, return_exceptions=True)
            self.store.close()
