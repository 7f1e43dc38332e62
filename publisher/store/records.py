"""Values the store hands out and keeps while it works: no SQL is run here.

Ids are minted here (:func:`mint_uid`) and edits detected (:func:`article_hash`); the index
lets :class:`publisher.store.articles.Articles` answer most questions of a large publish from
memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from publisher.models import Article
from publisher.store.schema import articles

Status = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class Upserted:
    """The outcome of storing one article: its status, the stored article, tags before the edit."""

    status: Status
    article: Article
    old_tags: tuple[str, ...] = ()
    old_slug: str = ""
    old_published: datetime | None = None


@dataclass(frozen=True)
class Known:
    """What ingestion needs to know of a stored article; ``id`` is ``None`` until flushed."""

    id: int | None
    uid: str
    slug: str
    path: str | None
    content_hash: str
    present: bool
    first_seen: datetime
    updated: datetime
    published: datetime


class Lookup(Protocol):
    """What identity needs to ask of the stored articles: by path, id, slug and content."""

    def path(self, path: str) -> Known | None: ...

    def uid(self, uid: str) -> Known | None: ...

    def slug(self, slug: str) -> Known | None: ...

    def content(self, digest: str) -> list[Known]: ...


class Index:
    """Stored articles by path, id, slug and content hash, loaded once per publish instead of
    once per file (a :class:`Lookup` from memory)."""

    def __init__(self, known: Iterable[Known]) -> None:
        self.by_path: dict[str, Known] = {}
        self.by_uid: dict[str, Known] = {}
        self.by_slug: dict[str, Known] = {}
        self.by_hash: dict[str, dict[str, Known]] = {}
        for item in known:
            self.add(item)

    def add(self, item: Known) -> None:
        """Know ``item``, replacing what was known of the same article."""
        old = self.by_uid.get(item.uid)
        if old is not None:
            for table, key in ((self.by_path, old.path), (self.by_slug, old.slug)):
                if key is not None and table.get(key) is old:
                    del table[key]
            self.by_hash.get(old.content_hash, {}).pop(old.uid, None)
        if item.path is not None:
            self.by_path[item.path] = item
        self.by_uid[item.uid] = item
        self.by_slug[item.slug] = item
        self.by_hash.setdefault(item.content_hash, {})[item.uid] = item

    def path(self, path: str) -> Known | None:
        return self.by_path.get(path)

    def uid(self, uid: str) -> Known | None:
        return self.by_uid.get(uid)

    def slug(self, slug: str) -> Known | None:
        return self.by_slug.get(slug)

    def content(self, digest: str) -> list[Known]:
        return list(self.by_hash.get(digest, {}).values())


def is_live(known: Known, live_paths: set[str]) -> bool:
    """Whether a stored article's file is still there in this scan."""
    return known.present and known.path in live_paths


def stored_as(lookup: Lookup, article: Article, digest: str, live_paths: set[str]) -> Known | None:
    """The stored article a file is, or ``None`` for a new one.

    The same path is the same article; so is an explicit ``id:``. Otherwise a file is a rename
    of a vanished article only when it has that article's content exactly: a slug alone (a
    new article whose title matches a deleted one's) proves nothing, and taking it would let
    the new article inherit the old one's id and never be sent by a digest.

    :raises SlugConflict: when the ``id:`` is that of another live file.
    """
    known = lookup.path(article.source_path)
    if known is not None:
        return known
    if article.uid:
        known = lookup.uid(article.uid)
        if known is not None and is_live(known, live_paths):
            raise SlugConflict(f"id {article.uid!r} is already used by {known.path}")
        return known
    return next((k for k in lookup.content(digest) if not is_live(k, live_paths)), None)


def free_slug(lookup: Lookup, wanted: str, own_uid: str, live_paths: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``-3``… when a vanished or withdrawn article had it (its old
    URL is not handed to a different article).

    :raises SlugConflict: when another live file has ``wanted``.
    """
    candidate, number = wanted, 1
    while (owner := lookup.slug(candidate)) is not None and owner.uid != own_uid:
        if candidate == wanted and is_live(owner, live_paths):
            raise SlugConflict(f"slug {wanted!r} is already used by {owner.path}")
        number += 1
        candidate = f"{wanted[: 200 - len(str(number)) - 1]}-{number}"
    return candidate


def free_uid(lookup: Lookup, wanted: str) -> str:
    """``wanted``, or with ``-2``, ``-3``… while another stored article has it."""
    candidate, number = wanted, 1
    while lookup.uid(candidate) is not None:
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate


BacklogKind = Literal["article", "gone", "tag", "year", "since"]


@dataclass
class Backlog:
    """What publishes stored but have not built yet: the changed articles (by id), the slugs
    whose pages must go, and the tags and years whose lists must be rebuilt.

    ``since`` says, for a tag, the earliest publication moment of a change to it, and
    ``moments`` are the publication moments of every change (before and after an edit): a
    list of articles paged from its oldest end is the same as before up to there
    (:func:`since_keys` makes the rows). A tag without ``since`` (a backlog of an older
    version) is rebuilt whole.

    It is written in the same transaction as the change itself and cleared only once built,
    so a publish that dies between storing and writing is finished by the next one.
    """

    articles: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    since: dict[str, datetime] = field(default_factory=dict)
    moments: set[datetime] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.articles or self.gone or self.tags or self.years)

    def add(self, kind: BacklogKind, key: str) -> None:
        """One row of the ``pending_build`` table."""
        if kind == "year":
            self.years.add(int(key))
        elif kind == "since":
            stamp, _, tag = key.partition(" ")
            moment = datetime.fromisoformat(stamp)
            if not tag:
                self.moments.add(moment)
            elif tag not in self.since or moment < self.since[tag]:
                self.since[tag] = moment
        else:
            {"article": self.articles, "gone": self.gone, "tag": self.tags}[kind].add(key)


def since_keys(tags: Iterable[str], *moments: datetime | None) -> list[str]:
    """The ``since`` backlog rows of a change to an article with ``tags`` (before and after)
    published at ``moments`` (before and after): each moment, and each tag with the earliest."""
    known = sorted({utc(m) for m in moments if m is not None})
    if not known:
        return []
    stamps = [moment.isoformat() for moment in known]
    return stamps + [f"{stamps[0]} {tag}" for tag in sorted(set(tags))]


KNOWN_COLUMNS = [getattr(articles.c, name) for name in Known.__dataclass_fields__]


class SlugConflict(Exception):
    """Two files claim the same slug."""


def article_hash(data: dict[str, Any]) -> str:
    """A hash of an article's JSON as it reaches outputs (path and store fields left out)."""
    kept = {k: v for k, v in data.items() if k not in ("source_path", "uid", "updated", "slug")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def mint_uid(base_url: str, published: datetime, slug: str) -> str:
    """A ``tag:`` URI (RFC 4151) that stays the article's id for good, whatever changes later."""
    host = urlsplit(base_url).hostname or "localhost"
    return f"tag:{host},{published.date().isoformat()}:{slug}"


def utc(value: datetime) -> datetime:
    """Aware datetimes in UTC; a naive one is a bug upstream, never silently local time."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored; attach a time zone")
    return value.astimezone(UTC)
