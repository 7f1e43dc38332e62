"""Outputs: every built file's bytes, media type, hash and time, as the web process serves them.

A publish writes them in its transactions (:class:`publisher.store.publishing.Store`), held
back and written in batches; a web process reads them over a bare engine, each call on a
connection of its own, so ``web`` and ``worker`` share nothing but the database. ``public/``
is an export of this table (:mod:`publisher.site.export`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from publisher.store.schema import outputs
from publisher.store.writes import ByPath, Writes, delete_where_in

HELD = 200  # outputs held back at most: bounds the bytes held in memory


class Outputs:
    """Stored outputs over ``engine``: each read on a connection of its own (what the web
    process does), or, given the store's ``writes``, within its transaction too."""

    def __init__(self, engine: Engine, writes: Writes | None = None) -> None:
        self.writes = writes or Writes(engine)
        self.held = ByPath(outputs)
        self.writes.hold(self.held)

    def read(self, path: str) -> tuple[str, bytes, str, datetime] | None:
        """``(media_type, body, sha256, updated)`` of one output."""
        row = self._first(
            path, outputs.c.media_type, outputs.c.body, outputs.c.sha256, outputs.c.updated
        )
        return None if row is None else (row[0], bytes(row[1]), row[2], row[3])

    def head(self, path: str) -> tuple[str, str, datetime] | None:
        """``(media_type, sha256, updated)`` of one output, without its bytes: enough to answer
        a conditional GET, and to know whether a cached body is still the current one."""
        row = self._first(path, outputs.c.media_type, outputs.c.sha256, outputs.c.updated)
        return None if row is None else (row[0], row[1], row[2])

    def _first(self, path: str, *columns: Any) -> tuple[Any, ...] | None:
        """``columns`` of the output at ``path``, if there is one."""
        with self.writes.reading() as conn:
            row = conn.execute(select(*columns).where(outputs.c.path == path)).first()
        return None if row is None else tuple(row)

    def hashes(self) -> dict[str, str]:
        """``path → sha256`` of every stored output."""
        with self.writes.reading() as conn:
            rows = conn.execute(select(outputs.c.path, outputs.c.sha256))
            return {path: digest for path, digest in rows}

    def put(self, path: str, media_type: str, body: bytes, sha256: str, now: datetime) -> None:
        """Store an output's bytes (in this transaction) so a web process sharing only the
        database can serve it."""
        row = {
            "path": path,
            "media_type": media_type,
            "sha256": sha256,
            "updated": now,
            "body": body,
        }
        self.held.rows[path] = row
        if len(self.held.rows) >= HELD:
            self.writes.flush()

    def delete(self, paths: Iterable[str]) -> None:
        """Forget outputs that no longer exist."""
        self.writes.flush()
        delete_where_in(self.writes.conn, outputs.c.path, list(paths))
