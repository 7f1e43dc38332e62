"""The only module that speaks SQL: articles with ids minted once, the scan cache, and outputs.

SQLite (the embedded default) and PostgreSQL share one schema, kept by Alembic migrations.
All work of one publish happens inside :meth:`Store.transaction`, so a crash leaves the store
as it was before the run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from publisher.errors import ConfigError
from publisher.models import Article, Problem
from publisher.schema import SCHEMA_REVISION, article_tags, articles, files, meta, outputs
from publisher.text import slugify

Status = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class Listed:
    """What a listing page shows of an article: no body."""

    uid: str
    slug: str
    title: str
    author: str
    published: datetime


@dataclass(frozen=True)
class Upserted:
    """The outcome of storing one article: its status, the stored article, tags before the edit."""

    status: Status
    article: Article
    old_tags: tuple[str, ...] = ()
    old_slug: str = ""


class SlugConflict(Exception):
    """Two files claim the same slug."""


def article_hash(article: Article) -> str:
    """A hash of everything that reaches an output (the file's path and store fields excluded)."""
    data = article.to_json()
    for key in ("source_path", "uid", "updated", "slug"):
        data.pop(key)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def mint_uid(base_url: str, published: datetime, slug: str) -> str:
    """A ``tag:`` URI (RFC 4151) that stays the article's id for good, whatever changes later."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{published.date().isoformat()}:{slug}"


def _utc(value: datetime) -> datetime:
    """Aware datetimes in UTC; a naive one is a bug upstream, never silently local time."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
    return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=10000",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys, and its folder."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(
            f"database.url: cannot parse {url!r}", hint="e.g. postgresql+psycopg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to :data:`SCHEMA_REVISION`; Alembic is imported only when it must run."""
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


class Store:
    """Articles, their tags, the scan cache and outputs, over one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate.

        :raises ConfigError: when the database cannot be reached or migrated.
        """
        engine = create_store_engine(url)
        try:
            migrate(engine)
        except SQLAlchemyError as exc:
            safe = make_url(url).render_as_string(hide_password=True)
            raise ConfigError(f"database {safe}: {getattr(exc, 'orig', None) or exc}") from exc
        return cls(engine)

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One transaction for the calls made inside; rolled back on any exception."""
        with self.engine.begin() as conn:
            self._conn = conn
            try:
                yield self
            finally:
                self._conn = None

    @property
    def conn(self) -> Connection:
        assert self._conn is not None, "Store used outside Store.transaction()"
        return self._conn

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value from the key/value table."""
        return self.conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Set a key in the key/value table."""
        if self.get_meta(key) is None:
            self.conn.execute(insert(meta).values(key=key, value=value))
        else:
            self.conn.execute(update(meta).where(meta.c.key == key).values(value=value))

    # -- the scan cache ---------------------------------------------------------------------

    def file_states(self) -> dict[str, tuple[int, int]]:
        """``path → (mtime_ns, size)`` of every file seen by the last publish."""
        rows = self.conn.execute(select(files.c.path, files.c.mtime_ns, files.c.size))
        return {path: (mtime, size) for path, mtime, size in rows}

    def record_file(self, path: str, mtime_ns: int, size: int, problems: list[Problem]) -> None:
        """Remember a file as read, with the problems it had (reported again until it changes)."""
        found = json.dumps([[p.reason, p.hint, p.severity] for p in problems])
        self.conn.execute(delete(files).where(files.c.path == path))
        self.conn.execute(
            insert(files).values(path=path, mtime_ns=mtime_ns, size=size, problems=found)
        )

    def forget_files(self, paths: Iterable[str]) -> None:
        """Drop vanished files from the cache."""
        for path in paths:
            self.conn.execute(delete(files).where(files.c.path == path))

    def file_problems(self) -> list[Problem]:
        """Problems of every cached file, as they were when it was last read."""
        rows = self.conn.execute(
            select(files.c.path, files.c.problems).where(files.c.problems != "[]")
        )
        return [Problem(path, *item) for path, found in rows for item in json.loads(found)]

    # -- articles ---------------------------------------------------------------------------

    def _find(self, path: str, slug: str, live_paths: set[str]) -> Any:
        row = self.conn.execute(select(articles).where(articles.c.path == path)).first()
        if row is not None:
            return row
        row = self.conn.execute(select(articles).where(articles.c.slug == slug)).first()
        if row is not None and row.present and row.path in live_paths:
            raise SlugConflict(f"slug {slug!r} is already used by {row.path}")
        return row

    def upsert_article(
        self, article: Article, base_url: str, now: datetime, live_paths: set[str]
    ) -> Upserted:
        """Store an article read from its file; its id is minted once and kept across edits.

        A file is the same article as before when it has the same path, or (after a rename)
        the same slug as an article whose file is gone.

        :raises SlugConflict: when another live file already has the slug.
        """
        article = replace(
            article,
            published=_utc(article.published),
            updated=article.updated and _utc(article.updated),
        )
        wanted = article.slug or slugify(article.title)
        row = self._find(article.source_path, wanted, live_paths)
        digest = article_hash(article)
        if row is None:
            stored = replace(
                article,
                slug=wanted,
                uid=mint_uid(base_url, article.published, wanted),
                updated=article.updated or article.published,
            )
            self._write_article(None, stored, digest, now)
            return Upserted("new", stored)
        old = Article.from_json(json.loads(row.data))
        slug = article.slug or row.slug
        if digest == row.content_hash and row.present:
            if row.path != article.source_path or slug != row.slug:
                stored = replace(old, source_path=article.source_path, slug=slug)
                self._write_article(row.id, stored, digest, row.first_seen)
                return Upserted("updated", stored, old.tags, row.slug)
            return Upserted("unchanged", old)
        updated = article.updated if article.updated and article.updated > row.updated else now
        stored = replace(article, slug=slug, uid=row.uid, updated=max(updated, article.published))
        self._write_article(row.id, stored, digest, row.first_seen)
        return Upserted("updated", stored, old.tags if row.present else (), row.slug)

    def _write_article(
        self, key: int | None, article: Article, digest: str, first_seen: datetime
    ) -> None:
        assert article.updated is not None
        values = {
            "uid": article.uid,
            "slug": article.slug,
            "path": article.source_path,
            "content_hash": digest,
            "title": article.title,
            "author": article.author,
            "first_seen": first_seen,
            "published": article.published,
            "updated": article.updated,
            "present": True,
            "data": json.dumps(article.to_json()),
        }
        if key is None:
            inserted = self.conn.execute(insert(articles).values(**values)).inserted_primary_key
            assert inserted is not None
            key = int(inserted[0])
        else:
            self.conn.execute(update(articles).where(articles.c.id == key).values(**values))
            self.conn.execute(delete(article_tags).where(article_tags.c.article_id == key))
        if article.tags:
            self.conn.execute(
                insert(article_tags), [{"article_id": key, "tag": t} for t in article.tags]
            )

    def withdraw(self, paths: Iterable[str]) -> list[Article]:
        """Mark the articles of vanished files as not present; their ids stay reserved."""
        gone = []
        for path in paths:
            row = self.conn.execute(
                select(articles).where(articles.c.path == path, articles.c.present)
            ).first()
            if row is None:
                continue
            gone.append(Article.from_json(json.loads(row.data)))
            self.conn.execute(
                update(articles).where(articles.c.id == row.id).values(present=False, path=None)
            )
            self.conn.execute(delete(article_tags).where(article_tags.c.article_id == row.id))
        return gone

    def _present(self, tag: str | None) -> Any:
        query = select(articles).where(articles.c.present)
        if tag is not None:
            query = query.join(article_tags, article_tags.c.article_id == articles.c.id).where(
                article_tags.c.tag == tag
            )
        return query.order_by(articles.c.published.desc(), articles.c.id.desc())

    def newest(self, limit: int, tag: str | None = None) -> list[Article]:
        """The newest present articles, newest first, optionally with one tag."""
        rows = self.conn.execute(self._present(tag).limit(limit))
        return [Article.from_json(json.loads(row.data)) for row in rows]

    def each_article(self) -> Iterator[Article]:
        """Every present article, newest first, streamed rather than loaded at once."""
        result = self.conn.execute(self._present(None), execution_options={"yield_per": 200})
        for row in result:
            yield Article.from_json(json.loads(row.data))

    def listing(self, tag: str | None = None, limit: int | None = None) -> list[Listed]:
        """Title, author and date of present articles, newest first, for listing pages."""
        columns = (
            articles.c.uid,
            articles.c.slug,
            articles.c.title,
            articles.c.author,
            articles.c.published,
        )
        query = self._present(tag).with_only_columns(*columns)
        rows = self.conn.execute(query.limit(limit) if limit else query)
        return [Listed(*row) for row in rows]

    def tags(self) -> list[str]:
        """Every tag of a present article."""
        return list(
            self.conn.execute(
                select(article_tags.c.tag).distinct().order_by(article_tags.c.tag)
            ).scalars()
        )

    def article_count(self) -> int:
        """How many articles are present."""
        return len(self.conn.execute(select(articles.c.id).where(articles.c.present)).all())

    # -- outputs ----------------------------------------------------------------------------

    def output_hashes(self) -> dict[str, str]:
        """``path → sha256`` of every stored output."""
        rows = self.conn.execute(select(outputs.c.path, outputs.c.sha256))
        return {path: digest for path, digest in rows}

    def put_output(
        self, path: str, media_type: str, body: bytes, sha256: str, now: datetime
    ) -> None:
        """Store an output's bytes so a web process sharing only the database can serve it."""
        self.conn.execute(delete(outputs).where(outputs.c.path == path))
        self.conn.execute(
            insert(outputs).values(
                path=path, media_type=media_type, sha256=sha256, updated=now, body=body
            )
        )

    def get_output(self, path: str) -> tuple[str, bytes, str, datetime] | None:
        """``(media_type, body, sha256, updated)`` of one output."""
        query = select(outputs.c.media_type, outputs.c.body, outputs.c.sha256, outputs.c.updated)
        row = self.conn.execute(query.where(outputs.c.path == path)).first()
        return None if row is None else (row[0], bytes(row[1]), row[2], row[3])

    def delete_output(self, path: str) -> None:
        """Forget an output that no longer exists."""
        self.conn.execute(delete(outputs).where(outputs.c.path == path))
