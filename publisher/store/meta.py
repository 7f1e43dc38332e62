"""What the processes sharing a store tell each other through it, besides content and mail.

The key/value ``meta`` table holds the signature of the last build (see
:class:`publisher.store.bookkeeping.Builds`), when the worker last ran each job, and the key
form tokens are signed with; the ``tasks`` table holds the health of every supervised task of
every service process, its heartbeat. What status pages read of it is in
:mod:`publisher.store.status`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from publisher.store.records import utc
from publisher.store.schema import meta, tasks

RUN = "run:"  # the prefix of the meta keys that say when a job last ran
FORM_KEY = "form_key"  # the meta row holding the key that signs form tokens
TASKS_KEPT = timedelta(days=1)  # rows of a process gone this long are dropped


class TaskHealth(NamedTuple):
    """The health of one supervised task of one service process (a row of ``tasks``)."""

    process: str
    task: str
    state: str  # ok, failing, unhealthy or stopped
    failures: int  # in a row
    last_error: str
    changed: datetime  # when the state last changed
    seen: datetime  # the process's last heartbeat


def read_meta(conn: Connection, key: str) -> str | None:
    """A value of the key/value table."""
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()


def write_meta(conn: Connection, key: str, value: str) -> None:
    """Set a key of the key/value table."""
    done = conn.execute(update(meta).where(meta.c.key == key).values(value=value))
    if not done.rowcount:
        conn.execute(insert(meta).values(key=key, value=value))


def form_key(engine: Engine) -> bytes:
    """The key form tokens are signed with: made once, at random, and kept in the ``meta``
    table so every web process (on any machine) signs and checks with the same one. Two
    processes starting at once both try to insert; the first one's key is everyone's.
    """
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    made = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(dialect.insert(meta).values(key=FORM_KEY, value=made).on_conflict_do_nothing())
        found = read_meta(conn, FORM_KEY)
    assert found is not None  # inserted just now, or by the process that was first
    return found.encode()


class Processes:
    """What each service process reports about itself, over the store's engine: when the
    worker ran a job, and its tasks' health. Each call is one short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def note_run(self, job: str, when: datetime) -> None:
        """Remember when the worker last ran ``job``, for the admin API of any web process."""
        with self.engine.begin() as conn:
            write_meta(conn, f"{RUN}{job}", utc(when).isoformat())

    def save_tasks(self, health: Sequence[TaskHealth]) -> None:
        """Store the health of one process's tasks (its heartbeat), and drop the rows of
        processes not seen for :data:`TASKS_KEPT`."""
        with self.engine.begin() as conn:
            for row in health:
                values = row._asdict()
                key = (tasks.c.process == row.process) & (tasks.c.task == row.task)
                if not conn.execute(update(tasks).where(key).values(values)).rowcount:
                    conn.execute(insert(tasks).values(values))
            if health:
                oldest = utc(health[0].seen - TASKS_KEPT)
                conn.execute(delete(tasks).where(tasks.c.seen < oldest))

    def forget_tasks(self, process: str) -> None:
        """A process that stops cleanly takes its rows with it."""
        with self.engine.begin() as conn:
            conn.execute(delete(tasks).where(tasks.c.process == process))
