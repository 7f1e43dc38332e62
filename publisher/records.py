"""Values the store hands out and keeps while it works: no SQL is run here.

Ids are minted here (:func:`mint_uid`) and edits detected (:func:`article_hash`); the index and
pending rows let :class:`publisher.store.Store` answer most questions of a large publish from
memory and write in batches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from publisher.models import Article
from publisher.schema import articles

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


class Index:
    """Stored articles by path and by slug, loaded once per publish instead of once per file."""

    def __init__(self, known: Iterable[Known]) -> None:
        self.by_path: dict[str, Known] = {}
        self.by_slug: dict[str, Known] = {}
        for item in known:
            self.add(item)

    def add(self, item: Known) -> None:
        if item.path is not None:
            self.by_path[item.path] = item
        self.by_slug[item.slug] = item


@dataclass
class Pending:
    """Rows waiting to be written in batches: executemany is far cheaper than a call per row."""

    articles: list[tuple[dict[str, Any], tuple[str, ...]]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.articles or self.files or self.outputs)


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
