"""Who runs the scheduler: at most one worker among every process sharing the store."""

from __future__ import annotations

import fcntl
import zlib
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text


class Leadership:
    """At most one holder at a time among every process sharing the store: the worker that
    runs the scheduler. PostgreSQL: a session advisory lock on a connection kept open. SQLite
    (one machine): an exclusive ``flock`` on a file beside the database.
    """

    def __init__(self, engine: Engine, name: str, lock_file: Path) -> None:
        self.engine, self.key, self.lock_file = engine, zlib.crc32(name.encode()), lock_file
        self._conn: Connection | None = None
        self._handle: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._handle is not None

    def try_acquire(self) -> bool:
        """Take the lead if nobody holds it; never waits."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            query = text("SELECT pg_try_advisory_lock(:key)")
            if conn.execute(query, {"key": self.key}).scalar():
                conn.commit()
                self._conn = conn
                return True
            conn.close()
            return False
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_file.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        """Give the lead up. A process that dies gives it up too: its session or file closes."""
        if self._conn is not None:
            # Closing only returns the connection to the pool, its session and lock alive.
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._conn.commit()
            self._conn.close()
            self._conn = None
        if self._handle is not None:
            self._handle.close()
            self._handle = None
