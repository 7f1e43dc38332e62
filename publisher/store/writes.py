"""The publishing side's writes: one short transaction at a time over an engine, and the rows
the rooms of :class:`publisher.store.publishing.Store` hold back to write in it by batches (an
executemany is far cheaper than a statement per row).

A read inside a transaction first writes what is held back, so it sees it; outside one, each
read has a connection of its own, so :class:`~publisher.store.outputs.Outputs` over a bare
engine (what the web process reads through) holds nothing between calls. Transactions are
short — one chunk of files or outputs each — and never open while files are read, pages
rendered or outputs gated: a reader's unsubscribe waits for one chunk at most, not for a
whole publish (PITFALLS 67).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, delete, insert
from sqlalchemy.dialects import postgresql, sqlite

BATCH = 500  # rows a statement writes, or keys it names, at most


class Held(Protocol):
    """Rows a room holds back until its transaction writes them."""

    def write(self, conn: Connection) -> None:
        """Write the rows held back (and hold none)."""

    def drop(self) -> None:
        """The transaction was rolled back: forget the rows, and what was learnt with them."""


class Writes:
    """The transaction under way on ``engine``, if any, and what is held back for it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._held: list[Held] = []

    def hold(self, rows: Held) -> None:
        """Write ``rows`` before every read in a transaction, and at its end."""
        self._held.append(rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One short write transaction for the calls made inside; rolled back on any
        exception, and then everything held back is dropped."""
        assert self._conn is None, "store transactions do not nest"
        try:
            with self.engine.begin() as conn:
                self._conn = conn
                yield
                self.flush()
        except BaseException:
            for rows in self._held:
                rows.drop()
            raise
        finally:
            self._conn = None

    @property
    def conn(self) -> Connection:
        """The connection of the transaction under way."""
        assert self._conn is not None, "a write outside Store.transaction()"
        return self._conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """The transaction's connection (after what is held back is written, so reads see it),
        or a connection of its own outside one."""
        if self._conn is not None:
            self.flush()
            yield self._conn
            return
        with self.engine.connect() as conn:
            yield conn

    def flush(self) -> None:
        """Write everything held back, in the transaction under way."""
        for rows in self._held:
            rows.write(self.conn)


class ByPath:
    """Rows of ``table`` by path, held back to take the place of the stored rows of those
    paths (the scan cache, outputs)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.rows: dict[str, dict[str, Any]] = {}

    def write(self, conn: Connection) -> None:
        rows, self.rows = self.rows, {}
        if rows:
            delete_where_in(conn, self.table.c.path, list(rows))
            conn.execute(insert(self.table), list(rows.values()))

    def drop(self) -> None:
        self.rows = {}


def delete_where_in(conn: Connection, column: Any, values: list[str]) -> None:
    """Delete the rows whose ``column`` is one of ``values``, a batch of keys at a time."""
    for start in range(0, len(values), BATCH):
        conn.execute(delete(column.table).where(column.in_(values[start : start + BATCH])))


def insert_missing(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows whose key is not there yet (the same entry twice is one entry)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    for start in range(0, len(rows), BATCH):
        statement = dialect.insert(table).on_conflict_do_nothing()
        conn.execute(statement, rows[start : start + BATCH])
