"""The console's plot of deliveries over time, drawn here as inline SVG: no script, no
charting library, nothing fetched, so it works offline and under the site's CSP (which allows
no script and only the theme's own styles; the bars are coloured by class from that style).

:func:`bars` turns the store's buckets (:func:`publisher.store.overview.timeline`) into
rectangles: one stacked bar per interval, one band per series, scaled to the busiest interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from publisher.store.overview import TIMELINE, Bucket

WIDTH, HEIGHT, LEFT, BOTTOM = 720, 180, 40, 20  # the drawing, and room for the axes' labels
SPANS = {"hour": (timedelta(minutes=1), 60), "day": (timedelta(hours=1), 24)}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str  # what a pointer over the bar shows


@dataclass(frozen=True)
class Label:
    x: float
    text: str


@dataclass(frozen=True)
class Plot:
    rects: list[Rect]
    labels: list[Label]  # along the time axis
    peak: int  # the busiest interval's deliveries: the top of the scale
    total: dict[str, int]  # each series over the whole span
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM


def bars(buckets: list[Bucket], zone: ZoneInfo) -> Plot:
    """Stacked bars of ``buckets`` (oldest first), with about six time labels in ``zone``."""
    peak = max((sum(b.counts.values()) for b in buckets), default=0)
    area = HEIGHT - BOTTOM
    step = (WIDTH - LEFT) / max(len(buckets), 1)
    rects: list[Rect] = []
    for index, bucket in enumerate(buckets):
        base = float(area)
        moment = bucket.start.astimezone(zone)
        for series in TIMELINE:
            count = bucket.counts[series]
            if not count:
                continue
            tall = area * count / peak
            base -= tall
            title = f"{moment:%Y-%m-%d %H:%M}: {count} {series.replace('_', ' ')}"
            rects.append(Rect(LEFT + index * step + 1, base, max(step - 2, 1), tall, series, title))
    every = max(len(buckets) // 6, 1)
    labels = [
        Label(LEFT + index * step, f"{bucket.start.astimezone(zone):%H:%M}")
        for index, bucket in enumerate(buckets)
        if index % every == 0
    ]
    total = {series: sum(b.counts[series] for b in buckets) for series in TIMELINE}
    return Plot(rects, labels, peak, total)
