"""Deliveries: each message's way to one reader, queued → sending → sent | failed, and the
relays' state as every sender sees it.

A room of the :class:`publisher.store.outbox.Outbox`, and all a sender needs of the store
besides an issue's text: it claims due deliveries under a lease, records what the relay said,
and gives back what it did not send. Each method is one short transaction, since the sender
claims and records many times a second; a crash between two calls leaves every row in a state
the next sender knows how to continue from (invariant 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, or_, select, update

from publisher.models import Claim, Outcome, RelayState
from publisher.store import tally
from publisher.store.records import utc
from publisher.store.schema import deliveries, relays, subscribers
from publisher.store.subscribers import subscriber_of


def _moment(name: str) -> Any:
    """A bound timestamp, stored as the deliveries table stores its own."""
    return bindparam(name, type_=deliveries.c.next_attempt.type)


def _by_lease(claims: Sequence[Claim]) -> dict[datetime, list[int]]:
    """Claim ids by lease: each statement checks one lease still holds."""
    found: dict[datetime, list[int]] = {}
    for claim in claims:
        found.setdefault(claim.lease, []).append(claim.id)
    return found


def _listed() -> Any:
    """Deliveries whose id is in the bound list ``ids``."""
    return deliveries.c.id.in_(bindparam("ids", expanding=True))


# The sender's statements, built once: it runs them many times a second.
# Due: queued with its retry time reached, longest due first (the index on state and
# next_attempt gives them in that order, so a claim reads only the rows it takes, however many
# are queued), or sending with an expired lease.
_DUE = (
    select(deliveries.c.id)
    .where(deliveries.c.state == "queued", deliveries.c.next_attempt <= _moment("now"))
    .order_by(deliveries.c.next_attempt, deliveries.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_EXPIRED = (
    select(deliveries.c.id)
    .where(deliveries.c.state == "sending", deliveries.c.lease_until < _moment("now"))
    .order_by(deliveries.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
# Re-checked when taking, and only the rows taken come back: a sender whose look-up raced
# another's (SQLite reads outside the write lock) takes nothing twice.
_TAKE = (
    update(deliveries)
    .where(
        _listed(),
        or_(
            and_(deliveries.c.state == "queued", deliveries.c.next_attempt <= _moment("now")),
            and_(deliveries.c.state == "sending", deliveries.c.lease_until < _moment("now")),
        ),
    )
    .values(state="sending", lease_until=_moment("until"), updated=_moment("now"))
    .returning(deliveries.c.id)
)
# An expired lease on a message marked in flight: its sender died while sending it, so it was
# perhaps delivered. Counted as uncertain; past the limit it is given up as possibly delivered
# instead of sent once more (a sender crashing in a loop does not mail a reader every time).
_ORPHANED = (
    update(deliveries)
    .where(_listed(), deliveries.c.state == "sending", deliveries.c.in_flight)
    .values(uncertain=deliveries.c.uncertain + 1, in_flight=False)
)
_GIVE_UP = (
    update(deliveries)
    .where(_listed(), deliveries.c.state == "sending", deliveries.c.uncertain > bindparam("most"))
    .values(
        state="possibly_delivered",
        lease_until=None,
        last_reply=bindparam("reply"),
        updated=_moment("now"),
    )
    .returning(deliveries.c.id)
)
_CLAIMED = (
    select(
        deliveries.c.id.label("delivery"),
        deliveries.c.issue_id,
        deliveries.c.attempts,
        deliveries.c.uncertain,
        subscribers.c.id,
        subscribers.c.address,
        subscribers.c.status,
        subscribers.c.secret,
    )
    .join(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
    .where(_listed())
    .order_by(deliveries.c.id)
)
# Only while the claim is still this sender's: one whose lease ran out and was taken over
# cannot overwrite what the new sender recorded.
_RECORD = (
    update(deliveries)
    .where(
        _listed(),
        deliveries.c.state == "sending",
        deliveries.c.lease_until == _moment("lease"),
    )
    .values(
        state=bindparam("state"),
        last_reply=bindparam("reply"),
        next_attempt=_moment("retry_at"),
        lease_until=None,
        in_flight=False,
        attempts=deliveries.c.attempts + bindparam("tried"),
        uncertain=deliveries.c.uncertain + bindparam("unsure"),
        updated=_moment("now"),
    )
)
# Committed before a message goes to the relay (again only while the claim is the sender's).
_IN_FLIGHT = (
    update(deliveries)
    .where(
        _listed(),
        deliveries.c.state == "sending",
        deliveries.c.lease_until == _moment("lease"),
    )
    .values(in_flight=True)
    .returning(deliveries.c.id)
)
SENDER_DIED = "a sender stopped while sending it, more than once: it may have arrived"


class Deliveries:
    """Deliveries and the relays' state, over the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(
        self, now: datetime, lease: timedelta, limit: int, most_uncertain: int = 1
    ) -> list[Claim]:
        """Move up to ``limit`` due deliveries to ``sending`` under a lease, and return them.

        Due means sending with an expired lease (its sender died), taken first, or queued with
        its retry time reached, the longest due first. An expired one that was in flight counts
        as uncertain, and past ``most_uncertain`` is given up as possibly delivered rather than
        sent again. Deliveries of subscribers no longer active are cancelled instead, so an
        unsubscribe takes effect before the next message. Concurrent senders skip each other's
        rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers). Taking a
        claim is not an attempt: only a message handed to the relay counts.
        """
        now = utc(now)
        with self.engine.begin() as conn:
            ids = list(conn.execute(_EXPIRED, {"now": now, "limit": limit}).scalars())
            if ids:
                conn.execute(_ORPHANED, {"ids": ids})
                given_up = {"ids": ids, "most": most_uncertain, "reply": SENDER_DIED, "now": now}
                lost = set(conn.execute(_GIVE_UP, given_up).scalars())
                ids = [i for i in ids if i not in lost]
            if len(ids) < limit:
                due = conn.execute(_DUE, {"now": now, "limit": limit - len(ids)})
                ids += due.scalars()
            if not ids:
                return []
            until = now + lease
            ids = list(conn.execute(_TAKE, {"ids": ids, "now": now, "until": until}).scalars())
            if not ids:
                return []
            return self._claims(conn, ids, until)

    def _claims(self, conn: Connection, ids: list[int], until: datetime) -> list[Claim]:
        """The claims of rows just taken; those of readers no longer active are cancelled."""
        claims, gone = [], []
        for row in conn.execute(_CLAIMED, {"ids": ids}):
            if row.status != "active":
                gone.append(row.delivery)
                continue
            subscriber = subscriber_of(row)
            claim = Claim(row.delivery, row.issue_id, subscriber, row.attempts, until)
            claims.append(replace(claim, uncertain=row.uncertain))
        if gone:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(gone))
                .values(state="cancelled", lease_until=None, last_reply="not active")
            )
        return claims

    def commit(
        self,
        outcomes: Sequence[Outcome],
        starting: Sequence[Claim],
        now: datetime,
        bounce_after: int,
    ) -> set[int]:
        """In one transaction: write what became of claimed deliveries (counting refusals by a
        reader's own mailbox against them, bounced after ``bounce_after``), and mark the claims
        about to be sent as in flight. The ids marked: a claim whose lease is no longer this
        sender's is not marked, and must not be sent.

        Outcomes alike (every plain ``sent``, mostly) are written by one statement over their
        ids: the sender commits many small groups a second, each before its workers move on.
        """
        now = utc(now)
        with self.engine.begin() as conn:
            self._record(conn, outcomes, now, bounce_after)
            marked: set[int] = set()
            for lease, ids in _by_lease(starting).items():
                marked |= set(conn.execute(_IN_FLIGHT, {"ids": ids, "lease": lease}).scalars())
            return marked

    def record(self, outcomes: Sequence[Outcome], now: datetime, bounce_after: int) -> None:
        """Write what became of claimed deliveries (:meth:`commit` with nothing starting)."""
        self.commit(outcomes, (), now, bounce_after)

    def _record(
        self, conn: Connection, outcomes: Sequence[Outcome], now: datetime, bounce_after: int
    ) -> None:
        alike: dict[tuple[Any, ...], list[int]] = {}
        for o in outcomes:
            retry_at = utc(o.next_attempt) if o.next_attempt else now
            key = (o.state, o.reply[:1000], retry_at, o.lease, int(o.tried), int(o.uncertain))
            alike.setdefault(key, []).append(o.id)
        for (state, reply, retry_at, lease, tried, unsure), ids in alike.items():
            values = {"ids": ids, "state": state, "reply": reply, "retry_at": retry_at}
            values |= {"lease": lease, "tried": tried, "unsure": unsure, "now": now}
            conn.execute(_RECORD, values)
        bounced = [{"key": o.subscriber_id, "issue": o.issue_id} for o in outcomes if o.bounce]
        if not bounced:
            return
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == bindparam("key"))
            .values(bounces=subscribers.c.bounces + 1, updated=now),
            bounced,
        )
        conn.execute(
            update(subscribers)
            .where(
                subscribers.c.id == bindparam("key"),
                subscribers.c.status == "active",
                subscribers.c.bounces >= bounce_after,
            )
            .values(status="bounced", bounced_issue=bindparam("issue"), bounced_at=now),
            bounced,
        )

    def release(self, ids: Sequence[int], now: datetime) -> None:
        """Give claimed deliveries back unsent (a graceful stop): queued, no try counted."""
        if not ids:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(ids), deliveries.c.state == "sending")
                .values(state="queued", lease_until=None, in_flight=False, updated=utc(now))
            )

    def leases(self, now: datetime) -> tuple[int, datetime | None]:
        """Deliveries claimed and not yet expired (another sender's, or a dead one's), and when
        the last of those leases ends: after a crash, they wait for it."""
        query = select(func.count(), func.max(deliveries.c.lease_until)).where(
            deliveries.c.state == "sending", deliveries.c.lease_until >= utc(now)
        )
        with self.engine.connect() as conn:
            count, until = conn.execute(query).one()
        return int(count), until

    def counts(self) -> dict[str, int]:
        """Deliveries by state, every state present."""
        return tally.counts(self.engine)

    def next_due(self) -> datetime | None:
        """When the earliest queued delivery may be tried, or ``None`` when none is queued."""
        query = select(func.min(deliveries.c.next_attempt)).where(deliveries.c.state == "queued")
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value

    def retry_failed(
        self, now: datetime, possibly_delivered: bool = False, issue_id: int | None = None
    ) -> int:
        """Queue failed deliveries of still-active subscribers again (of one issue, or all),
        tries counted afresh; with ``possibly_delivered`` those too (each may then arrive
        twice)."""
        active = select(subscribers.c.id).where(subscribers.c.status == "active")
        states = ["failed", "possibly_delivered"] if possibly_delivered else ["failed"]
        chosen = deliveries.c.state.in_(states) & deliveries.c.subscriber_id.in_(active)
        if issue_id is not None:
            chosen &= deliveries.c.issue_id == issue_id
        with self.engine.begin() as conn:
            done = conn.execute(
                update(deliveries)
                .where(chosen)
                .values(
                    state="queued", attempts=0, uncertain=0, next_attempt=utc(now), updated=utc(now)
                )
            )
            return int(done.rowcount)

    # -- the relays ----------------------------------------------------------------------------

    def relay(self, name: str) -> RelayState:
        """How every sender sees the relay ``name`` (up until one found otherwise)."""
        query = select(relays).where(relays.c.relay == name)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return RelayState(name)
        return RelayState(name, row.state, row.since, row.reply, row.probe_at, row.probes)

    def set_relay(self, state: RelayState) -> None:
        """Keep the relay's state for every sender (and the operator's status pages)."""
        values = {
            "state": state.state,
            "since": state.since,
            "reply": state.reply[:1000],
            "probe_at": state.probe_at,
            "probes": state.probes,
        }
        with self.engine.begin() as conn:
            key = relays.c.relay == state.relay
            if not conn.execute(update(relays).where(key).values(values)).rowcount:
                conn.execute(insert(relays).values(relay=state.relay, **values))
