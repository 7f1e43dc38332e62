"""The worker's jobs as data: what they are and when they fire, made from the settings.

Apart from the worker so that the web process can show the next runs (``/api/status``) without
loading the worker, its sender or its transports: this needs only APScheduler's triggers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.interval import IntervalTrigger

from publisher.config.settings import Settings
from publisher.mail.planning import cron_trigger


@dataclass(frozen=True)
class Job:
    """One scheduled job: its id, what it does, and when."""

    id: str
    description: str
    trigger: Any


def _definitions(settings: Settings) -> list[tuple[str, str, Callable[[], Any]]]:
    """``(id, description, make its trigger)`` of every job: the rescan and one per digest."""
    rescan, zone = settings.worker.rescan_seconds, settings.zone
    found: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "publish",
            f"rescan content/ every {rescan:g} s",
            partial(IntervalTrigger, seconds=rescan, timezone=zone),
        )
    ]
    for digest in settings.digests:
        where = f"digests.{digest.name}.schedule"
        make = partial(cron_trigger, digest.schedule, zone, where)
        found.append((f"digest:{digest.name}", f"open the {digest.name} issue", make))
    return found


def jobs(settings: Settings) -> list[Job]:
    """Every job of the worker, from the settings.

    :raises ConfigError: for a schedule that is not valid cron.
    """
    return [Job(id, description, make()) for id, description, make in _definitions(settings)]


def job_ids(settings: Settings) -> list[str]:
    """The id of every job, without making its trigger (so a bad schedule does not stop it)."""
    return [id for id, _description, _make in _definitions(settings)]


def fire_times(trigger: Any, now: datetime, zone: ZoneInfo, count: int) -> list[datetime]:
    """The next ``count`` fire times of ``trigger`` after ``now``, in ``zone``."""
    times: list[datetime] = []
    previous = None
    moment = now.astimezone(zone)
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        times.append(fire)
        previous, moment = fire, fire + timedelta(microseconds=1)
    return times


def next_runs(settings: Settings, now: datetime, count: int = 3) -> dict[str, list[datetime]]:
    """The next ``count`` fire times of every job, in the site's time zone."""
    return {job.id: fire_times(job.trigger, now, settings.zone, count) for job in jobs(settings)}


def forecast(settings: Settings, now: datetime) -> tuple[dict[str, list[datetime]], dict[str, str]]:
    """For the status: each job's next run, and why for the jobs that have none computable.

    One bad schedule is reported for its job, never for the whole status.
    """
    runs: dict[str, list[datetime]] = {}
    errors: dict[str, str] = {}
    for id, _description, make in _definitions(settings):
        try:
            runs[id] = fire_times(make(), now, settings.zone, 1)
        except Exception as exc:  # whatever a schedule does, the rest is shown
            runs[id], errors[id] = [], " ".join(str(exc).split()) or type(exc).__name__
    return runs, errors
