"""Digest slots and selection with a fixed clock in Europe/Berlin, across both DST changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from publisher.errors import ConfigError
from publisher.mail.planning import cron_trigger, due, latest_slot, pending, slot_key
from tests.conftest import BERLIN


def at(text: str) -> datetime:
    """A Berlin wall-clock time; fold=1 picks the second of a repeated hour."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@dataclass(frozen=True)
class Item:
    uid: str
    published: datetime


def test_latest_slot_is_the_last_fire_time_not_after_now() -> None:
    daily = cron_trigger("0 7 * * *", BERLIN)
    assert latest_slot(daily, at("2026-03-29 12:00")) == at("2026-03-29 07:00")
    assert latest_slot(daily, at("2026-03-29 06:59")) == at("2026-03-28 07:00")
    weekly = cron_trigger("0 7 * * mon", BERLIN)
    assert latest_slot(weekly, at("2026-03-29 12:00")) == at("2026-03-23 07:00")
    monthly = cron_trigger("30 6 1 * *", BERLIN)
    assert latest_slot(monthly, at("2026-03-29 12:00")) == at("2026-03-01 06:30")


def test_one_slot_per_local_day_across_both_dst_changes() -> None:
    nightly = cron_trigger("30 2 * * *", BERLIN)
    for start in ("2025-03-27", "2025-10-23"):
        keys = []
        now = at(f"{start} 12:00")
        for _ in range(7 * 24 * 4):  # a week, every quarter of an hour
            key = due(nightly, now.astimezone(UTC), keys[-1] if keys else None, BERLIN)
            if key is not None:
                keys.append(key)
            now += timedelta(minutes=15)
        days = [key[:10] for key in keys]
        assert days == sorted(set(days)), keys  # one issue per local day, none twice
        assert len(days) == 8  # the day it starts on, then seven more


def test_the_repeated_hour_shares_one_slot_key() -> None:
    nightly = cron_trigger("30 2 * * *", BERLIN)
    first = latest_slot(nightly, datetime(2025, 10, 26, 0, 45, tzinfo=UTC))  # 02:45 CEST
    second = latest_slot(nightly, datetime(2025, 10, 26, 1, 45, tzinfo=UTC))  # 02:45 CET
    assert first is not None and second is not None
    assert first.astimezone(UTC) != second.astimezone(UTC)
    assert slot_key(first, BERLIN) == slot_key(second, BERLIN) == "2025-10-26T02:30"


def test_missed_slots_are_coalesced_into_the_latest() -> None:
    daily = cron_trigger("0 7 * * *", BERLIN)
    assert due(daily, at("2026-03-29 12:00"), "2026-03-25T07:00", BERLIN) == "2026-03-29T07:00"
    assert due(daily, at("2026-03-29 12:00"), "2026-03-29T07:00", BERLIN) is None


def test_pending_selects_by_id_oldest_first_without_skipping() -> None:
    old = Item("tag:x,2020-01-01:old", at("2020-01-01 09:00"))  # back-dated, never carried
    a = Item("tag:x,2026-03-27:a", at("2026-03-27 09:00"))
    b = Item("tag:x,2026-03-28:b", at("2026-03-28 09:00"))
    c = Item("tag:x,2026-03-29:c", at("2026-03-29 09:00"))
    carried = {a.uid}
    first = pending([c, b, a, old], carried, limit=2)
    assert first == [old, b]
    carried.update(item.uid for item in first)
    assert pending([c, b, a, old], carried, limit=2) == [c]
    carried.add(c.uid)
    assert pending([c, b, a, old], carried, limit=2) == []


def test_a_bad_schedule_names_the_digest() -> None:
    with pytest.raises(ConfigError, match=r"digests\.daily\.schedule: '7 am' is not a cron"):
        cron_trigger("7 am", BERLIN, "digests.daily.schedule")
