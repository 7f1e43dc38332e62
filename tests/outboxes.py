"""Outboxes for delivery tests: many readers at once, a sender in its own process."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import insert, select

from publisher.config.settings import Settings
from publisher.mail.issues import find_digest, open_issue
from publisher.models import Article
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.store.schema import deliveries, subscribers, subscriptions
from tests.conftest import NOW, Project, clean_environ
from tests.smtpserver import MailServer

LEASE = 3.0


def published_articles(settings: Settings) -> list[Article]:
    """Every article published by ``NOW``, oldest first: what a first issue holds."""
    store = Store.open(settings.database_url)
    try:
        issues = Outbox(store.engine).issues
        return issues.articles([s.uid for s in sorted(issues.published(NOW))])
    finally:
        store.close()


def drain_process(project: Project, *args: str) -> subprocess.Popen[bytes]:
    """``publisher drain`` (or another command: ``args``) running in the background."""
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    command += ["--root", str(project.root), *(args or ("drain",))]
    return subprocess.Popen(
        command,
        env=clean_environ(project.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def subscribe_many(outbox: Outbox, count: int, digest: str = "daily") -> None:
    """``count`` active readers of ``digest``, inserted at once (the CLI would take a while)."""
    rows = [
        {
            "address": f"reader{n}@example.com",
            "address_key": f"reader{n}@example.com",
            "status": "active",
            "secret": f"secret-{n}",
            "bounces": 0,
            "created": NOW,
            "updated": NOW,
        }
        for n in range(count)
    ]
    with outbox.engine.begin() as conn:
        conn.execute(insert(subscribers), rows)
        ids = conn.execute(select(subscribers.c.id)).scalars()
        conn.execute(insert(subscriptions), [{"subscriber_id": i, "digest": digest} for i in ids])


@dataclass
class Outboxed:
    """A published project whose outbox holds one open issue to ``readers`` readers."""

    project: Project
    outbox: Outbox
    server: MailServer
    readers: int

    def received(self) -> Counter[str]:
        return Counter(r.recipients[0] for r in self.server.received)

    def rows(self) -> list[dict[str, object]]:
        query = select(deliveries.c.state, deliveries.c.attempts, deliveries.c.uncertain)
        with self.outbox.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]


def outboxed_project(project: Project, server: MailServer, readers: int, **env: str) -> Outboxed:
    project.environ.update(server.environ())
    project.environ.update({"PUBLISHER_SMTP__LEASE_SECONDS": str(LEASE), **env})
    project.publish()
    settings = project.settings()
    store = Store.open(settings.database_url)
    outbox = Outbox(store.engine)
    subscribe_many(outbox, readers)
    digest = find_digest(settings, "daily")
    assert open_issue(settings, outbox, environment_for(settings), digest, NOW).issue
    return Outboxed(project, outbox, server, readers)
