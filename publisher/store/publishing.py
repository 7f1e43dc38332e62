"""The publishing side of the store as one object: its rooms over one engine, sharing one write
transaction at a time.

A publish stores articles (:mod:`publisher.store.articles`), remembers the files it read and
what is left to build (:mod:`publisher.store.bookkeeping`), and records its outputs
(:mod:`publisher.store.outputs`), a chunk per transaction (:mod:`publisher.store.writes`).
A process that only reads — the web process — takes the readers it needs over a bare engine
(:func:`publisher.store.engine.open_engine`) instead: :class:`~publisher.store.outputs.Outputs`
and :class:`~publisher.store.status.Status`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import Engine

from publisher.store.articles import Articles
from publisher.store.bookkeeping import Builds, Files
from publisher.store.engine import open_engine
from publisher.store.outputs import Outputs
from publisher.store.writes import Writes


class Store:
    """Articles, the scan cache, outputs and the build's bookkeeping, over one engine.

    Reads outside a transaction use a connection of their own; writes need
    :meth:`transaction`, whichever room they are made in.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writes = Writes(engine)
        self.articles = Articles(self.writes)
        self.files = Files(self.writes)
        self.outputs = Outputs(engine, self.writes)
        self.builds = Builds(self.writes)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate.

        :raises ConfigError: when the database cannot be migrated.
        :raises StoreError: when it cannot be reached.
        """
        return cls(open_engine(url))

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def transaction(self) -> AbstractContextManager[None]:
        """One short write transaction for the calls made inside, in any room; rolled back on
        any exception (and then what the rooms held back or learnt in it is forgotten)."""
        return self.writes.transaction()
