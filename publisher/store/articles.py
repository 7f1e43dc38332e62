"""Articles and their tags: ids minted once and kept across edits and renames, the articles of
vanished files withdrawn (their ids and slugs reserved), and what pages and feeds list.

Which stored article a file is, is decided by :mod:`publisher.store.records` over a
:class:`~publisher.store.records.Lookup`: for a publish of a few files, a query per question;
past :data:`INDEX_AFTER` questions, the index of every stored article, loaded once. New articles
are held back and written in batches in the store's transaction
(:class:`publisher.store.writes.Writes`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, func, insert, select, update

from publisher.models import Article, Listed
from publisher.store.records import (
    KNOWN_COLUMNS,
    Index,
    Known,
    Upserted,
    article_hash,
    free_slug,
    free_uid,
    mint_uid,
    stored_as,
    utc,
)
from publisher.store.schema import article_tags, articles
from publisher.store.writes import BATCH, Writes
from publisher.text import slugify, summary_of

INDEX_AFTER = 64  # look-ups per publish before the whole index is cheaper than more queries
Row = tuple[dict[str, Any], tuple[str, ...]]  # a new article's row, and its tags


class Articles:
    """Articles, read and written through the store's ``writes``.

    The index of known articles lives as long as the object (one publish), so chunked
    transactions do not reload it.
    """

    def __init__(self, writes: Writes) -> None:
        self.writes = writes
        self._new: list[Row] = []
        self._index: Index | None = None
        self._lookups = 0
        self.writes.hold(self)

    # -- what is held back (:class:`publisher.store.writes.Held`) ---------------------------

    def write(self, conn: Connection) -> None:
        """Write the new articles held back (their ids back, in order) with their tags."""
        new, self._new = self._new, []
        for start in range(0, len(new), BATCH):
            chunk = new[start : start + BATCH]
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

    def drop(self) -> None:
        """Forget the new articles of a transaction rolled back, and the index, which may know
        rows that were rolled back."""
        self._new, self._index = [], None

    def _note_ids(self, slugs: list[str], ids: Sequence[int]) -> None:
        """Give the index the ids the database just assigned."""
        if self._index is not None:
            for slug, key in zip(slugs, ids, strict=True):
                self._index.add(replace(self._index.by_slug[slug], id=key))

    # -- which stored article a file is ---------------------------------------------------------

    def _known(self) -> Index:
        if self._index is None:
            with self.writes.reading() as conn:
                self._index = Index([Known(*row) for row in conn.execute(select(*KNOWN_COLUMNS))])
        return self._index

    def _lookup(self) -> Index | _Queries:
        """A few look-ups query the database; many load the whole index once."""
        self._lookups += 1
        if self._index is None and self._lookups <= INDEX_AFTER:
            self.writes.flush()
            return _Queries(self.writes.conn)
        return self._known()

    # -- storing and withdrawing ----------------------------------------------------------------

    def upsert(
        self, article: Article, base_url: str, now: datetime, live_paths: set[str]
    ) -> Upserted:
        """Store an article read from its file; its id is minted once and kept across edits.

        Which stored article a file is, is :func:`publisher.store.records.stored_as`: the same
        path, the same ``id:``, or (a rename) the same content as a vanished one. New articles
        are written in batches; a slug a vanished article had goes to a new one as ``slug-2``.

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
        article = replace(article, slug=slug, uid=known.uid)
        if digest == known.content_hash and known.present:
            return self._same_content(known, article, digest, data)
        return self._edited(known, article, now, digest, data)

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
        self._new.append((_row(stored, digest, now, data), stored.tags))
        if self._index is not None:
            path, published = article.source_path, article.published
            self._index.add(Known(None, uid, slug, path, digest, True, now, first, published))
        if len(self._new) >= BATCH:  # bound the rows held in memory
            self.writes.flush()
        return Upserted("new", stored)

    def _same_content(
        self, known: Known, article: Article, digest: str, data: dict[str, Any]
    ) -> Upserted:
        """A stored article read again as it was: unchanged, or moved to another path or slug
        (its update time stays: nothing a reader sees changed)."""
        stored = replace(article, updated=known.updated)
        if known.path == article.source_path and article.slug == known.slug:
            return Upserted("unchanged", stored)
        self._rewrite(known, stored, digest, data)
        return Upserted("updated", stored, stored.tags, known.slug, known.published)

    def _edited(
        self, known: Known, article: Article, now: datetime, digest: str, data: dict[str, Any]
    ) -> Upserted:
        """A stored article with new content (or back from withdrawal): updated now, or when
        its file says, if that is later than the last update."""
        later = article.updated if article.updated and article.updated > known.updated else now
        stored = replace(article, updated=max(later, article.published))
        old_tags = self._tags_of(known) if known.present else ()
        self._rewrite(known, stored, digest, data)
        return Upserted("updated", stored, old_tags, known.slug, known.published)

    def _tags_of(self, known: Known) -> tuple[str, ...]:
        query = select(article_tags.c.tag).where(article_tags.c.article_id == known.id)
        with self.writes.reading() as conn:
            return tuple(conn.execute(query).scalars())

    def _rewrite(self, known: Known, article: Article, digest: str, data: dict[str, Any]) -> None:
        """Update an article that already has a row (rare next to new ones: not batched)."""
        self.writes.flush()
        if known.id is None:  # written by the flush just above
            known = self._known().by_uid[known.uid]
        assert known.id is not None and article.updated is not None
        values = _row(article, digest, known.first_seen, data)
        conn = self.writes.conn
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
        self.writes.flush()
        self._index = None
        conn = self.writes.conn
        gone = []
        for path in paths:
            row = conn.execute(
                select(articles).where(articles.c.path == path, articles.c.present)
            ).first()
            if row is None:
                continue
            gone.append(Article.from_json(json.loads(row.data)))
            conn.execute(
                update(articles).where(articles.c.id == row.id).values(present=False, path=None)
            )
            conn.execute(delete(article_tags).where(article_tags.c.article_id == row.id))
        return gone

    # -- what pages and feeds list --------------------------------------------------------------

    def newest(self, limit: int, tags: Sequence[str] = ()) -> list[Article]:
        """The newest present articles, newest first; with ``tags``, those with any of them.

        The ids are chosen first and the rows read after: sorting whole rows (each with its
        article's JSON) made a tag feed read and sort every article of the tag.
        """
        chosen = _present(tags).with_only_columns(articles.c.id).limit(limit)
        with self.writes.reading() as conn:
            ids = list(conn.execute(chosen).scalars())
            rows = conn.execute(select(articles).where(articles.c.id.in_(ids))).all()
        by_id = {row.id: row for row in rows}
        return [Article.from_json(json.loads(by_id[key].data)) for key in ids]

    def each(self, uids: Iterable[str] | None = None) -> Iterator[Article]:
        """Every present article (or those of ``uids``), newest first, streamed rather than
        loaded at once."""
        query = _present(())
        if uids is None:
            with self.writes.reading() as conn:
                result = conn.execute(query, execution_options={"yield_per": 200})
                for row in result:
                    yield Article.from_json(json.loads(row.data))
            return
        wanted = sorted(set(uids))
        for start in range(0, len(wanted), BATCH):
            chunk = query.where(articles.c.uid.in_(wanted[start : start + BATCH]))
            with self.writes.reading() as conn:
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
            articles.c.summary,
        )
        query = _between(_present(tags).with_only_columns(*columns), between)
        with self.writes.reading() as conn:
            rows = conn.execute(query.limit(limit) if limit else query)
            return [Listed(*row) for row in rows]

    def count(
        self,
        tags: Sequence[str] = (),
        between: tuple[datetime, datetime] | None = None,
        before: datetime | None = None,
    ) -> int:
        """How many articles :meth:`listing` lists (those published before ``before``, if
        given): where a page of a long list starts, without loading the list."""
        query = _between(_present(tags), between)
        if before is not None:
            query = query.where(articles.c.published < utc(before))
        counted = query.order_by(None).with_only_columns(func.count())
        with self.writes.reading() as conn:
            return int(conn.execute(counted).scalar_one())

    def slugs(self) -> list[str]:
        """The slug of every present article."""
        query = select(articles.c.slug).where(articles.c.present)
        with self.writes.reading() as conn:
            return list(conn.execute(query).scalars())

    def years(self, zone: ZoneInfo) -> Counter[int]:
        """How many present articles each year has on ``zone``'s calendar (years without any
        left out): a count per year over the index of dates, never a read of every date."""
        published, present = articles.c.published, articles.c.present
        counts: Counter[int] = Counter()
        with self.writes.reading() as conn:
            # The first and the last date, each a seek in the index (min and max in one query
            # scan it whole on SQLite).
            dated = select(published).where(present).limit(1)
            first = conn.execute(dated.order_by(published)).scalar()
            last = conn.execute(dated.order_by(published.desc())).scalar()
            if first is None or last is None:
                return counts
            for year in range(first.astimezone(zone).year, last.astimezone(zone).year + 1):
                start, end = (utc(datetime(y, 1, 1, tzinfo=zone)) for y in (year, year + 1))
                between = present & (published >= start) & (published < end)
                found = conn.execute(select(func.count()).where(between)).scalar_one()
                if found:
                    counts[year] = found
        return counts

    def tags(self) -> list[str]:
        """Every tag of a present article."""
        query = select(article_tags.c.tag).distinct().order_by(article_tags.c.tag)
        with self.writes.reading() as conn:
            return list(conn.execute(query).scalars())


def _present(tags: Sequence[str]) -> Any:
    """Present articles (with any of ``tags``, when given), newest first."""
    query = select(articles).where(articles.c.present)
    if tags:
        tagged = select(article_tags.c.article_id).where(article_tags.c.tag.in_(tags))
        query = query.where(articles.c.id.in_(tagged))
    return query.order_by(articles.c.published.desc(), articles.c.id.desc())


def _between(query: Any, between: tuple[datetime, datetime] | None) -> Any:
    """``query`` kept to articles published in ``[start, end)``, when given."""
    if between is None:
        return query
    start, end = (utc(moment) for moment in between)
    return query.where(articles.c.published >= start, articles.c.published < end)


def _row(
    article: Article, digest: str, first_seen: datetime, data: dict[str, Any]
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
        "summary": summary_of(article),
    }


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
