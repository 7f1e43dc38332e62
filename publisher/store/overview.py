"""What the operator's console reads beyond the status: the issues with their deliveries by
state, the articles and relay replies of one issue, deliveries over time, the last publishes and
a search of the subscribers.

Read-only SQL beside :mod:`publisher.store.tally` (which groups the whole outbox); every call is
one short transaction of its own, so a console page never holds a lock a publish waits for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from publisher.models import Subscriber
from publisher.store.bookkeeping import PUBLISHES
from publisher.store.meta import read_meta
from publisher.store.records import utc
from publisher.store.schema import articles, carried, deliveries, issues, subscribers, subscriptions
from publisher.store.subscribers import subscriber_of
from publisher.store.tally import STATES

TIMELINE = ("sent", "retrying", "possibly_delivered", "failed")  # the plot's series, in order


@dataclass(frozen=True)
class IssueSummary:
    """One issue as the console lists it: what it is and its deliveries by state."""

    id: int
    digest: str
    slot: str
    opened: datetime
    subject: str
    recipients: int
    states: dict[str, int]

    @property
    def done(self) -> int:
        """Deliveries that reached an end (sent, failed, possibly delivered or cancelled)."""
        return self.recipients - self.states["queued"] - self.states["sending"]

    @property
    def sending(self) -> bool:
        return self.done < self.recipients


@dataclass(frozen=True)
class Reply:
    """Deliveries of one issue in one state with the same last reply of the relay."""

    state: str
    reply: str
    count: int


@dataclass(frozen=True)
class Bucket:
    """Deliveries whose last change fell in one interval, by series (see :data:`TIMELINE`)."""

    start: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIMELINE, 0))


def _states_of(engine: Engine, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    query = (
        select(deliveries.c.issue_id, deliveries.c.state, func.count())
        .where(deliveries.c.issue_id.in_(list(ids)))
        .group_by(deliveries.c.issue_id, deliveries.c.state)
    )
    found = {issue_id: dict.fromkeys(STATES, 0) for issue_id in ids}
    with engine.connect() as conn:
        for issue_id, state, count in conn.execute(query):
            found[issue_id][state] = int(count)
    return found


def recent_issues(
    engine: Engine, limit: int = 50, issue_id: int | None = None
) -> list[IssueSummary]:
    """The newest issues (or the one asked for), newest first, with deliveries by state."""
    columns = [issues.c[name] for name in ("id", "digest", "slot", "opened", "subject")]
    query = select(*columns, issues.c.recipients).order_by(issues.c.id.desc()).limit(limit)
    if issue_id is not None:
        query = query.where(issues.c.id == issue_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    states = _states_of(engine, [row.id for row in rows])
    return [
        IssueSummary(r.id, r.digest, r.slot, r.opened, r.subject, r.recipients, states[r.id])
        for r in rows
    ]


def issue_articles(engine: Engine, issue_id: int) -> list[tuple[str, str, datetime]]:
    """``(title, slug, published)`` of the articles an issue carries, oldest first."""
    query = (
        select(articles.c.title, articles.c.slug, articles.c.published)
        .join(carried, carried.c.article_uid == articles.c.uid)
        .where(carried.c.issue_id == issue_id)
        .order_by(articles.c.published, articles.c.id)
    )
    with engine.connect() as conn:
        return [(title, slug, published) for title, slug, published in conn.execute(query)]


def issue_replies(engine: Engine, issue_id: int) -> list[Reply]:
    """The relay's replies to an issue's deliveries, grouped by state and reply, most first."""
    count = func.count().label("count")
    query = (
        select(deliveries.c.state, deliveries.c.last_reply, count)
        .where(deliveries.c.issue_id == issue_id, deliveries.c.last_reply != "")
        .group_by(deliveries.c.state, deliveries.c.last_reply)
        .order_by(count.desc(), deliveries.c.state, deliveries.c.last_reply)
        .limit(50)
    )
    with engine.connect() as conn:
        return [Reply(state, reply, int(n)) for state, reply, n in conn.execute(query)]


def _series(state: str, attempts: int) -> str | None:
    """The plot's series of a delivery: waiting after a try counts as retrying."""
    if state == "queued":
        return "retrying" if attempts else None
    return state if state in TIMELINE else None


def timeline(engine: Engine, now: datetime, step: timedelta, count: int) -> list[Bucket]:
    """``count`` intervals of ``step`` ending at ``now``: deliveries by their last change.

    A delivery counts once, in the state it is in now and at the time it got there, so the
    plot shows what happened, not every try on the way (those are in the relay's replies)."""
    start = now - step * count
    buckets = [Bucket(start + step * k) for k in range(count)]
    query = select(deliveries.c.state, deliveries.c.attempts, deliveries.c.updated).where(
        deliveries.c.updated >= utc(start), deliveries.c.state != "sending"
    )
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=2000).execute(query)
        for state, attempts, updated in rows:
            series = _series(state, attempts)
            index = int((updated - start) / step)
            if series is not None and 0 <= index < count:
                buckets[index].counts[series] += 1
    return buckets


def publishes(engine: Engine) -> list[dict[str, Any]]:
    """The last publishes, newest first (see :meth:`publisher.store.bookkeeping.Builds`)."""
    with engine.connect() as conn:
        kept = read_meta(conn, PUBLISHES)
    found: list[dict[str, Any]] = json.loads(kept) if kept else []
    return found


def search_subscribers(
    engine: Engine, text: str = "", status: str = "", digest: str = "", limit: int = 100
) -> tuple[list[Subscriber], int]:
    """Subscribers whose address contains ``text`` (any case), in ``status`` and receiving
    ``digest`` when given: the first ``limit`` by address, and how many match in all."""
    listed = (
        select(func.aggregate_strings(subscriptions.c.digest, " "))
        .where(subscriptions.c.subscriber_id == subscribers.c.id)
        .scalar_subquery()
    )
    where: list[Any] = []
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(subscribers.c.address_key.like(pattern + "%", escape="\\"))
    if status:
        where.append(subscribers.c.status == status)
    if digest:
        chosen = select(subscriptions.c.subscriber_id).where(subscriptions.c.digest == digest)
        where.append(subscribers.c.id.in_(chosen))
    query = select(subscribers, func.coalesce(listed, "").label("digests")).where(*where)
    total = select(func.count()).select_from(subscribers).where(*where)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(subscribers.c.address_key).limit(limit)).all()
        matched = int(conn.execute(total).scalar_one())
    return [subscriber_of(row, sorted(row.digests.split())) for row in rows], matched
