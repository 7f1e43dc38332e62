"""What the status pages of any process read: ``/api/status`` and ``/metrics``.

Read-only, over an engine, each call on a connection of its own: a web process holds one
:class:`Status` and no transaction state. It reads what the others write — the articles
present and the content problems the last publish found (:mod:`publisher.store.articles`,
:mod:`publisher.store.bookkeeping`), the tasks and job runs service processes report
(:mod:`publisher.store.meta`), deliveries and relays (:mod:`publisher.store.tally`) — so any
web process shows them, whichever process wrote them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select

from publisher.models import Problem, RelayState
from publisher.store import tally
from publisher.store.meta import RUN, TaskHealth
from publisher.store.records import utc
from publisher.store.schema import articles, deliveries, issues, meta, problems, tasks


class Status:
    """The store as the operator's status pages see it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def articles(self) -> int:
        """How many articles are present."""
        query = select(func.count()).select_from(articles).where(articles.c.present)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def problems(self) -> list[Problem]:
        """The content problems the last publish found."""
        columns = (problems.c.path, problems.c.reason, problems.c.hint, problems.c.severity)
        query = select(*columns, problems.c.field).order_by(problems.c.path, problems.c.id)
        with self.engine.connect() as conn:
            return [Problem(*row) for row in conn.execute(query)]

    def tasks(self) -> list[TaskHealth]:
        """Every stored task row, of every process, by process and task."""
        query = select(*(tasks.c[name] for name in TaskHealth._fields))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(tasks.c.process, tasks.c.task)).all()
        return [TaskHealth(*row) for row in rows]

    def last_runs(self) -> dict[str, datetime]:
        """When the worker last ran each job."""
        query = select(meta.c.key, meta.c.value).where(meta.c.key.like(f"{RUN}%"))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {key[len(RUN) :]: datetime.fromisoformat(value) for key, value in rows}

    def deliveries(self) -> dict[str, int]:
        """Deliveries by state, every state present."""
        return tally.counts(self.engine)

    def relays(self) -> list[RelayState]:
        """Every relay a sender has used, as the senders see it."""
        return tally.relay_states(self.engine)

    def activity(self, since: datetime) -> dict[str, int]:
        """For metrics: issues ever opened, and deliveries sent and failed since ``since``."""
        recent = (
            select(deliveries.c.state, func.count())
            .where(deliveries.c.updated >= utc(since), deliveries.c.state.in_(["sent", "failed"]))
            .group_by(deliveries.c.state)
        )
        with self.engine.connect() as conn:
            opened = conn.execute(select(func.count()).select_from(issues)).scalar_one()
            found = {state: int(n) for state, n in conn.execute(recent)}
        return {
            "issues": int(opened),
            "sent": found.get("sent", 0),
            "failed": found.get("failed", 0),
        }
