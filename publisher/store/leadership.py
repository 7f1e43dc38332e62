"""Who runs the scheduler: at most one worker among every process sharing the store.

A lead once taken can be lost without the holder noticing (PITFALLS 60): on PostgreSQL the
lock's session can be killed (a restart, ``pg_terminate_backend``, a proxy dropping idle
connections) and the server then frees the lock for another worker; on SQLite the lock file can
be deleted or replaced, and a new ``flock`` on the new file succeeds beside the old one. So the
leader calls :meth:`Leadership.check` before each job and now and then, and stops leading when
it answers no.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from publisher.errors import StoreError

# A bigint advisory key shows as classid (high half), objid (low half) and objsubid 1.
_HOLDS = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 1"
    " AND ((classid::bigint << 32) | objid::bigint) = :key)"
)


class Leadership:
    """At most one holder at a time among every process sharing the store: the worker that
    runs the scheduler. PostgreSQL: a session advisory lock on a connection kept open. SQLite
    (one machine): an exclusive ``flock`` on a file beside the database.

    Thread-safe: the worker calls it from threads, so the store never blocks its loop.
    """

    def __init__(self, engine: Engine, name: str, lock_file: Path) -> None:
        self.engine, self.key, self.lock_file = engine, zlib.crc32(name.encode()), lock_file
        self._conn: Connection | None = None
        self._handle: IO[bytes] | None = None
        self._guard = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None or self._handle is not None

    def try_acquire(self) -> bool:
        """Take the lead if nobody holds it; never waits.

        :raises StoreError: when the database cannot be reached.
        """
        with self._guard:
            if self.held:
                return True
            if self.engine.dialect.name == "postgresql":
                return self._acquire_advisory()
            return self._acquire_file()

    def _acquire_advisory(self) -> bool:
        conn = self.engine.connect()
        try:
            taken = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            if taken.scalar():
                conn.commit()
                self._conn = conn
                return True
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        conn.close()
        return False

    def _acquire_file(self) -> bool:
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        handle = self.lock_file.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def check(self) -> bool:
        """Whether this process still leads; when it no longer does, what is left of the lock
        is let go, so the next :meth:`try_acquire` starts afresh."""
        with self._guard:
            if self._conn is not None:
                if self._holds_advisory():
                    return True
                self._drop_connection()
                return False
            if self._handle is not None:
                if self._holds_file(self._handle):
                    return True
                self._handle.close()
                self._handle = None
            return False

    def _holds_advisory(self) -> bool:
        assert self._conn is not None
        try:
            held = bool(self._conn.execute(_HOLDS, {"key": self.key}).scalar())
            self._conn.rollback()
        except (StoreError, SQLAlchemyError):  # the session is gone, and the lock with it
            return False
        return held

    def _holds_file(self, handle: IO[bytes]) -> bool:
        try:
            path, mine = os.stat(self.lock_file), os.fstat(handle.fileno())
        except FileNotFoundError:
            return False
        return (path.st_dev, path.st_ino) == (mine.st_dev, mine.st_ino)

    def _drop_connection(self) -> None:
        assert self._conn is not None
        # Never back to the pool: its session may still hold the lock, or be dead.
        self._conn.invalidate()
        self._conn.close()
        self._conn = None

    def release(self) -> None:
        """Give the lead up. A process that dies gives it up too: its session or file closes."""
        with self._guard:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                    self._conn.commit()
                    self._conn.close()
                    self._conn = None
                except (StoreError, SQLAlchemyError):  # gone already: so is its lock
                    self._drop_connection()
            if self._handle is not None:
                self._handle.close()
                self._handle = None
