"""Cron lines: the parser against the grammar, APScheduler against the parser, and the trigger
against cron's meaning (weekday 0 and 7 are Sunday; either day field when both are restricted).

The strategies build each line together with the values it selects, straight from the grammar,
so the expected sets do not come from the code under test.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from publisher.config import cron
from publisher.mail.planning import cron_trigger
from tests.conftest import BERLIN, NOW

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Line:
    """A generated cron line and, per field, the values it selects (day of week 7 kept as 7)."""

    text: str
    values: tuple[frozenset[int], ...]
    starred: tuple[bool, ...]  # the field's text starts with *

    @property
    def either_day(self) -> bool:
        return not self.starred[2] and not self.starred[4]

    @property
    def weekdays(self) -> frozenset[int]:
        return frozenset(day % 7 for day in self.values[4])


@st.composite
def items(draw: st.DrawFn, field: cron.Field, high: int) -> tuple[str, frozenset[int]]:
    """One list item of ``field`` with numbers and steps up to ``high``, and the values it
    selects."""

    named = draw(st.booleans())

    def word(*numbers: int) -> str:
        """The numbers as a range, by name when every one has a name (never mixed)."""
        if named and all(number - field.low < len(field.names) for number in numbers):
            return "-".join(field.names[number - field.low] for number in numbers)
        return "-".join(map(str, numbers))

    end = field.high + 1  # where * and a/n stop, whatever ``high`` the numbers keep to
    kind = draw(st.sampled_from(["*", "*/n", "a", "a/n", "a-b", "a-b/n"]))
    if kind == "*":
        return "*", frozenset(range(field.low, end))
    if kind == "*/n":
        step = draw(st.integers(1, high - field.low))
        return f"*/{step}", frozenset(range(field.low, end, step))
    first = draw(st.integers(field.low, high))
    if kind == "a":
        return word(first), frozenset({first})
    if kind == "a/n":
        assume(first < high)
        step = draw(st.integers(1, high - first))
        return f"{word(first)}/{step}", frozenset(range(first, end, step))
    last = draw(st.integers(first, high))
    if kind == "a-b":
        return word(first, last), frozenset(range(first, last + 1))
    assume(first < last)
    step = draw(st.integers(1, last - first))
    return f"{word(first, last)}/{step}", frozenset(range(first, last + 1, step))


@st.composite
def lines(draw: st.DrawFn, highs: tuple[int, ...] = (59, 23, 31, 12, 7)) -> Line:
    """A cron line from the grammar, each field's numbers up to its entry in ``highs``."""
    texts, values = [], []
    for field, high in zip(cron.FIELDS, highs, strict=True):
        parts = draw(st.lists(items(field, high), min_size=1, max_size=4))
        texts.append(",".join(text for text, _ in parts))
        values.append(frozenset().union(*(selected for _, selected in parts)))
    spaces = draw(st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=6, max_size=6))
    text = spaces[0] + "".join(t + s for t, s in zip(texts, spaces[1:], strict=True))
    return Line(text, tuple(values), tuple(t.startswith("*") for t in texts))


# What every month has (days up to 28) and what APScheduler 3 can read (weekdays 0-6).
APSCHEDULER_HIGHS = (59, 23, 28, 12, 6)


@PROPERTY
@given(lines(APSCHEDULER_HIGHS))
def test_lines_of_the_grammar_are_accepted_and_apscheduler_agrees(line: Line) -> None:
    schedule = cron.parse(line.text)
    assert (schedule.minutes, schedule.hours, schedule.days, schedule.months) == line.values[:4]
    assert (schedule.weekdays, schedule.either_day) == (line.weekdays, line.either_day)
    # APScheduler 3 numbers weekday names from Monday, so it cannot read a range from Sunday
    # (its day 6); cron_trigger never hands it one.
    assume("sun-" not in line.text.split()[4])
    CronTrigger.from_crontab(line.text, timezone=UTC)  # raises ValueError when it disagrees


def _reference_next(line: Line, start: datetime) -> datetime | None:
    """The first minute at or after ``start`` (UTC) that the line selects, by cron's rules,
    searching 30 years (every date and weekday pair comes round within 28)."""
    minutes, hours, days, months, _ = line.values
    day = start.date()
    for _ in range(366 * 30):
        on_day, on_weekday = day.day in days, day.isoweekday() % 7 in line.weekdays
        if day.month in months and (
            on_day or on_weekday if line.either_day else on_day and on_weekday
        ):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if moment >= start:
                        return moment
        day += timedelta(days=1)
    return None


@PROPERTY
@given(
    lines(),
    st.datetimes(datetime(2000, 1, 1), datetime(2060, 12, 31)).map(  # noqa: DTZ001 - naive bounds
        lambda moment: moment.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
)
def test_the_trigger_fires_when_cron_would(line: Line, start: datetime) -> None:
    expected = _reference_next(line, start)
    try:
        trigger = cron_trigger(line.text, ZoneInfo("UTC"))
    except cron.CronError:
        pytest.fail("a line of the grammar was refused")
    except Exception as exc:  # ConfigError: only a line that never fires may be refused
        assert "it never fires" in str(exc) and expected is None, exc
        return
    assert expected is not None
    assert trigger.get_next_fire_time(None, start) == expected


@PROPERTY
@given(
    lines(APSCHEDULER_HIGHS),
    st.sampled_from(range(len(cron.FIELDS))),
    st.integers(1, 1000),
    st.booleans(),
)
def test_values_out_of_range_are_refused_naming_the_field(
    line: Line, index: int, offset: int, below: bool
) -> None:
    field = cron.FIELDS[index]
    wrong = field.low - offset if below else field.high + offset
    assume(wrong >= 0)  # a negative number is a malformed range, tested below
    texts = line.text.split()
    texts[index] = str(wrong)
    with pytest.raises(cron.CronError, match=f"^{field.name} {wrong} is outside"):
        cron.parse(" ".join(texts))


@PROPERTY
@given(st.text(max_size=40))
def test_any_text_is_a_schedule_or_a_cron_error(text: str) -> None:
    with contextlib.suppress(cron.CronError):
        cron.parse(text)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("0 25 * * *", "hour 25 is outside 0-23"),
        ("0 ² * * *", "hour '²' is not *, n, a-b or one of them with /step"),  # not ASCII
        ("0 7 * * sunday", "day of week 'sunday' is neither a number nor a name it knows"),
        ("0 7 * feb-jan *", "month 'feb-jan' runs backwards"),
        ("0 7 * * 0-sat", "day of week '0-sat': a range is two numbers or two names"),
        ("0 7 * * *-5", "day of week '*-5': a range cannot start at *"),
        ("*/60 * * * *", "minute '*/60': the step must be 1 to 59"),
        ("0 7 5-5/1 * *", "day of month '5-5/1': the step must be 1 to 0"),
        ("1,,2 * * * *", "minute '' is not *, n, a-b"),
        ("0 7 * *", "expected 5 fields, not 4"),
        ("@daily", "expected 5 fields, not 1"),
        ("0 0 31 4,6,9,11 *", "it never fires: day 31 does not occur in month 4,6,9,11"),
        ("0 0 30-31 feb *", "it never fires"),
    ],
)
def test_malformed_lines_are_refused_with_the_reason(line: str, reason: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse(line)
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize("line", ["0 0 29 2 *", "0 0 31 * *", "0 0 30 2 mon", "0 0 29 2 */2"])
def test_rare_but_possible_days_are_accepted(line: str) -> None:
    cron.parse(line)


def _fires(line: str, count: int = 8) -> list[datetime]:
    """The next ``count`` fire times after NOW (Sunday 2026-03-29, Berlin) in Berlin."""
    trigger = cron_trigger(line, BERLIN)
    times: list[datetime] = []
    previous, moment = None, NOW
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        times.append(fire.astimezone(BERLIN))
        previous, moment = fire, fire + timedelta(microseconds=1)
    return times


def test_cron_weekday_one_fires_on_mondays_not_tuesdays() -> None:
    # APScheduler 3's from_crontab reads 1 as Tuesday: this fired on Tuesdays.
    fires = _fires("0 8 * * 1")
    assert fires[0] == datetime(2026, 3, 30, 8, 0, tzinfo=BERLIN)
    assert {fire.strftime("%A %H:%M") for fire in fires} == {"Monday 08:00"}


@pytest.mark.parametrize("weekday", ["0", "7", "sun", "SUN"])
def test_cron_weekday_zero_and_seven_fire_on_sundays(weekday: str) -> None:
    fires = _fires(f"0 8 * * {weekday}")
    assert fires[0] == datetime(2026, 4, 5, 8, 0, tzinfo=BERLIN)
    assert {fire.strftime("%A %H:%M") for fire in fires} == {"Sunday 08:00"}


@pytest.mark.parametrize(
    ("weekdays", "names"),
    [
        ("1-5", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}),
        ("5-7", {"Friday", "Saturday", "Sunday"}),  # runs through APScheduler's Sunday = 6
        ("0,6", {"Saturday", "Sunday"}),
        ("0-6", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}),
        ("*/2", {"Sunday", "Tuesday", "Thursday", "Saturday"}),
    ],
)
def test_weekday_ranges_and_lists_keep_crons_numbers(weekdays: str, names: set[str]) -> None:
    assert {fire.strftime("%A") for fire in _fires(f"0 8 * * {weekdays}", 21)} == names


def test_both_day_fields_restricted_fire_on_either() -> None:
    fires = _fires("0 8 13 * fri", 6)
    assert [fire.date() for fire in fires] == [
        date(2026, 4, 3),
        date(2026, 4, 10),
        date(2026, 4, 13),  # a Monday: the 13th
        date(2026, 4, 17),
        date(2026, 4, 24),
        date(2026, 5, 1),
    ]


def test_a_step_after_month_names_is_kept() -> None:
    # APScheduler's own reading of "jan-dec/3" silently drops the step: every month.
    fires = _fires("0 8 1 jan-dec/3 *", 4)
    assert [fire.month for fire in fires] == [4, 7, 10, 1]
