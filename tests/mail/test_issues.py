"""Opening issues against a real store with a fixed clock: one issue per scheduled slot across
both DST changes in Europe/Berlin, coalesced after downtime, and each article carried once —
back-dated ones included, edited ones not again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from publisher.mail.issues import find_digest, open_due, open_issue
from publisher.mail.planning import select as select_articles
from publisher.site.render import environment_for
from publisher.store.issues import Stamp
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.store.schema import issues
from tests.conftest import BERLIN, NOW, Project

NIGHTLY = """
[[digests]]
name = "nightly"
schedule = "30 2 * * *"
skip_empty = false
"""

ARTICLE = """---
title: {title}
author: Test Author
date: {date}
attribution: "Originally published by Test Wire: {title}."
disclaimer: "Views are the author's own."
---
{body}
"""


@pytest.fixture
def outbox(db_project: Project) -> Iterator[Outbox]:
    config = db_project.root / "config" / "publisher.toml"
    config.write_text(config.read_text() + NIGHTLY)
    db_project.publish()
    store = Store.open(db_project.settings().database_url)
    try:
        found = Outbox(store.engine)
        found.subscribers.add([("ada@example.com", ["daily", "nightly"])], "active", NOW)
        yield found
    finally:
        store.close()


def _issue_slots(outbox: Outbox, digest: str) -> list[str]:
    query = select(issues.c.slot).where(issues.c.digest == digest).order_by(issues.c.id)
    with outbox.engine.connect() as conn:
        return list(conn.execute(query).scalars())


@pytest.mark.parametrize("start", ["2025-03-28", "2025-10-24"])
def test_one_issue_per_local_day_across_a_dst_change(
    db_project: Project, outbox: Outbox, start: str
) -> None:
    settings = db_project.settings()
    env = environment_for(settings)
    now = datetime.fromisoformat(f"{start}T12:00").replace(tzinfo=BERLIN).astimezone(UTC)
    for _ in range(4 * 24 * 4):  # four days, every quarter of an hour, as a scheduler would
        open_due(settings, outbox, env, now)
        now += timedelta(minutes=15)
    slots = _issue_slots(outbox, "nightly")
    assert [slot[:10] for slot in slots] == sorted({slot[:10] for slot in slots}), slots
    # One for each of the four nights; the start day's slot had passed by more than the grace.
    assert len(slots) == 4


def test_downtime_opens_the_latest_missed_slot_once(db_project: Project, outbox: Outbox) -> None:
    db_project.environ["PUBLISHER_WORKER__MISFIRE_GRACE_SECONDS"] = str(4 * 86400)
    settings = db_project.settings()
    env = environment_for(settings)
    open_due(settings, outbox, env, NOW)
    later = NOW + timedelta(days=3, hours=2)  # down for three nights
    for _ in range(3):  # a restart, then two more ticks
        open_due(settings, outbox, env, later)
    assert _issue_slots(outbox, "nightly") == ["2026-03-29T02:30", "2026-04-01T02:30"]


def test_a_slot_missed_by_more_than_the_grace_is_not_opened(
    db_project: Project, outbox: Outbox
) -> None:
    settings = db_project.settings()  # grace: one hour
    env = environment_for(settings)
    assert open_due(settings, outbox, env, NOW) == []  # 02:30 was nine and a half hours ago
    late = datetime(2026, 3, 30, 3, 15, tzinfo=BERLIN)  # 45 minutes late: still opened
    assert [o.plan.slot for o in open_due(settings, outbox, env, late) if o.issue] == [
        "2026-03-30T02:30"
    ]


def test_the_store_refuses_a_second_issue_for_a_slot(db_project: Project, outbox: Outbox) -> None:
    settings = db_project.settings()
    env = environment_for(settings)
    digest = find_digest(settings, "nightly")
    first = open_issue(settings, outbox, env, digest, NOW, "2026-03-29T02:30")
    second = open_issue(settings, outbox, env, digest, NOW, "2026-03-29T02:30")
    assert first.issue is not None and second.issue is None
    assert "already has its issue" in second.reason
    with outbox.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(issues)).scalar() == 1


def test_back_dated_articles_are_sent_once_and_edited_ones_not_again(
    db_project: Project, outbox: Outbox
) -> None:
    settings = db_project.settings()
    env = environment_for(settings)
    daily = find_digest(settings, "daily")
    first = open_issue(settings, outbox, env, daily, NOW)
    assert first.issue is not None and len(first.plan.articles) == 4
    # An article dated years ago arrives late, and an old one is edited.
    db_project.write("late.md", ARTICLE.format(title="Late", date="2019-05-01", body="Old news."))
    edited = next((db_project.root / "content").glob("*.md"))
    edited.write_text(edited.read_text() + "\nA correction.\n")
    later = NOW + timedelta(days=1)
    db_project.publish(later)
    second = open_issue(settings, outbox, env, daily, later)
    assert [a.title for a in second.plan.articles] == ["Late"]
    third = open_issue(settings, outbox, env, daily, later + timedelta(days=1))
    assert third.issue is None and third.plan.articles == []  # skip_empty


def test_what_does_not_fit_waits_for_the_next_issue(db_project: Project, outbox: Outbox) -> None:
    settings = db_project.settings()
    env = environment_for(settings)
    for n in range(5):
        body = f"Story {n}."
        db_project.write(f"s{n}.md", ARTICLE.format(title=f"S{n}", date=f"2026-03-2{n}", body=body))
    db_project.publish()
    daily = find_digest(settings, "daily")
    # The first issue takes the newest 20; there are only 9, so all go.
    assert len(open_issue(settings, outbox, env, daily, NOW).plan.articles) == 9
    capped = find_digest(settings, "daily").__class__(name="capped", max_articles=2)
    first = open_issue(settings, outbox, env, capped, NOW)
    # A new digest starts with the newest, and the back catalogue is its baseline.
    assert [a.title for a in first.plan.articles] == ["S3", "S4"]
    for n in range(5, 8):
        body = f"Story {n}."
        db_project.write(f"t{n}.md", ARTICLE.format(title=f"T{n}", date="2026-03-01", body=body))
    db_project.publish(NOW + timedelta(hours=1))
    taken = []
    for hours in (2, 3):
        opened = open_issue(settings, outbox, env, capped, NOW + timedelta(hours=hours))
        taken += [a.title for a in opened.plan.articles]
    assert sorted(taken) == ["T5", "T6", "T7"]


def test_selection_is_a_pure_function_of_the_ledger() -> None:
    stamps = [Stamp(f"u{n}", NOW - timedelta(days=n)) for n in range(5)]
    chosen, baseline = select_articles(stamps, set(), 2, first=True)
    assert [s.uid for s in chosen] == ["u1", "u0"]
    assert [s.uid for s in baseline] == ["u4", "u3", "u2"]
    chosen, baseline = select_articles(stamps, {"u0", "u1"}, 2, first=False)
    assert [s.uid for s in chosen] == ["u4", "u3"] and baseline == []
