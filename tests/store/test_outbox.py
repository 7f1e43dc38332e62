"""The outbox's subscriber bookkeeping in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW


def test_adding_many_subscribers_in_batches_counts_each_kind_once(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        outbox = Outbox(store.engine)
        rows = [(f"Reader{n}@example.com", ["daily"]) for n in range(1200)]
        first = outbox.subscribers.add(rows, "active", NOW)
        assert (first.added, first.updated, first.unchanged, first.refused) == (1200, 0, 0, ())
        outbox.subscribers.set_status("reader7@example.com", "unsubscribed", NOW)
        again = [(address.lower(), ["daily"]) for address, _ in rows]
        again[3] = ("reader3@example.com", ["daily", "weekly"])
        again.append(("new@example.com", ["weekly"]))
        second = outbox.subscribers.add(again, "active", NOW)
        assert (second.added, second.updated, second.unchanged) == (1, 1, 1198)
        assert second.refused == (
            "reader7@example.com: unsubscribed; only the reader can subscribe again",
        )
        everyone = {s.address: s for s in outbox.subscribers.each()}
        assert len(everyone) == 1201
        assert everyone["Reader3@example.com"].digests == ("daily", "weekly")
        assert everyone["Reader7@example.com"].status == "unsubscribed"
        assert everyone["new@example.com"].digests == ("weekly",)
        assert len({s.secret for s in everyone.values()}) == 1201
        assert outbox.subscribers.audience_size("daily") == 1199
    finally:
        store.close()
