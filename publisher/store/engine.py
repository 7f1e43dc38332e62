"""Engines and migrations: the plumbing under every room of the store.

SQLite gets WAL, a busy timeout and foreign keys; Alembic runs only when the schema is behind,
so a publish that finds it current pays no import of Alembic. :func:`open_engine` is what a
process starts with: an engine on a schema it can use, and nothing else held.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from publisher.errors import ConfigError, StoreError
from publisher.store.schema import SCHEMA_REVISION

BUSY_TIMEOUT_MS = 10_000
SQLITE_PRAGMAS = ("synchronous=NORMAL", "foreign_keys=ON")  # after the busy timeout and WAL
WAL_RETRY_SECONDS = 0.02


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """The busy timeout first: switching a fresh file to WAL waits for a migration under way in
    another process, and before it is set that wait is pysqlite's 5 s, not the store's 10 s."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _switch_to_wal(cursor)
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the file in WAL mode, retrying while another connection holds its lock.

    Two connections switching a fresh file at once both hold a shared lock and want it
    exclusive; SQLite answers one of them "database is locked" at once, without consulting the
    busy timeout (PITFALLS 58), so processes starting together would fail one start in twenty.
    The switch is retried for as long as the busy timeout would have waited.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_SECONDS)


def _store_errors(where: str) -> Callable[[ExceptionContext], None]:
    """A ``handle_error`` hook: an environment fault (server gone, disk full, locked too long)
    becomes a :class:`StoreError` of one line, naming the store (``where``: its URL without
    the password) but never the statement or its parameters (they may hold subscribers'
    addresses). Programming errors pass through."""

    def as_store_error(context: ExceptionContext) -> None:
        error = context.sqlalchemy_exception
        if not (context.is_disconnect or isinstance(error, OperationalError | InterfaceError)):
            return
        reason = " ".join(str(context.original_exception).split()) or type(error).__name__
        raise StoreError(f"database {where}: {reason}") from error

    return as_store_error


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite, its folder is created and its pragmas set.

    :raises ConfigError: when the URL cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        hint = "e.g. postgresql+psycopg://user@host/db or sqlite:///var/publisher.db"
        raise ConfigError(f"database.url: cannot parse {url!r}", hint=hint) from exc
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"database folder {folder}: {exc.strerror}") from exc
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
    safe = parsed.render_as_string(hide_password=True)
    event.listen(engine, "handle_error", _store_errors(safe))
    return engine


MIGRATE_WAIT = 300.0  # a large store's migration takes a while: wait for the one under way


def _current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found: str | None = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return found


def migrate(engine: Engine) -> None:
    """Bring the schema to :data:`SCHEMA_REVISION`, under a lock, so processes starting
    together on a fresh database migrate it once (the others wait, then find it current)."""
    if _current(engine) == SCHEMA_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    from publisher.store.locks import held

    with held(engine, "migrate", MIGRATE_WAIT):
        if _current(engine) == SCHEMA_REVISION:
            return
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def open_engine(url: str) -> Engine:
    """An engine for ``url`` on a schema brought up to date.

    :raises ConfigError: when the URL cannot be parsed or the database cannot be migrated.
    :raises StoreError: when it cannot be reached.
    """
    engine = create_store_engine(url)
    try:
        migrate(engine)
    except SQLAlchemyError as exc:
        safe = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"database {safe}: {getattr(exc, 'orig', None) or exc}") from exc
    return engine
