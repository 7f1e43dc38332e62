"""Digest issues and the digests' ledger: which articles each digest has carried, what an issue
opened now would be made of, and the issues opened, each with one queued delivery per active
subscriber.

A room of the :class:`publisher.store.outbox.Outbox`. The ledger is what keeps invariant 2:
an article is never skipped by a digest and never repeated by its next issue, because an issue,
its ledger entries and its deliveries are written in one transaction (:meth:`Issues.open`), and
a second issue for the same slot is refused by the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from publisher.models import Article, Issue
from publisher.store.records import utc
from publisher.store.schema import articles, carried, deliveries, issues, subscribers
from publisher.store.subscribers import audience

# The columns of a new delivery, in the order :func:`_queue_deliveries` selects them.
DELIVERY_COLUMNS = [
    "issue_id",
    "subscriber_id",
    "state",
    "attempts",
    "next_attempt",
    "last_reply",
    "updated",
]


class Stamp(NamedTuple):
    """What digest selection needs of an article."""

    uid: str
    published: datetime


class Archived(NamedTuple):
    """What the archive of issues lists of one issue with a public page."""

    id: int
    digest: str
    slot: str
    opened: datetime
    subject: str


class Issues:
    """The digests' ledger and their issues, over the store's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def ledger(self, digest: str) -> tuple[str | None, set[str]]:
        """The slot of the digest's last issue, and the uids of every article it carried."""
        with self.engine.connect() as conn:
            last = conn.execute(
                select(func.max(issues.c.slot)).where(issues.c.digest == digest)
            ).scalar()
            uids = conn.execute(select(carried.c.article_uid).where(carried.c.digest == digest))
            return last, set(uids.scalars())

    def published(self, now: datetime) -> list[Stamp]:
        """Id and date of every present article published by ``now``."""
        query = select(articles.c.uid, articles.c.published).where(
            articles.c.present, articles.c.published <= utc(now)
        )
        with self.engine.connect() as conn:
            return [Stamp(uid, when) for uid, when in conn.execute(query)]

    def articles(self, uids: Sequence[str]) -> list[Article]:
        """The articles with these uids, in the order given."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(articles.c.uid, articles.c.data).where(articles.c.uid.in_(uids))
            )
            found = {uid: Article.from_json(json.loads(data)) for uid, data in rows}
        return [found[uid] for uid in uids if uid in found]

    def open(self, issue: Issue, carries: Sequence[str], baseline: Sequence[str]) -> Issue | None:
        """Store the issue, its ledger entries and one queued delivery per active subscriber,
        in one transaction: the issue as stored, with its id and its number of recipients.
        ``None`` when the digest already has an issue for this slot.

        ``carries`` are the uids of the articles it holds; ``baseline`` those a new digest
        starts after, which it will never carry.
        """
        try:
            with self.engine.begin() as conn:
                issue_id = _insert_issue(conn, issue)
                _write_ledger(conn, issue.digest, issue_id, carries, baseline)
                created = _queue_deliveries(conn, issue, issue_id)
        except IntegrityError:
            return None
        return replace(issue, id=issue_id, recipients=created)

    def archived(self) -> list[Archived]:
        """Every issue with a public page, newest first: what the archive of issues lists."""
        columns = [issues.c.id, issues.c.digest, issues.c.slot, issues.c.opened, issues.c.subject]
        query = (
            select(*columns)
            .where(issues.c.page != "")
            .order_by(issues.c.opened.desc(), issues.c.id.desc())
        )
        with self.engine.connect() as conn:
            return [Archived(*row) for row in conn.execute(query)]

    def page(self, issue_id: int) -> str:
        """The public page of one issue ("" when it has none)."""
        with self.engine.connect() as conn:
            found = conn.execute(select(issues.c.page).where(issues.c.id == issue_id)).scalar()
        return found or ""

    def get(self, issue_id: int) -> Issue:
        """One stored issue, without its public page (what sending needs)."""
        with self.engine.connect() as conn:
            sent = [column for column in issues.c if column.name != "page"]
            row = conn.execute(select(*sent).where(issues.c.id == issue_id)).one()
        return Issue(
            row.id,
            row.digest,
            row.slot,
            row.opened,
            row.nonce,
            row.subject,
            row.html,
            row.text,
            row.recipients,
        )


def _insert_issue(conn: Connection, issue: Issue) -> int:
    """The id of the issue row just inserted, with no recipients counted yet.

    :raises IntegrityError: when the digest already has an issue for its slot.
    """
    values = {
        "digest": issue.digest,
        "slot": issue.slot,
        "opened": issue.opened,
        "nonce": issue.nonce,
        "subject": issue.subject,
        "html": issue.html,
        "text": issue.text,
        "page": issue.page,
        "recipients": 0,
    }
    return int(conn.execute(insert(issues).values(**values).returning(issues.c.id)).scalar_one())


def _write_ledger(
    conn: Connection, digest: str, issue_id: int, carries: Sequence[str], baseline: Sequence[str]
) -> None:
    """The ledger entries of a new issue: the articles it carries, and (for a new digest) the
    ones it starts after, carried by no issue."""
    ledger = [{"digest": digest, "article_uid": u, "issue_id": issue_id} for u in carries]
    ledger += [{"digest": digest, "article_uid": u, "issue_id": None} for u in baseline]
    if ledger:
        conn.execute(insert(carried), ledger)


def _queue_deliveries(conn: Connection, issue: Issue, issue_id: int) -> int:
    """One queued delivery of the issue ``issue_id`` per active subscriber of its digest, in
    one ``INSERT … SELECT``; their number, kept on the issue as its recipients."""
    opened = utc(issue.opened)
    queued = audience(issue.digest).with_only_columns(
        bindparam("issue", issue_id),
        subscribers.c.id,
        bindparam("state", "queued"),
        bindparam("attempts", 0),
        bindparam("next", opened, type_=deliveries.c.next_attempt.type),
        bindparam("reply", ""),
        bindparam("updated", opened, type_=deliveries.c.updated.type),
    )
    conn.execute(insert(deliveries).from_select(DELIVERY_COLUMNS, queued))
    # Counted, not rowcount: some drivers report -1 for INSERT … SELECT.
    count = select(func.count()).where(deliveries.c.issue_id == issue_id)
    created = int(conn.execute(count).scalar_one())
    conn.execute(update(issues).where(issues.c.id == issue_id).values(recipients=created))
    return created
