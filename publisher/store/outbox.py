"""The mail side of the store as one object: its rooms over one engine.

``subscribers`` (:mod:`publisher.store.subscribers`) are who receives which digest;
``issues`` (:mod:`publisher.store.issues`) the digests' ledger and the issues opened for them;
``deliveries`` (:mod:`publisher.store.deliveries`) each message's way to a reader, and the
relays' state. Opening an issue reads the first and writes the other two; a sender needs only
the last two. Each room's methods are short transactions of their own, so the rooms share
nothing but the engine.
"""

from __future__ import annotations

from sqlalchemy import Engine

from publisher.store.deliveries import Deliveries
from publisher.store.issues import Issues
from publisher.store.subscribers import Subscribers


class Outbox:
    """Subscribers, issues and deliveries over the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.subscribers = Subscribers(engine)
        self.issues = Issues(engine)
        self.deliveries = Deliveries(engine)
