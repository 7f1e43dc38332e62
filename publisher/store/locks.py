"""Named locks shared by every process using one store, that are *not* the database's locks.

A publish must never build at the same time as another, and two processes starting on a fresh
database must not both migrate it; but neither may hold a write transaction while it works, or
every reader's unsubscribe would wait for it (PITFALLS 67). So the lock lives beside the data:
a PostgreSQL session advisory lock on a connection of its own (no transaction stays open), or
with SQLite an exclusive ``flock`` on a file next to the database file.
"""

from __future__ import annotations

import fcntl
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from publisher.errors import PublisherError

POLL_SECONDS = 0.1


class LockTimeout(PublisherError):
    """Another process held a lock for longer than this one would wait."""

    hint = "another publish (or start-up) is still running; try again when it has finished"


def lock_file(engine: Engine, name: str) -> Path | None:
    """The file whose ``flock`` is the lock ``name`` of a SQLite store (``None`` in memory)."""
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.{name}.lock")


@contextmanager
def held(engine: Engine, name: str, wait: float) -> Iterator[None]:
    """Hold the lock ``name`` for the body, waiting at most ``wait`` seconds for it.

    :raises LockTimeout: when another holder kept it longer than ``wait``.
    """
    deadline = time.monotonic() + wait
    if engine.dialect.name == "postgresql":
        with _advisory(engine, name, deadline):
            yield
        return
    path = lock_file(engine, name)
    if path is None:
        yield
        return
    with _flock(path, name, deadline):
        yield


def _waited_too_long(name: str, deadline: float) -> None:
    if time.monotonic() >= deadline:
        raise LockTimeout(f"the {name} lock is held by another process; gave up waiting")
    time.sleep(POLL_SECONDS)


@contextmanager
def _advisory(engine: Engine, name: str, deadline: float) -> Iterator[None]:
    key = zlib.crc32(f"publisher.{name}".encode())
    with engine.connect() as conn:
        while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
            conn.commit()
            _waited_too_long(name, deadline)
        conn.commit()  # nothing stays open but the session, and its lock
        try:
            yield
        finally:
            # Closing returns the connection to the pool with its session (and lock) alive.
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()


@contextmanager
def _flock(path: Path, name: str, deadline: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                _waited_too_long(name, deadline)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
