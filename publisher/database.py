"""Engines and migrations: the plumbing under :mod:`publisher.store`.

SQLite gets WAL, a busy timeout and foreign keys; Alembic runs only when the schema is behind,
so a publish that finds it current pays no import of Alembic.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from publisher.errors import ConfigError, StoreError
from publisher.schema import SCHEMA_REVISION

SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _as_store_error(context: ExceptionContext) -> None:
    """An environment fault (server gone, disk full, locked too long) becomes a
    :class:`StoreError` of one line, naming the store but never the statement or its
    parameters (they may hold subscribers' addresses). Programming errors pass through."""
    error = context.sqlalchemy_exception
    if not (context.is_disconnect or isinstance(error, OperationalError | InterfaceError)):
        return
    where = context.engine.url.render_as_string(hide_password=True) if context.engine else "?"
    reason = " ".join(str(context.original_exception).split()) or type(error).__name__
    raise StoreError(f"database {where}: {reason}") from error


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
    event.listen(engine, "handle_error", _as_store_error)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to :data:`SCHEMA_REVISION`."""
    with engine.connect() as conn:
        if inspect(conn).has_table("alembic_version"):
            current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            if current == SCHEMA_REVISION:
                return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


LOCK_WAIT_MS = 600_000  # a full rebuild of a large site takes a while: wait for it


def hold_exclusive(conn: Connection, name: str) -> None:
    """Take the lock ``name`` for the rest of ``conn``'s transaction, waiting for it.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the database's write lock, taken at
    once (``BEGIN IMMEDIATE``) instead of at the first write, so the transaction that started
    first builds first; it must be the transaction's first statement.
    """
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(name.encode())
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {LOCK_WAIT_MS}")
        conn.exec_driver_sql("BEGIN IMMEDIATE")
