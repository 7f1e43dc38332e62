"""Digest issues as pure functions of time and the digest's ledger.

Which scheduled slot is due, and which articles an issue holds, depend only on ``now``, the
schedule, the articles and what this digest already carried, so DST changes, restarts and
back-dated articles are tested with a fixed clock. Two fire times at the same wall-clock minute
(the repeated hour when clocks go back) share one slot key, which the store makes unique per
digest, so they open one issue.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from publisher.config import cron
from publisher.errors import ConfigError

APS_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler 3: 0 is Monday
SEARCH_LIMIT = timedelta(days=400)  # a schedule that fires less than yearly is a mistake


class Dated(Protocol):
    """What selection needs of an article: its id and when it was published."""

    @property
    def uid(self) -> str: ...

    @property
    def published(self) -> datetime: ...


A = TypeVar("A", bound=Dated)


def cron_trigger(schedule: str, zone: ZoneInfo, where: str = "schedule") -> BaseTrigger:
    """The trigger of a five-field cron line in the site's time zone, meaning what cron means.

    APScheduler 3 reads day-of-week numbers as 0 = *Monday* (cron: Sunday), cannot read 7,
    silently drops a step after a month or weekday name, and requires both day fields where
    cron takes either. So the line is parsed by :mod:`publisher.config.cron` and APScheduler is
    handed the selected values, weekdays by name, and for cron's either-day rule two triggers.

    :raises ConfigError: naming ``where`` when the line is not valid cron.
    """
    try:
        parsed = cron.parse(schedule)
    except cron.CronError as exc:
        message = f"{where}: {schedule!r} is not a cron expression: {exc}"
        raise ConfigError(message, cron.HINT) from exc
    fields = {
        "minute": _text(parsed.minutes, 60),
        "hour": _text(parsed.hours, 24),
        "month": _text(parsed.months, 12),
        "timezone": zone,
    }
    days = _text(parsed.days, 31)
    # APScheduler's weekday numbers run 0 Monday … 6 Sunday; it is handed names instead.
    weekdays = _text({(day + 6) % 7 for day in parsed.weekdays}, 7, APS_WEEKDAYS)
    if parsed.either_day:
        return OrTrigger(
            [CronTrigger(day=days, **fields), CronTrigger(day_of_week=weekdays, **fields)]
        )
    return CronTrigger(day=days, day_of_week=weekdays, **fields)


def _text(values: Iterable[int], whole: int, names: tuple[str, ...] = ()) -> str:
    """A field for APScheduler: ``*`` when it holds all ``whole`` values, else its runs of
    consecutive values (``0-5,30``, ``mon-fri``), by name when ``names`` are given."""
    ordered = sorted(values)
    if len(ordered) == whole:
        return "*"
    runs: list[list[int]] = []
    for value in ordered:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    word = names.__getitem__ if names else str
    return ",".join(word(r[0]) if len(r) == 1 else f"{word(r[0])}-{word(r[-1])}" for r in runs)


def latest_slot(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The most recent fire time at or before ``now``: the slot an issue opened now belongs to.

    The search looks back one day, then twice as far each time, so a daily schedule costs a
    step or two and a monthly one a handful.
    """
    # Compare in UTC: Python compares two datetimes of one zone by wall time, ignoring
    # ``fold``, which would make the two 02:30s of the repeated hour equal.
    now = now.astimezone(UTC)
    window = timedelta(days=1)
    while window <= SEARCH_LIMIT:
        fire: datetime | None = trigger.get_next_fire_time(None, now - window)
        if fire is not None and fire.astimezone(UTC) <= now:
            while True:
                after: datetime | None = trigger.get_next_fire_time(fire, fire)
                if after is None or after.astimezone(UTC) > now:
                    return fire
                fire = after
        window *= 2
    return None


def slot_key(slot: datetime, zone: ZoneInfo) -> str:
    """The slot's wall-clock minute in the site's zone: one issue per scheduled local time."""
    return slot.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def pending(articles: Iterable[A], carried: set[str], limit: int) -> list[A]:
    """Published articles this digest has not carried yet, oldest first, at most ``limit``.

    Selection is by id, not by date window: a back-dated article is still sent once, an edited
    one is not sent again, and what does not fit waits for the next issue instead of being
    skipped.
    """
    fresh = sorted(
        (a for a in articles if a.uid not in carried), key=lambda a: (a.published, a.uid)
    )
    return fresh[:limit]


def select(
    articles: Iterable[A], carried: set[str], limit: int, first: bool
) -> tuple[list[A], list[A]]:
    """``(chosen, baseline)``: what the next issue holds, and what a new digest starts after.

    A digest's first issue holds the newest ``limit`` articles, and the older ones become its
    baseline (marked carried without being sent), so a new digest on a large site does not
    drip the back catalogue. Every later issue is :func:`pending`.
    """
    if not first:
        return pending(articles, carried, limit), []
    fresh = pending(articles, carried, len(carried) + 10**9)
    cut = max(0, len(fresh) - limit)
    return fresh[cut:], fresh[:cut]


def due(
    trigger: BaseTrigger,
    now: datetime,
    last_key: str | None,
    zone: ZoneInfo,
    grace: timedelta | None = None,
) -> str | None:
    """The key of the slot to open now, or ``None`` when the latest slot already has its issue
    or was missed by more than ``grace``.

    Missed slots are coalesced: after downtime only the latest one is opened, once.
    """
    slot = latest_slot(trigger, now)
    if slot is None or (grace is not None and now - slot > grace):
        return None
    key = slot_key(slot, zone)
    # Keys sort like local times; a slot at or before the last issue's is never reopened.
    return key if last_key is None or key > last_key else None
