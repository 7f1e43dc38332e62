"""What one publish keeps for the next, besides articles and outputs.

:class:`Files` is the scan cache: the size and mtime of every content file read, with the
problems it had, so an unchanged file is neither read again nor forgotten in the report.
:class:`Builds` holds what keeps a publish that dies half-way consistent — the *backlog*
(articles stored but not yet built, written in the same transaction as the articles) and the
*export journal* (paths under ``public/`` about to change) — and what the last finished build
was made with (its signature) and found (its content problems).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from publisher.models import Problem
from publisher.store.meta import read_meta, write_meta
from publisher.store.records import Backlog, BacklogKind
from publisher.store.schema import export_journal, files, pending_build, problems
from publisher.store.writes import ByPath, Writes, delete_where_in, insert_missing

SIGNATURE = "build_signature"  # the meta row: what the last finished build was made with
PUBLISHES = "publishes"  # the meta row: the last publishes, newest first (the console's list)
KEPT_PUBLISHES = 20


class Files:
    """The scan cache, read and written through the store's ``writes``."""

    def __init__(self, writes: Writes) -> None:
        self.writes = writes
        self.held = ByPath(files)
        self.writes.hold(self.held)

    def states(self) -> dict[str, tuple[int, int]]:
        """``path → (mtime_ns, size)`` of every file seen by the last publish."""
        with self.writes.reading() as conn:
            rows = conn.execute(select(files.c.path, files.c.mtime_ns, files.c.size))
            return {path: (mtime, size) for path, mtime, size in rows}

    def record(self, path: str, mtime_ns: int, size: int, found: list[Problem]) -> None:
        """Remember a file as read, with the problems it had (reported again until it changes)."""
        kept = json.dumps([[p.reason, p.hint, p.severity, p.field] for p in found])
        self.held.rows[path] = {"path": path, "mtime_ns": mtime_ns, "size": size, "problems": kept}

    def forget(self, paths: Iterable[str]) -> None:
        """Drop vanished files from the cache."""
        self.writes.flush()
        delete_where_in(self.writes.conn, files.c.path, list(paths))

    def problems(self) -> list[Problem]:
        """Problems of every cached file, as they were when it was last read."""
        query = select(files.c.path, files.c.problems).where(files.c.problems != "[]")
        with self.writes.reading() as conn:
            rows = conn.execute(query).all()
        return [Problem(path, *item) for path, found in rows for item in json.loads(found)]


class _Noted:
    """Backlog entries noted in a transaction, written at its end (the same entry twice is one)."""

    def __init__(self) -> None:
        self.keys: set[tuple[str, str]] = set()

    def write(self, conn: Connection) -> None:
        keys, self.keys = self.keys, set()
        insert_missing(conn, pending_build, [{"kind": k, "key": key} for k, key in sorted(keys)])

    def drop(self) -> None:
        self.keys = set()


class Builds:
    """The backlog, the export journal, and the last build's signature and problems, read and
    written through the store's ``writes``."""

    def __init__(self, writes: Writes) -> None:
        self.writes = writes
        self.noted = _Noted()
        self.writes.hold(self.noted)

    def signature(self) -> str | None:
        """What the last finished build was made with (code, templates, profiles, settings)."""
        with self.writes.reading() as conn:
            return read_meta(conn, SIGNATURE)

    def set_signature(self, signature: str) -> None:
        """Say, in this transaction, what the build now finished was made with."""
        write_meta(self.writes.conn, SIGNATURE, signature)

    def note_backlog(self, kind: BacklogKind, keys: Iterable[str | int]) -> None:
        """Remember, in this transaction, work for the build: it stays until it is done."""
        self.noted.keys.update((kind, str(key)) for key in keys)

    def backlog(self) -> Backlog:
        """Everything stored and not built yet, by this publish or one that died."""
        found = Backlog()
        with self.writes.reading() as conn:
            for kind, key in conn.execute(select(pending_build.c.kind, pending_build.c.key)):
                found.add(kind, key)
        return found

    def clear_backlog(self) -> None:
        """The build is done (the publish lock is held: nobody added to the backlog since)."""
        self.writes.conn.execute(delete(pending_build))

    def journal(self, paths: Iterable[str]) -> None:
        """Note paths under ``public/`` about to be written or removed (commit before that)."""
        rows = [{"path": path} for path in sorted(set(paths))]
        insert_missing(self.writes.conn, export_journal, rows)

    def journaled(self) -> list[str]:
        """Paths a publish was changing when it stopped; empty after a finished one."""
        with self.writes.reading() as conn:
            return sorted(conn.execute(select(export_journal.c.path)).scalars())

    def clear_journal(self) -> None:
        """``public/`` agrees with the outputs table again."""
        self.writes.conn.execute(delete(export_journal))

    def save_problems(self, found: Iterable[Problem], now: datetime) -> None:
        """Keep the content problems of this publish, in place of the last one's: what the
        status pages of any process sharing the store show (:mod:`publisher.store.status`)."""
        rows = [
            {"path": p.path, "severity": p.severity, "field": p.field, "reason": p.reason}
            | {"hint": p.hint, "noticed": now}
            for p in found
        ]
        conn = self.writes.conn
        conn.execute(delete(problems))
        if rows:
            conn.execute(insert(problems), rows)

    def note_publish(self, record: dict[str, Any]) -> None:
        """Add one finished publish (when, how long, what changed) to the last ones kept, in
        this transaction: the publish lock is held, so no other publish writes the row."""
        conn = self.writes.conn
        kept = read_meta(conn, PUBLISHES)
        found = [record, *(json.loads(kept) if kept else [])][:KEPT_PUBLISHES]
        write_meta(conn, PUBLISHES, json.dumps(found))
