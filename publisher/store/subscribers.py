"""Subscribers: who receives which digest, and how they got there.

Operators add and import readers; readers subscribe (double opt-in), confirm, choose their
digests and unsubscribe. A room of the :class:`publisher.store.outbox.Outbox`, beside the
issues and deliveries that go to them; like the rest of it, each method is one short
transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from publisher.models import Subscriber
from publisher.store.records import utc
from publisher.store.schema import subscribers, subscriptions

if TYPE_CHECKING:
    from publisher.store.limits import Limits

T = TypeVar("T")
EXPIRE_BATCH = 100  # expired pending readers purged per request, at most


@dataclass(frozen=True)
class Imported:
    """What adding a batch of subscribers did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: tuple[str, ...] = ()  # unsubscribed or bounced addresses are never re-added

    def __add__(self, other: Imported) -> Imported:
        return Imported(
            self.added + other.added,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.refused + other.refused,
        )


def _batches(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def subscriber_of(row: Any, digests: Sequence[str] = ()) -> Subscriber:
    """A subscriber from a row of the subscribers table."""
    return Subscriber(row.id, row.address, row.status, row.secret, tuple(digests))


def _set_digests(conn: Connection, choices: dict[int, set[str]]) -> None:
    """Each subscriber of ``choices`` receives exactly the digests given for it."""
    if not choices:
        return
    conn.execute(delete(subscriptions).where(subscriptions.c.subscriber_id.in_(list(choices))))
    rows = [{"subscriber_id": i, "digest": d} for i, ds in choices.items() for d in sorted(ds)]
    if rows:
        conn.execute(insert(subscriptions), rows)


def audience(digest: str) -> Any:
    """The active subscribers of ``digest``, by id: whom an issue opened now goes to."""
    return (
        select(subscribers)
        .join(subscriptions, subscriptions.c.subscriber_id == subscribers.c.id)
        .where(subscriptions.c.digest == digest, subscribers.c.status == "active")
        .order_by(subscribers.c.id)
    )


class Subscribers:
    """Subscribers and their digests over the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self, rows: Iterable[tuple[str, Sequence[str]]], status: str, now: datetime
    ) -> Imported:
        """Add or update ``(address, digests)``; adding the same rows twice changes nothing.

        An existing subscriber's digests become the ones given. Unsubscribed and bounced
        addresses stay as they are: only the reader can subscribe again. Rows are handled in
        batches, a few queries each, so a list of 100,000 imports in seconds.
        """
        done = Imported()
        with self.engine.begin() as conn:
            for batch in _batches(list(rows), 500):
                done = done + self._add_batch(conn, batch, status, now)
        return done

    def _add_batch(
        self, conn: Connection, rows: list[tuple[str, Sequence[str]]], status: str, now: datetime
    ) -> Imported:
        """One batch of :meth:`add`: the addresses known are looked up with their digests, the
        ones whose status or digests differ updated, and the rest (``wanted``) inserted."""
        wanted = {address.lower(): (address, set(digests)) for address, digests in rows}
        found = conn.execute(
            select(subscribers.c.id, subscribers.c.address_key, subscribers.c.status).where(
                subscribers.c.address_key.in_(list(wanted))
            )
        ).all()
        current = _digests_of(conn, [row.id for row in found])
        refused, changed = [], {}
        for row in found:
            address, digests = wanted.pop(row.address_key)
            if row.status in ("unsubscribed", "bounced"):
                refused.append(_refusal(address, row.status))
            elif current[row.id] != digests or row.status != status:
                changed[row.id] = digests
        existing = len(changed)
        if changed:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id.in_(list(changed)))
                .values(status=status, pending_from=None, updated=now)
            )
        if wanted:  # what is left is new
            changed.update(_insert_new(conn, wanted, status, now))
        _set_digests(conn, changed)
        unchanged = len(found) - existing - len(refused)
        return Imported(len(wanted), existing, unchanged, tuple(refused))

    def set_status(self, address: str, status: str, now: datetime) -> bool:
        """Change one subscriber's status; ``False`` when the address is unknown."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(subscribers)
                .where(subscribers.c.address_key == address.lower())
                .values(status=status, updated=now)
            )
            return bool(done.rowcount)

    def choose(self, subscriber_id: int, digests: Sequence[str], now: datetime) -> None:
        """A reader's own choice of digests: none means unsubscribed, some means active again
        (the reader may resubscribe; an operator's import may not)."""
        status = "active" if digests else "unsubscribed"
        with self.engine.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(status=status, updated=utc(now))
            )
            _set_digests(conn, {subscriber_id: set(digests)})

    def request(
        self, address: str, digests: Sequence[str], now: datetime, limits: Limits
    ) -> Subscriber | None:
        """A reader asked to subscribe: whom to send a confirmation to, or ``None``.

        A new address is stored as pending with the digests it chose; an unsubscribed or pending
        one gets its choice updated, and is pending (again). Active and bounced addresses get
        nothing, no address gets more than one confirmation per ``limits.cooldown``, and none
        when its mailbox or the site has had its share (:meth:`Limits.admit`): then nothing is
        stored either. Pending requests older than ``limits.pending_for`` are expired first, a
        batch at a time, in the same transaction.
        """
        key = address.lower()
        with self.engine.begin() as conn:
            _expire(conn, now, limits.pending_for)
            row = conn.execute(select(subscribers).where(subscribers.c.address_key == key)).first()
            if not _may_ask(row, now, limits.cooldown) or not limits.admit(conn, address, now):
                return None
            subscriber_id = _pend(conn, row, address, now)
            if subscriber_id is None:  # another request stored it a moment ago
                return None
            _set_digests(conn, {subscriber_id: set(digests)})
            found = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).one()
            return subscriber_of(found, sorted(set(digests)))

    def confirm(self, subscriber_id: int, now: datetime) -> bool:
        """The reader confirmed: pending becomes active; ``False`` otherwise. A link from an
        old confirmation mail cannot bring back a reader who has unsubscribed since."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, subscribers.c.status == "pending")
                .values(status="active", pending_from=None, updated=utc(now))
            )
            return bool(done.rowcount)

    def confirmation_sent(self, subscriber_id: int) -> datetime | None:
        """When the latest confirmation mail to a reader was sent: only its link confirms."""
        query = select(subscribers.c.confirm_sent).where(subscribers.c.id == subscriber_id)
        with self.engine.connect() as conn:
            found: datetime | None = conn.execute(query).scalar()
            return found

    def unsubscribe(self, subscriber_id: int, now: datetime) -> None:
        """The reader's one-click unsubscribe: idempotent, digests kept for a change of mind."""
        with self.engine.begin() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, subscribers.c.status != "unsubscribed")
                .values(status="unsubscribed", updated=utc(now))
            )

    def reactivate(
        self,
        now: datetime,
        issue_id: int | None = None,
        between: tuple[datetime, datetime] | None = None,
    ) -> list[str]:
        """Make active again the readers that ``issue_id`` bounced, or that were bounced
        ``between`` two times: an operator's undo of a bad issue or a bad relay hour. Their
        count of refusals starts again. The addresses reactivated."""
        query = subscribers.c.status == "bounced"
        if issue_id is not None:
            query &= subscribers.c.bounced_issue == issue_id
        if between is not None:
            start, end = (utc(moment) for moment in between)
            query &= subscribers.c.bounced_at >= start
            query &= subscribers.c.bounced_at < end
        with self.engine.begin() as conn:
            rows = conn.execute(
                update(subscribers)
                .where(query)
                .values(
                    status="active", bounces=0, bounced_issue=None, bounced_at=None, updated=now
                )
                .returning(subscribers.c.address)
            )
            return sorted(rows.scalars())

    def forget(self, address: str) -> bool:
        """Delete a subscriber and their deliveries (the right to be forgotten)."""
        with self.engine.begin() as conn:
            key = address.lower()
            done = conn.execute(delete(subscribers).where(subscribers.c.address_key == key))
            return bool(done.rowcount)

    def each(self, status: str | None = None) -> Iterator[Subscriber]:
        """Every subscriber with their digests, by id, streamed."""
        digests = func.coalesce(
            select(func.aggregate_strings(subscriptions.c.digest, " "))
            .where(subscriptions.c.subscriber_id == subscribers.c.id)
            .scalar_subquery(),
            "",
        )
        query = select(subscribers, digests.label("digests")).order_by(subscribers.c.id)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self.engine.connect() as conn:
            rows = conn.execution_options(yield_per=500).execute(query)
            try:
                for row in rows:
                    yield subscriber_of(row, sorted(row.digests.split()))
            finally:  # a caller that stops early must not leave a server-side cursor open
                rows.close()

    def get(self, subscriber_id: int) -> Subscriber | None:
        """One subscriber by id, with their digests."""
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
            if row is None:
                return None
            return subscriber_of(row, sorted(_digests_of(conn, [row.id])[row.id]))

    def sample(self, digest: str) -> Subscriber | None:
        """The first active subscriber of ``digest``, for previews."""
        with self.engine.connect() as conn:
            row = conn.execute(audience(digest).limit(1)).first()
            return None if row is None else subscriber_of(row, [digest])

    def audience_size(self, digest: str) -> int:
        """How many active subscribers an issue of ``digest`` opened now would go to."""
        query = select(func.count()).select_from(audience(digest).subquery())
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _digests_of(conn: Connection, ids: list[int]) -> dict[int, set[str]]:
    """The digests each of the subscribers ``ids`` receives."""
    current: dict[int, set[str]] = {i: set() for i in ids}
    query = select(subscriptions).where(subscriptions.c.subscriber_id.in_(ids))
    for subscriber_id, digest in conn.execute(query):
        current[subscriber_id].add(digest)
    return current


def _refusal(address: str, status: str) -> str:
    """Why an import leaves an unsubscribed or bounced address as it is, and what can."""
    again = "only the reader can subscribe again"
    if status == "bounced":  # perhaps by the relay's fault, not the mailbox's
        again += "; `publisher subscribers reactivate` undoes an issue's bounces"
    return f"{address}: {status}; {again}"


def _insert_new(
    conn: Connection, wanted: dict[str, tuple[str, set[str]]], status: str, now: datetime
) -> dict[int, set[str]]:
    """Insert the subscribers of ``wanted`` (address key → address, digests); their ids, with
    the digests each is to receive."""
    conn.execute(
        insert(subscribers),
        [
            {
                "address": address,
                "address_key": key,
                "status": status,
                "secret": secrets.token_urlsafe(24),
                "bounces": 0,
                "created": now,
                "updated": now,
            }
            for key, (address, _digests) in wanted.items()
        ],
    )
    made = select(subscribers.c.id, subscribers.c.address_key).where(
        subscribers.c.address_key.in_(list(wanted))
    )
    return {i: wanted[key][1] for i, key in conn.execute(made)}


def _may_ask(row: Any, now: datetime, cooldown: timedelta) -> bool:
    """Whether the address of ``row`` (``None``: a new one) may be sent a confirmation now: it
    is new, pending or unsubscribed, and its last confirmation is ``cooldown`` old."""
    if row is None:
        return True
    if row.status not in ("pending", "unsubscribed"):
        return False
    return row.confirm_sent is None or now - row.confirm_sent >= cooldown


def _pend(conn: Connection, row: Any, address: str, now: datetime) -> int | None:
    """Make the reader of ``row`` (``None``: a new address) pending, confirmation sent now; its
    id, or ``None`` when a concurrent request stored the new address first."""
    if row is None:
        return _insert_pending(conn, address, now)
    # An unsubscribed reader asking again is pending again, and goes back to unsubscribed if
    # the request expires.
    was = row.pending_from if row.status == "pending" else row.status
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == row.id)
        .values(status="pending", pending_from=was, confirm_sent=now, updated=now)
    )
    return int(row.id)


def _insert_pending(conn: Connection, address: str, now: datetime) -> int | None:
    """A new pending reader's id; ``None`` when a concurrent request inserted it first."""
    values = {
        "address": address,
        "address_key": address.lower(),
        "status": "pending",
        "secret": secrets.token_urlsafe(24),
        "bounces": 0,
        "confirm_sent": now,
        "created": now,
        "updated": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    made = (
        dialect.insert(subscribers)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[subscribers.c.address_key])
        .returning(subscribers.c.id)
    )
    found = conn.execute(made).scalar()
    return None if found is None else int(found)


def _expire(conn: Connection, now: datetime, pending_for: timedelta) -> None:
    """Requests pending for longer than ``pending_for`` end, :data:`EXPIRE_BATCH` at most: a
    new address is deleted, a reader who had unsubscribed is unsubscribed again (so an
    operator's import still cannot re-add them). Their confirmation links expired with them
    (see :func:`publisher.mail.confirmation.confirm_url`)."""
    since = func.coalesce(subscribers.c.confirm_sent, subscribers.c.updated)
    expired = (
        select(subscribers.c.id, subscribers.c.pending_from)
        .where(subscribers.c.status == "pending", since < utc(now - pending_for))
        .limit(EXPIRE_BATCH)
    )
    rows = conn.execute(expired).all()
    gone = [row.id for row in rows if row.pending_from is None]
    back = [row.id for row in rows if row.pending_from is not None]
    if gone:
        conn.execute(delete(subscribers).where(subscribers.c.id.in_(gone)))
    if back:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id.in_(back))
            .values(status=subscribers.c.pending_from, pending_from=None, updated=utc(now))
        )
