"""Five-field cron lines, parsed and checked without APScheduler.

Settings are loaded by every command, and importing APScheduler costs ~150 ms, so the lines are
checked here, values included: ``0 25 * * *`` is refused when the config is read, naming the
field, instead of when a schedule is first used. The result is the set of values of each field,
so what fires is cron's meaning and not a scheduler's reading of the text
(:func:`publisher.mail.planning.cron_trigger` hands APScheduler these sets).

The grammar is Vixie cron's: per field a comma list of ``*``, ``n``, ``a-b``, each with an
optional ``/step`` (``a/step`` runs from ``a`` to the end of the field); month names ``jan`` to
``dec`` and weekday names ``sun`` to ``sat`` wherever a number goes (a range is of two numbers or
two names); day of week 0 and 7 both mean Sunday. As in cron, when both day fields are restricted
(neither starts with ``*``) a day matches when *either* does. A step larger than its range, an
empty list item and a line that can never fire (``0 0 30 2 *``) are refused as the mistakes they
are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HINT = "five fields: minute hour day-of-month month day-of-week, e.g. '0 7 * * *' or '0 8 * * mon'"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# The longest each month can be (February in a leap year): a date beyond it never comes.
MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
ITEM = re.compile(r"(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?", re.ASCII | re.IGNORECASE)


class CronError(ValueError):
    """A cron line that is malformed or out of range; the message names the field and value."""


@dataclass(frozen=True)
class Field:
    """One of the five fields: its name, its range, and the names that stand for numbers."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i

    def value(self, text: str) -> int:
        """One number or name of this field, within its range."""
        if text.isdigit():  # re.ASCII above: only 0-9 get here
            number = int(text)
        elif text.lower() in self.names:
            number = self.low + self.names.index(text.lower())
        else:
            raise CronError(f"{self.name} {text!r} is neither a number nor a name it knows")
        if not self.low <= number <= self.high:
            raise CronError(f"{self.name} {number} is outside {self.low}-{self.high}")
        return number

    def values(self, text: str) -> frozenset[int]:
        """Every value a field's text selects."""
        found: set[int] = set()
        for item in text.split(","):
            match = ITEM.fullmatch(item)
            if match is None:
                raise CronError(f"{self.name} {item!r} is not *, n, a-b or one of them with /step")
            start, end, step = match.groups()
            if start == "*":
                if end is not None:
                    raise CronError(f"{self.name} {item!r}: a range cannot start at *")
                first, last = self.low, self.high
            elif end is not None and start.isdigit() != end.isdigit():
                raise CronError(f"{self.name} {item!r}: a range is two numbers or two names")
            else:
                first = self.value(start)
                last = self.value(end) if end is not None else self.high if step else first
            if first > last:
                raise CronError(f"{self.name} {item!r} runs backwards")
            stride = int(step) if step is not None else 1
            if step is not None and not 1 <= stride <= last - first:
                span = last - first
                raise CronError(f"{self.name} {item!r}: the step must be 1 to {span}")
            found.update(range(first, last + 1, stride))
        return frozenset(found)


FIELDS = (
    Field("minute", 0, 59),
    Field("hour", 0, 23),
    Field("day of month", 1, 31),
    Field("month", 1, 12, MONTHS),
    Field("day of week", 0, 7, WEEKDAYS),
)


@dataclass(frozen=True)
class Schedule:
    """What a cron line selects, field by field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 Sunday … 6 Saturday (cron's 7 is folded into 0)
    either_day: bool  # both day fields restricted: a day matches when either one does


def parse(line: str) -> Schedule:
    """The schedule of a five-field cron line.

    :raises CronError: naming the field and the value that is wrong.
    """
    texts = line.split()
    if len(texts) != len(FIELDS):
        raise CronError(f"expected {len(FIELDS)} fields, not {len(texts)}")
    minutes, hours, days, months, weekdays = (
        f.values(text) for f, text in zip(FIELDS, texts, strict=True)
    )
    # Vixie cron's rule: a day field whose text starts with * leaves the other one in charge.
    either_day = not texts[2].startswith("*") and not texts[4].startswith("*")
    if not either_day and not any(day <= MONTH_DAYS[m - 1] for m in months for day in days):
        raise CronError(f"it never fires: day {texts[2]} does not occur in month {texts[3]}")
    return Schedule(minutes, hours, days, months, frozenset(d % 7 for d in weekdays), either_day)


DAY_NAMES = ("Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays")
EVERY_DAY, EVERY_MONTH = frozenset(range(1, 32)), frozenset(range(1, 13))


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _days(schedule: Schedule) -> str | None:
    """The days a schedule fires on, in words, for the shapes people write; ``None`` else."""
    weekdays, days = schedule.weekdays, schedule.days
    every_weekday = len(weekdays) == 7
    if schedule.months != EVERY_MONTH or schedule.either_day:
        return None
    if days == EVERY_DAY and every_weekday:
        return "Every day"
    if days == EVERY_DAY:
        if weekdays == frozenset(range(1, 6)):
            return "Weekdays"
        if weekdays == frozenset({0, 6}):
            return "Weekends"
        names = [DAY_NAMES[d] for d in sorted(weekdays, key=lambda d: (d + 6) % 7)]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    if every_weekday and len(days) == 1:
        (day,) = days
        return f"On the {_ordinal(day)} of each month"
    return None


def describe(line: str) -> str:
    """A cron line as readers are told it: ``0 7 * * *`` is "Every day at 07:00", ``0 8 * * mon``
    "Mondays at 08:00", ``30 6,18 * * 1-5`` "Weekdays at 06:30 and 18:30". A line of another
    shape is given as it is ("On the schedule 0 */4 * * *"). Times are the site's (its zone is
    the schedule's).

    :raises CronError: for a line that is not a valid cron line.
    """
    schedule = parse(line)
    days = _days(schedule)
    if days is None or len(schedule.minutes) != 1 or len(schedule.hours) > 3:
        return f"On the schedule {' '.join(line.split())}"
    (minute,) = schedule.minutes
    times = [f"{hour:02d}:{minute:02d}" for hour in sorted(schedule.hours)]
    said = times[0] if len(times) == 1 else ", ".join(times[:-1]) + " and " + times[-1]
    return f"{days} at {said}"
