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
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from publisher.models import Article, Issue
from publisher.store.records import utc
from publisher.store.schema import articles, carried, deliveries, issues, subscribers
from publisher.store.subscribers import audience


class Stamp(NamedTuple):
    """What digest selection needs of an article."""

    uid: str
    published: datetime


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
        in one transaction. ``None`` when the digest already has an issue for this slot.
        """
        try:
            with self.engine.begin() as conn:
                values = {
                    "digest": issue.digest,
                    "slot": issue.slot,
                    "opened": issue.opened,
                    "nonce": issue.nonce,
                    "subject": issue.subject,
                    "html": issue.html,
                    "text": issue.text,
                    "recipients": 0,
                }
                made = insert(issues).values(**values).returning(issues.c.id)
                issue_id: int = conn.execute(made).scalar_one()
                ledger = [
                    {"digest": issue.digest, "article_uid": u, "issue_id": issue_id}
                    for u in carries
                ]
                ledger += [
                    {"digest": issue.digest, "article_uid": u, "issue_id": None} for u in baseline
                ]
                if ledger:
                    conn.execute(insert(carried), ledger)
                queued = audience(issue.digest).with_only_columns(
                    bindparam("issue", issue_id),
                    subscribers.c.id,
                    bindparam("state", "queued"),
                    bindparam("attempts", 0),
                    bindparam("next", utc(issue.opened), type_=deliveries.c.next_attempt.type),
                    bindparam("reply", ""),
                    bindparam("updated", utc(issue.opened), type_=deliveries.c.updated.type),
                )
                columns = [
                    "issue_id",
                    "subscriber_id",
                    "state",
                    "attempts",
                    "next_attempt",
                    "last_reply",
                    "updated",
                ]
                conn.execute(insert(deliveries).from_select(columns, queued))
                # Counted, not rowcount: some drivers report -1 for INSERT … SELECT.
                count = select(func.count()).where(deliveries.c.issue_id == issue_id)
                created = int(conn.execute(count).scalar_one())
                conn.execute(
                    update(issues).where(issues.c.id == issue_id).values(recipients=created)
                )
        except IntegrityError:
            return None
        return Issue(
            issue_id,
            issue.digest,
            issue.slot,
            issue.opened,
            issue.nonce,
            issue.subject,
            issue.html,
            issue.text,
            created,
        )

    def get(self, issue_id: int) -> Issue:
        """One stored issue."""
        with self.engine.connect() as conn:
            row = conn.execute(select(issues).where(issues.c.id == issue_id)).one()
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
