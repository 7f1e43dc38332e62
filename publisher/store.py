"""The publishing side of the store: articles with ids minted once, the scan cache, outputs.

With :mod:`publisher.outbox` (subscribers, issues, deliveries), the only code that speaks SQL.

SQLite (the embedded default) and PostgreSQL share one schema, kept by Alembic migrations.
All work of one publish happens inside :meth:`Store.transaction`, so a crash leaves the store
as it was before the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from publisher.database import create_store_engine, hold_exclusive, migrate
from publisher.errors import ConfigError
from publisher.models import Article, Problem
from publisher.records import (
    KNOWN_COLUMNS,
    Index,
    Known,
    Listed,
    Pending,
    SlugConflict,
    Upserted,
    article_hash,
    mint_uid,
    utc,
)
from publisher.schema import article_tags, articles, files, meta, outputs, problems
from publisher.text import slugify

__all__ = ["Listed", "SlugConflict", "Store", "Upserted", "mint_uid"]

INDEX_AFTER = 64  # look-ups per publish before the whole index is cheaper than more queries


class Store:
    """Articles, their tags, the scan cache and outputs, over one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._index: Index | None = None
        self._lookups = 0
        self._pending = Pending()

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
    def transaction(self, exclusive: str = "") -> Iterator[Store]:
        """One transaction for the calls made inside; rolled back on any exception.

        With ``exclusive`` (a lock name), it waits until no other process holds a transaction
        under that name, and holds it until the end: two publishes never build at once.
        """
        with self.engine.begin() as conn:
            if exclusive:
                hold_exclusive(conn, exclusive)
            self._conn = conn
            try:
                yield self
                self.flush()
            finally:
                self._conn, self._index, self._pending = None, None, Pending()
                self._lookups = 0

    @property
    def conn(self) -> Connection:
        assert self._conn is not None, "Store used outside Store.transaction()"
        return self._conn

    @property
    def flushed(self) -> Connection:
        """The connection, after every pending row was written: for reads that must see them."""
        self.flush()
        return self.conn

    def flush(self, batch: int = 500) -> None:
        """Write pending rows: new articles (ids back, in order) with their tags, files, outputs."""
        pending, self._pending = self._pending, Pending()
        conn = self.conn
        for start in range(0, len(pending.articles), batch):
            chunk = pending.articles[start : start + batch]
            # A plain executemany, then the ids by slug: ordered RETURNING costs SQLite one
            # statement per row.
            conn.execute(insert(articles), [row for row, _tags in chunk])
            slugs = [row["slug"] for row, _tags in chunk]
            query = select(articles.c.slug, articles.c.id).where(articles.c.slug.in_(slugs))
            found = {slug: key for slug, key in conn.execute(query)}
            ids = [found[slug] for slug in slugs]
            self._note_ids(slugs, ids)
            tags = [
                {"article_id": i, "tag": t}
                for i, (_row, ts) in zip(ids, chunk, strict=True)
                for t in ts
            ]
            if tags:
                conn.execute(insert(article_tags), tags)
        for table, rows in ((files, pending.files), (outputs, pending.outputs)):
            if rows:
                self._delete_where_in(table.c.path, list(rows))
                conn.execute(insert(table), list(rows.values()))

    def _note_ids(self, slugs: list[str], ids: Sequence[int]) -> None:
        """Give the index the ids the database just assigned."""
        if self._index is not None:
            for slug, key in zip(slugs, ids, strict=True):
                self._index.add(replace(self._index.by_slug[slug], id=key))

    def _delete_where_in(self, column: Any, values: list[str], batch: int = 500) -> None:
        for start in range(0, len(values), batch):
            self.conn.execute(delete(column.table).where(column.in_(values[start : start + batch])))

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
        rows = self.flushed.execute(select(files.c.path, files.c.mtime_ns, files.c.size))
        return {path: (mtime, size) for path, mtime, size in rows}

    def record_file(self, path: str, mtime_ns: int, size: int, problems: list[Problem]) -> None:
        """Remember a file as read, with the problems it had (reported again until it changes)."""
        found = json.dumps([[p.reason, p.hint, p.severity] for p in problems])
        row = {"path": path, "mtime_ns": mtime_ns, "size": size, "problems": found}
        self._pending.files[path] = row

    def forget_files(self, paths: Iterable[str]) -> None:
        """Drop vanished files from the cache."""
        self.flush()
        self._delete_where_in(files.c.path, list(paths))

    def file_problems(self) -> list[Problem]:
        """Problems of every cached file, as they were when it was last read."""
        query = select(files.c.path, files.c.problems).where(files.c.problems != "[]")
        rows = self.flushed.execute(query)
        return [Problem(path, *item) for path, found in rows for item in json.loads(found)]

    def save_problems(self, found: Iterable[Problem], now: datetime) -> None:
        """Keep the content problems of this publish, in place of the last one's."""
        rows = [
            {"path": p.path, "severity": p.severity, "field": p.field, "reason": p.reason}
            | {"hint": p.hint, "noticed": now}
            for p in found
        ]
        self.conn.execute(delete(problems))
        if rows:
            self.conn.execute(insert(problems), rows)

    def problems(self) -> list[Problem]:
        """The content problems the last publish found, on a connection of its own: what the
        status pages of any process show."""
        columns = (problems.c.path, problems.c.reason, problems.c.hint, problems.c.severity)
        query = select(*columns, problems.c.field).order_by(problems.c.path, problems.c.id)
        with self.engine.connect() as conn:
            return [Problem(*row) for row in conn.execute(query)]

    # -- articles ---------------------------------------------------------------------------

    def _known(self) -> Index:
        if self._index is None:
            rows = self.flushed.execute(select(*KNOWN_COLUMNS))
            self._index = Index([Known(*row) for row in rows])
        return self._index

    def _lookup(self, path: str, slug: str) -> Known | None:
        """By path, else by slug. A few look-ups query; many load the whole index once."""
        self._lookups += 1
        if self._index is None and self._lookups <= INDEX_AFTER:
            for condition in (articles.c.path == path, articles.c.slug == slug):
                row = self.flushed.execute(select(*KNOWN_COLUMNS).where(condition)).first()
                if row is not None:
                    return Known(*row)
            return None
        index = self._known()
        return index.by_path.get(path) or index.by_slug.get(slug)

    def _find(self, path: str, slug: str, live_paths: set[str]) -> Known | None:
        known = self._lookup(path, slug)
        if known is None or known.path == path:
            return known
        if known.present and known.path in live_paths:
            raise SlugConflict(f"slug {slug!r} is already used by {known.path}")
        return known

    def upsert_article(
        self, article: Article, base_url: str, now: datetime, live_paths: set[str]
    ) -> Upserted:
        """Store an article read from its file; its id is minted once and kept across edits.

        A file is the same article as before when it has the same path, or (after a rename)
        the same slug as an article whose file is gone. New articles are written in batches.

        :raises SlugConflict: when another live file already has the slug.
        """
        updated = article.updated and utc(article.updated)
        article = replace(article, published=utc(article.published), updated=updated)
        wanted = article.slug or slugify(article.title)
        known = self._find(article.source_path, wanted, live_paths)
        data = article.to_json()
        digest = article_hash(data)
        if known is None:
            uid = mint_uid(base_url, article.published, wanted)
            first = updated or article.published
            stored = replace(article, slug=wanted, uid=uid, updated=first)
            self._pending.articles.append((self._row(stored, digest, now, data), stored.tags))
            if self._index is not None:
                path, published = article.source_path, article.published
                self._index.add(Known(None, uid, wanted, path, digest, True, now, first, published))
            if len(self._pending.articles) >= 500:  # bound the rows held in memory
                self.flush()
            return Upserted("new", stored)
        slug = article.slug or known.slug
        if digest == known.content_hash and known.present:
            stored = replace(article, slug=slug, uid=known.uid, updated=known.updated)
            if known.path == article.source_path and slug == known.slug:
                return Upserted("unchanged", stored)
            self._rewrite(known, stored, digest, data)
            return Upserted("updated", stored, stored.tags, known.slug, known.published)
        when = updated if updated and updated > known.updated else now
        stored = replace(article, slug=slug, uid=known.uid, updated=max(when, article.published))
        old_tags = self._tags_of(known) if known.present else ()
        self._rewrite(known, stored, digest, data)
        return Upserted("updated", stored, old_tags, known.slug, known.published)

    def _row(
        self, article: Article, digest: str, first_seen: datetime, data: dict[str, Any]
    ) -> dict[str, Any]:
        """The row of ``article``; ``data`` is its JSON as read, before the store's fields."""
        assert article.updated is not None
        data = {
            **data,
            "uid": article.uid,
            "slug": article.slug,
            "updated": article.updated.isoformat(),
        }
        return {
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
            "data": json.dumps(data),
        }

    def _tags_of(self, known: Known) -> tuple[str, ...]:
        query = select(article_tags.c.tag).where(article_tags.c.article_id == known.id)
        return tuple(self.flushed.execute(query).scalars())

    def _rewrite(self, known: Known, article: Article, digest: str, data: dict[str, Any]) -> None:
        """Update an article that already has a row (rare next to new ones: not batched)."""
        conn = self.flushed
        if known.id is None:  # written by the flush just above
            known = self._known().by_slug[known.slug]
        assert known.id is not None and article.updated is not None
        values = self._row(article, digest, known.first_seen, data)
        conn.execute(update(articles).where(articles.c.id == known.id).values(**values))
        conn.execute(delete(article_tags).where(article_tags.c.article_id == known.id))
        if article.tags:
            rows = [{"article_id": known.id, "tag": tag} for tag in article.tags]
            conn.execute(insert(article_tags), rows)
        if self._index is not None:
            self._index.add(
            replace(known, slug=article.slug, path=article.source_path, content_hash=digest,
                    present=True, updated=article.updated, published=article.published)
        )  # fmt: skip

    def withdraw(self, paths: Iterable[str]) -> list[Article]:
        """Mark the articles of vanished files as not present; their ids stay reserved."""
        self.flush()
        self._index = None
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

    def _present(self, tags: Sequence[str]) -> Any:
        query = select(articles).where(articles.c.present)
        if tags:
            tagged = select(article_tags.c.article_id).where(article_tags.c.tag.in_(tags))
            query = query.where(articles.c.id.in_(tagged))
        return query.order_by(articles.c.published.desc(), articles.c.id.desc())

    def newest(self, limit: int, tags: Sequence[str] = ()) -> list[Article]:
        """The newest present articles, newest first; with ``tags``, those with any of them."""
        rows = self.flushed.execute(self._present(tags).limit(limit))
        return [Article.from_json(json.loads(row.data)) for row in rows]

    def each_article(self) -> Iterator[Article]:
        """Every present article, newest first, streamed rather than loaded at once."""
        result = self.flushed.execute(self._present(()), execution_options={"yield_per": 200})
        for row in result:
            yield Article.from_json(json.loads(row.data))

    def listing(
        self,
        tags: Sequence[str] = (),
        limit: int | None = None,
        between: tuple[datetime, datetime] | None = None,
    ) -> list[Listed]:
        """Title, author and date of present articles, newest first, for listing pages.

        ``between`` keeps those published in ``[start, end)``.
        """
        columns = (
            articles.c.uid,
            articles.c.slug,
            articles.c.title,
            articles.c.author,
            articles.c.published,
        )
        query = self._present(tags).with_only_columns(*columns)
        if between is not None:
            start, end = (utc(moment) for moment in between)
            query = query.where(articles.c.published >= start, articles.c.published < end)
        rows = self.flushed.execute(query.limit(limit) if limit else query)
        return [Listed(*row) for row in rows]

    def published_times(self) -> list[datetime]:
        """When each present article was published."""
        query = select(articles.c.published).where(articles.c.present)
        return list(self.flushed.execute(query).scalars())

    def tags(self) -> list[str]:
        """Every tag of a present article."""
        return list(
            self.flushed.execute(
                select(article_tags.c.tag).distinct().order_by(article_tags.c.tag)
            ).scalars()
        )

    def article_count(self) -> int:
        """How many articles are present."""
        query = select(func.count()).select_from(articles).where(articles.c.present)
        return int(self.flushed.execute(query).scalar_one())

    # -- outputs ----------------------------------------------------------------------------

    def output_hashes(self) -> dict[str, str]:
        """``path → sha256`` of every stored output."""
        rows = self.flushed.execute(select(outputs.c.path, outputs.c.sha256))
        return {path: digest for path, digest in rows}

    def put_output(
        self, path: str, media_type: str, body: bytes, sha256: str, now: datetime
    ) -> None:
        """Store an output's bytes so a web process sharing only the database can serve it."""
        row = {
            "path": path,
            "media_type": media_type,
            "sha256": sha256,
            "updated": now,
            "body": body,
        }
        self._pending.outputs[path] = row
        if len(self._pending.outputs) >= 200:  # bound the bytes held in memory
            self.flush()

    def get_output(self, path: str) -> tuple[str, bytes, str, datetime] | None:
        """``(media_type, body, sha256, updated)`` of one output."""
        return _read_output(self.flushed, path)

    def output(self, path: str) -> tuple[str, bytes, str, datetime] | None:
        """:meth:`get_output` on a connection of its own: for the web process, outside any
        publish."""
        with self.engine.connect() as conn:
            return _read_output(conn, path)

    def output_head(self, path: str) -> tuple[str, str, datetime] | None:
        """``(media_type, sha256, updated)`` of one output, without its bytes: enough to answer
        a conditional GET, and to know whether a cached body is still the current one."""
        query = select(outputs.c.media_type, outputs.c.sha256, outputs.c.updated)
        with self.engine.connect() as conn:
            row = conn.execute(query.where(outputs.c.path == path)).first()
        return None if row is None else (row[0], row[1], row[2])

    def delete_output(self, path: str) -> None:
        """Forget an output that no longer exists."""
        self.flushed.execute(delete(outputs).where(outputs.c.path == path))


def _read_output(conn: Connection, path: str) -> tuple[str, bytes, str, datetime] | None:
    query = select(outputs.c.media_type, outputs.c.body, outputs.c.sha256, outputs.c.updated)
    row = conn.execute(query.where(outputs.c.path == path)).first()
    return None if row is None else (row[0], bytes(row[1]), row[2], row[3])
