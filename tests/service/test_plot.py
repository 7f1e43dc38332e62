"""The console's delivery plot: deliveries counted by their state and last change into fixed
intervals (a fixed clock, in Europe/Berlin on the night clocks go back), on both stores, and
drawn as stacked bars scaled to the busiest interval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from publisher.service.plot import HEIGHT, bars
from publisher.store.overview import TIMELINE, Bucket, recent_issues, timeline
from publisher.store.schema import deliveries
from tests.conftest import BERLIN

# 2026-10-25 01:00 UTC is 03:00 summer time → 02:00 winter time in Berlin.
NOW = datetime(2026, 10, 25, 3, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_deliveries_fall_into_their_interval_by_state(outboxed: Callable[..., Any]) -> None:
    made = outboxed(6)
    engine = made.outbox.engine
    changes = [  # (id, state, attempts, updated)
        (1, "sent", 1, NOW - timedelta(minutes=10)),
        (2, "sent", 1, NOW - timedelta(minutes=20)),
        (3, "failed", 1, NOW - timedelta(hours=2, minutes=5)),
        (4, "queued", 2, NOW - timedelta(hours=1, minutes=1)),  # waiting after a try: retrying
        (5, "possibly_delivered", 1, NOW - timedelta(hours=30)),  # before the span: not counted
    ]  # 6 stays queued without a try: not on the plot
    with engine.begin() as conn:
        for number, state, attempts, when in changes:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == number)
                .values(state=state, attempts=attempts, updated=when)
            )
    found = timeline(engine, NOW, HOUR, 24)
    assert len(found) == 24 and found[-1].start == NOW - HOUR
    assert found[-1].counts == {"sent": 2, "retrying": 0, "possibly_delivered": 0, "failed": 0}
    assert found[-2].counts["retrying"] == 1 and found[-3].counts["failed"] == 1
    assert sum(sum(b.counts.values()) for b in found) == 4
    (issue,) = recent_issues(engine)
    assert issue.states["sent"] == 2 and issue.done == 4 and issue.sending


def test_bars_stack_by_series_scaled_to_the_busiest_interval_with_local_times() -> None:
    start = NOW - 3 * HOUR
    buckets = [Bucket(start + k * HOUR) for k in range(3)]
    buckets[0].counts.update(sent=4)
    buckets[2].counts.update(sent=1, failed=1)
    plot = bars(buckets, BERLIN)
    assert plot.peak == 4 and plot.total["sent"] == 5 and plot.total["failed"] == 1
    first, *rest = plot.rects
    assert first.series == "sent" and first.height == HEIGHT - plot.bottom
    sent, failed = rest
    assert sent.height == failed.height == first.height / 4
    assert failed.y + failed.height == sent.y  # stacked: failed on top of sent
    assert [series for series in TIMELINE if series in {"sent", "failed"}] == ["sent", "failed"]
    # 00:30 UTC is 02:30 summer time; 02:30 UTC is 03:30 winter time, an hour later in UTC too.
    assert [label.text for label in plot.labels] == ["02:30", "02:30", "03:30"]


def test_an_empty_span_draws_no_bar() -> None:
    plot = bars([Bucket(NOW - HOUR)], BERLIN)
    assert plot.rects == [] and plot.peak == 0
