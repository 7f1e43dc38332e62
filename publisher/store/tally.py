"""What the outbox holds, for the operator: rows by state, the relays' state, and why rows wait
or failed — grouped by the relay's reply, so a thousand refusals read as one line.

Read-only SQL beside :mod:`publisher.store.deliveries`; ``publisher outbox`` reads it, and
``/api/status`` and the metrics through :class:`publisher.store.status.Status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select

from publisher.models import RelayState
from publisher.store.records import utc
from publisher.store.schema import deliveries, issues, relays, subscribers

STATES = ("queued", "sending", "sent", "failed", "possibly_delivered", "cancelled")
GROUPS = 20  # distinct replies shown per state


@dataclass(frozen=True)
class Group:
    """Deliveries in one state with one reply: how many, and one of them as an example."""

    reply: str
    count: int
    address: str
    digest: str
    issue_id: int
    attempts: int
    next_try: datetime | None = None


@dataclass(frozen=True)
class Tally:
    """The outbox as the operator sees it."""

    counts: dict[str, int]
    relays: list[RelayState]
    retrying: list[Group]  # queued again after a try or a pause, by reply
    claimed: int  # in ``sending`` under a lease that has not ended
    claimed_until: datetime | None
    failed: list[Group]
    possibly_delivered: list[Group]


def counts(engine: Engine) -> dict[str, int]:
    """Deliveries by state, every state present."""
    query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
    with engine.connect() as conn:
        found = {state: int(n) for state, n in conn.execute(query)}
    return {state: found.get(state, 0) for state in STATES}


def _groups(engine: Engine, state: str, tried_only: bool = False) -> list[Group]:
    count = func.count().label("count")
    query = (
        select(
            deliveries.c.last_reply,
            count,
            func.min(subscribers.c.address),
            func.min(issues.c.digest),
            func.max(issues.c.id),
            func.max(deliveries.c.attempts),
            func.min(deliveries.c.next_attempt),
        )
        .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
        .join(issues, issues.c.id == deliveries.c.issue_id)
        .where(deliveries.c.state == state)
        .group_by(deliveries.c.last_reply)
        .order_by(count.desc(), deliveries.c.last_reply)
        .limit(GROUPS)
    )
    if tried_only:  # a fresh queued row has no reply: nothing to explain
        query = query.where(deliveries.c.last_reply != "")
    with engine.connect() as conn:
        rows: Sequence[Any] = conn.execute(query).all()
    when = state == "queued"
    return [Group(r[0], int(r[1]), r[2], r[3], r[4], r[5], r[6] if when else None) for r in rows]


def relay_states(engine: Engine) -> list[RelayState]:
    """Every relay a sender has used, as the senders see it."""
    with engine.connect() as conn:
        rows = conn.execute(select(relays).order_by(relays.c.relay)).all()
    return [RelayState(r.relay, r.state, r.since, r.reply, r.probe_at, r.probes) for r in rows]


def tally(engine: Engine, now: datetime) -> Tally:
    """Everything ``publisher outbox`` shows."""
    leased = select(func.count(), func.max(deliveries.c.lease_until)).where(
        deliveries.c.state == "sending", deliveries.c.lease_until >= utc(now)
    )
    with engine.connect() as conn:
        claimed, until = conn.execute(leased).one()
    return Tally(
        counts(engine),
        relay_states(engine),
        _groups(engine, "queued", tried_only=True),
        int(claimed),
        until,
        _groups(engine, "failed"),
        _groups(engine, "possibly_delivered"),
    )
