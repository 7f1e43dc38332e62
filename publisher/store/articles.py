"""The publishing side of the store: articles with ids minted once, the scan cache, outputs,
and what a publish has stored but not built yet.

With :mod:`publisher.store.outbox` (subscribers, issues, deliveries), the only code that speaks SQL.

SQLite (the embedded default) and PostgreSQL share one schema, kept by Alembic migrations.
Writes happen in short transactions (:meth:`Store.transaction`), one chunk of files or outputs
each, never while files are read, pages rendered or outputs gated: a reader's unsubscribe
waits for one chunk at most, not for a whole publish (PITFALLS 67). What keeps a publish that
dies half-way consistent is in the store too: the *backlog* (articles stored but not yet
built, written in the same transaction as the articles) and the *export journal* (paths under
``public/`` about to change).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from publisher.errors import ConfigError
from publisher.models import Article, Listed, Problem
from publisher.store.engine import create_store_engine, migrate
from publisher.store.records import (
    KNOWN_COLUMNS,
    Backlog,
    BacklogKind,
    Index,
    Known,
    Pending,
    SlugConflict,
    Upserted,
    article_hash,
    free_slug,
    free_uid,
    mint_uid,
    stored_as,
    utc,
)
from publisher.store.schema import (
    article_tags,
    articles,
    export_journal,
    files,
    meta,
    outputs,
    pending_build,
    problems,
)
from publisher.text import slugify

__all__ = ["SlugConflict", "Store", "Upserted", "mint_uid"]

INDEX_AFTER = 64  # look-ups per publish before the whole index is cheaper than more queries
BATCH = 500


class Store:
    """Articles, their tags, the scan cache, outputs and the backlog, over one engine.

    Reads outside a transaction use a connection of their own; writes need
    :meth:`transaction`. The index of known articles lives as long as the object (one
    publish), so chunked transactions do not reload it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._index: Index | None = None
        self._lookups = 0
        self._pending = Pending()

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and migrate.

        :raises ConfigError: when the database cannot be migrated.
        :raises StoreError: when it cannot be reached.
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
        """One short write transaction for the calls made inside; rolled back on any exception
        (and then the index, which may know rows that were rolled back, is forgotten)."""
        assert self._conn is None, "store transactions do not nest"
        try:
            with self.engine.begin() as conn:
                self._conn = conn
                yield self
                self.flush()
        except BaseException:
            self._index = None
            raise
        finally:
            self._conn, self._pending = None, Pending()

    @property
    def conn(self) -> Connection:
        """The connection of the transaction under way."""
        assert self._conn is not None, "a write outside Store.transaction()"
        return self._conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """The transaction's connection (after its pending rows are written, so reads see
        them), or a connection of its own outside one."""
        if self._conn is not None:
            self.flush()
            yield self._conn
            return
        with self.engine.connect() as conn:
            yield conn

    def flush(self) -> None:
        """Write pending rows: new articles (ids back, in order) with their tags, files,
        outputs and backlog entries."""
        pending, self._pending = self._pending, Pending()
        conn = self.conn
        for start in range(0, len(pending.articles), BATCH):
            chunk = pending.articles[start : start + BATCH]
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
        backlog = [{"kind": kind, "key": key} for kind, key in sorted(pending.backlog)]
        self._insert_missing(pending_build, backlog)

    def _note_ids(self, slugs: list[str], ids: Sequence[int]) -> None:
        """Give the index the ids the database just assigned."""
        if self._index is not None:
            for slug, key in zip(slugs, ids, strict=True):
                self._index.add(replace(self._index.by_slug[slug], id=key))

    def _delete_where_in(self, column: Any, values: list[str]) -> None:
        for start in range(0, len(values), BATCH):
            self.conn.execute(delete(column.table).where(column.in_(values[start : start + BATCH])))

    def _insert_missing(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows whose key is not there yet (the same entry twice is one entry)."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        for start in range(0, len(rows), BATCH):
            statement = dialect.insert(table).on_conflict_do_nothing()
            self.conn.execute(statement, rows[start : start + BATCH])

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value from the key/value table."""
        with self._reading() as conn:
            return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Set a key in the key/value table."""
        done = self.conn.execute(update(meta).where(meta.c.key == key).values(value=value))
        if not done.rowcount:
            self.conn.execute(insert(meta).values(key=key, value=value))

    # -- the scan cache and content problems ------------------------------------------------

    def file_states(self) -> dict[str, tuple[int, int]]:
        """``path → (mtime_ns, size)`` of every file seen by the last publish."""
        with self._reading() as conn:
            rows = conn.execute(select(files.c.path, files.c.mtime_ns, files.c.size))
            return {path: (mtime, size) for path, mtime, size in rows}

    def record_file(self, path: str, mtime_ns: int, size: int, found: list[Problem]) -> None:
        """Remember a file as read, with the problems it had (reported again until it changes)."""
        kept = json.dumps([[p.reason, p.hint, p.severity, p.field] for p in found])
        row = {"path": path, "mtime_ns": mtime_ns, "size": size, "problems": kept}
        self._pending.files[path] = row

    def forget_files(self, paths: Iterable[str]) -> None:
        """Drop vanished files from the cache."""
        self.flush()
        self._delete_where_in(files.c.path, list(paths))

    def file_problems(self) -> list[Problem]:
        """Problems of every cached file, as they were when it was last read."""
        query = select(files.c.path, files.c.problems).where(files.c.problems != "[]")
        with self._reading() as conn:
            rows = conn.execute(query).all()
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
        """The content problems the last publish found: what the status pages of any process
        sharing the store show."""
        columns = (problems.c.path, problems.c.reason, problems.c.hint, problems.c.severity)
        query = select(*columns, problems.c.field).order_by(problems.c.path, problems.c.id)
        with self._reading() as conn:
            return [Problem(*row) for row in conn.execute(query)]

    # -- the backlog and the export journal -------------------------------------------------

    def note_backlog(self, kind: BacklogKind, keys: Iterable[str | int]) -> None:
        """Remember, in this transaction, work for the build: it stays until it is done."""
        self._pending.backlog.update((kind, str(key)) for key in keys)

    def backlog(self) -> Backlog:
        """Everything stored and not built yet, by this publish or one that died."""
        found = Backlog()
        with self._reading() as conn:
            for kind, key in conn.execute(select(pending_build.c.kind, pending_build.c.key)):
                found.add(kind, key)
        return found

    def journal(self, paths: Iterable[str]) -> None:
        """Note paths under ``public/`` about to be written or removed (commit before that)."""
        self._insert_missing(export_journal, [{"path": path} for path in sorted(set(paths))])

    def journaled(self) -> list[str]:
        """Paths a publish was changing when it stopped; empty after a finished one."""
        with self._reading() as conn:
            return sorted(conn.execute(select(export_journal.c.path)).scalars())

    def clear_backlog(self) -> None:
        """The build is done (the publish lock is held: nobody added to the backlog since)."""
        self.conn.execute(delete(pending_build))

    def clear_journal(self) -> None:
        """``public/`` agrees with the outputs table again."""
        self.conn.execute(delete(export_journal))

    # -- articles ---------------------------------------------------------------------------

    def _known(self) -> Index:
        if self._index is None:
            with self._reading() as conn:
                self._index = Index([Known(*row) for row in conn.execute(select(*KNOWN_COLUMNS))])
        return self._index

    def _lookup(self) -> Index | _Queries:
        """A few look-ups query the database; many load the whole index once."""
        self._lookups += 1
        if self._index is None and self._lookups <= INDEX_AFTER:
            self.flush()
            return _Queries(self.conn)
        return self._known()

    def upsert_article(
        self, article: Article, base_url: str, now: datetime, live_paths: set[str]
    ) -> Upserted:
        """Store an article read from its file; its id is minted once and kept across edits.

        Which stored article a file is, is :func:`publisher.store.records.stored_as`: the same path,
        the same ``id:``, or (a rename) the same content as a vanished one. New articles are
        written in batches; a slug a vanished article had goes to a new one as ``slug-2``.

        :raises SlugConflict: when another live file already has the slug or the id.
        """
        updated = article.updated and utc(article.updated)
        article = replace(article, published=utc(article.published), updated=updated)
        data = article.to_json()
        digest = article_hash(data)
        lookup = self._lookup()
        known = stored_as(lookup, article, digest, live_paths)
        if known is None:
            return self._insert(lookup, article, digest, (base_url, now, live_paths), data)
        # An empty slug (none in the front matter) keeps the one the article was first given.
        slug = free_slug(lookup, article.slug or known.slug, known.uid, live_paths)
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

    def _insert(
        self,
        lookup: Index | _Queries,
        article: Article,
        digest: str,
        run: tuple[str, datetime, set[str]],
        data: dict[str, Any],
    ) -> Upserted:
        """A new article: a slug nobody has, and an id minted (or declared) for good."""
        base_url, now, live_paths = run
        slug = free_slug(lookup, article.slug or slugify(article.title), "", live_paths)
        uid = article.uid or free_uid(lookup, mint_uid(base_url, article.published, slug))
        first = article.updated or article.published
        stored = replace(article, slug=slug, uid=uid, updated=first)
        self._pending.articles.append((self._row(stored, digest, now, data), stored.tags))
        if self._index is not None:
            path, published = article.source_path, article.published
            self._index.add(Known(None, uid, slug, path, digest, True, now, first, published))
        if len(self._pending.articles) >= BATCH:  # bound the rows held in memory
            self.flush()
        return Upserted("new", stored)

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
        with self._reading() as conn:
            return tuple(conn.execute(query).scalars())

    def _rewrite(self, known: Known, article: Article, digest: str, data: dict[str, Any]) -> None:
        """Update an article that already has a row (rare next to new ones: not batched)."""
        self.flush()
        if known.id is None:  # written by the flush just above
            known = self._known().by_uid[known.uid]
        assert known.id is not None and article.updated is not None
        values = self._row(article, digest, known.first_seen, data)
        conn = self.conn
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
        with self._reading() as conn:
            rows = conn.execute(self._present(tags).limit(limit)).all()
        return [Article.from_json(json.loads(row.data)) for row in rows]

    def each_article(self, uids: Iterable[str] | None = None) -> Iterator[Article]:
        """Every present article (or those of ``uids``), newest first, streamed rather than
        loaded at once."""
        query = self._present(())
        if uids is None:
            with self._reading() as conn:
                result = conn.execute(query, execution_options={"yield_per": 200})
                for row in result:
                    yield Article.from_json(json.loads(row.data))
            return
        wanted = sorted(set(uids))
        for start in range(0, len(wanted), BATCH):
            chunk = query.where(articles.c.uid.in_(wanted[start : start + BATCH]))
            with self._reading() as conn:
                rows = conn.execute(chunk).all()
            yield from (Article.from_json(json.loads(row.data)) for row in rows)

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
        with self._reading() as conn:
            rows = conn.execute(query.limit(limit) if limit else query)
            return [Listed(*row) for row in rows]

    def slugs(self) -> list[str]:
        """The slug of every present article."""
        query = select(articles.c.slug).where(articles.c.present)
        with self._reading() as conn:
            return list(conn.execute(query).scalars())

    def published_times(self) -> list[datetime]:
        """When each present article was published."""
        query = select(articles.c.published).where(articles.c.present)
        with self._reading() as conn:
            return list(conn.execute(query).scalars())

    def tags(self) -> list[str]:
        """Every tag of a present article."""
        query = select(article_tags.c.tag).distinct().order_by(article_tags.c.tag)
        with self._reading() as conn:
            return list(conn.execute(query).scalars())

    def article_count(self) -> int:
        """How many articles are present."""
        query = select(func.count()).select_from(articles).where(articles.c.present)
        with self._reading() as conn:
            return int(conn.execute(query).scalar_one())

    # -- outputs ----------------------------------------------------------------------------

    def output_hashes(self) -> dict[str, str]:
        """``path → sha256`` of every stored output."""
        with self._reading() as conn:
            rows = conn.execute(select(outputs.c.path, outputs.c.sha256))
            return {path: digest for path, digest in rows}

    def put_output(
        self, path: str, media_type: str, body: bytes, sha256: str, now: datetime
    ) -> None:
        """Store an output's bytes (in this transaction) so a web process sharing only the
        database can serve it."""
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
        with self._reading() as conn:
            return _read_output(conn, path)

    def output(self, path: str) -> tuple[str, bytes, str, datetime] | None:
        """:meth:`get_output` on a connection of its own: for the web process."""
        with self.engine.connect() as conn:
            return _read_output(conn, path)

    def output_head(self, path: str) -> tuple[str, str, datetime] | None:
        """``(media_type, sha256, updated)`` of one output, without its bytes: enough to answer
        a conditional GET, and to know whether a cached body is still the current one."""
        query = select(outputs.c.media_type, outputs.c.sha256, outputs.c.updated)
        with self.engine.connect() as conn:
            row = conn.execute(query.where(outputs.c.path == path)).first()
        return None if row is None else (row[0], row[1], row[2])

    def delete_outputs(self, paths: Iterable[str]) -> None:
        """Forget outputs that no longer exist."""
        self.flush()
        self._delete_where_in(outputs.c.path, list(paths))


class _Queries:
    """A :class:`publisher.store.records.Lookup` that asks the database: for a publish of a few
    files, cheaper than loading the index of every article."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _one(self, condition: Any) -> Known | None:
        row = self.conn.execute(select(*KNOWN_COLUMNS).where(condition)).first()
        return None if row is None else Known(*row)

    def path(self, path: str) -> Known | None:
        return self._one(articles.c.path == path)

    def uid(self, uid: str) -> Known | None:
        return self._one(articles.c.uid == uid)

    def slug(self, slug: str) -> Known | None:
        return self._one(articles.c.slug == slug)

    def content(self, digest: str) -> list[Known]:
        query = select(*KNOWN_COLUMNS).where(articles.c.content_hash == digest)
        return [Known(*row) for row in self.conn.execute(query.order_by(articles.c.id))]


def _read_output(conn: Connection, path: str) -> tuple[str, bytes, str, datetime] | None:
    query = select(outputs.c.media_type, outputs.c.body, outputs.c.sha256, outputs.c.updated)
    row = conn.execute(query.where(outputs.c.path == path)).first()
    return None if row is None else (row[0], bytes(row[1]), row[2], row[3])
