"""The store on SQLite and PostgreSQL: migrations, aware datetimes, ids minted once."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from publisher.models import Article
from publisher.store import locks
from publisher.store.engine import create_store_engine
from publisher.store.publishing import Store
from publisher.store.records import SlugConflict, mint_uid
from publisher.store.schema import SCHEMA_REVISION, metadata
from tests.conftest import NOW, Project

BASE = "https://news.example.org/"


def _article(path: str = "a.md", **changes: object) -> Article:
    article = Article(
        slug="",
        title="Tides",
        author="Mara",
        published=datetime(2024, 5, 18, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        body_html="<p>Body</p>",
        attribution="© Mara",
        source_path=path,
        disclaimer=("Views are the author's own.",),
        tags=("Coasts",),
    )
    return replace(article, **changes)


@pytest.fixture
def store(database_url: str) -> Store:
    opened = Store.open(database_url)
    yield opened  # type: ignore[misc]
    opened.close()


def test_migrations_reach_the_revision_the_code_expects(store: Store) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path("publisher/store/migrations").resolve()))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION
    with store.engine.connect() as conn:
        inspector = inspect(conn)
        for table in metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == set(table.columns.keys()), table.name


def test_opening_twice_is_harmless(database_url: str) -> None:
    Store.open(database_url).close()
    Store.open(database_url).close()


def test_datetimes_come_back_aware_and_in_utc(store: Store) -> None:
    with store.transaction():
        stored = store.articles.upsert(_article(), BASE, NOW, {"a.md"}).article
        [loaded] = store.articles.newest(1)
    assert loaded.published == stored.published
    assert loaded.published.utcoffset() == timedelta(0)
    assert loaded.published == datetime(2024, 5, 18, 8, 0, tzinfo=UTC)


def test_id_is_minted_once_and_survives_edits_and_renames(store: Store) -> None:
    with store.transaction():
        first = store.articles.upsert(_article(), BASE, NOW, {"a.md"})
        edited = store.articles.upsert(
            _article(title="Tides, revised", body_html="<p>New</p>"), BASE, NOW, {"a.md"}
        )
        # Renamed: the same content under another file name.
        renamed = store.articles.upsert(
            _article("b.md", title="Tides, revised", body_html="<p>New</p>"), BASE, NOW, {"b.md"}
        )
    assert first.status == "new"
    assert first.article.uid == mint_uid(BASE, first.article.published, "tides")
    assert edited.status == "updated"
    assert edited.article.uid == first.article.uid
    assert edited.article.slug == "tides"  # the page URL does not move when the title changes
    assert edited.article.updated == NOW
    assert renamed.status == "updated"
    assert renamed.article.uid == first.article.uid


def test_a_new_article_never_inherits_a_vanished_ones_id_by_its_slug(store: Store) -> None:
    with store.transaction():
        first = store.articles.upsert(_article(), BASE, NOW, {"a.md"})
        # a.md is gone; b.md has the same title (so the same slug), other words.
        other = store.articles.upsert(
            _article("b.md", body_html="<p>Another story</p>"), BASE, NOW, {"b.md"}
        )
    assert other.status == "new"
    assert other.article.uid != first.article.uid
    assert other.article.slug == "tides-2"  # the old URL is not handed to another article


def test_an_explicit_id_is_the_article_wherever_its_file_goes(store: Store) -> None:
    uid = "urn:uuid:8c9a3a54-7d1e-4f5e-9a51-3f1a2b9c0d11"
    with store.transaction():
        first = store.articles.upsert(_article(uid=uid), BASE, NOW, {"a.md"})
        moved = store.articles.upsert(
            _article("b.md", uid=uid, body_html="<p>Edited while moved</p>"), BASE, NOW, {"b.md"}
        )
        with pytest.raises(SlugConflict, match=r"b\.md"):
            store.articles.upsert(_article("c.md", uid=uid), BASE, NOW, {"b.md", "c.md"})
    assert first.article.uid == moved.article.uid == uid
    assert moved.status == "updated"


def test_unchanged_article_is_reported_unchanged(store: Store) -> None:
    with store.transaction():
        store.articles.upsert(_article(), BASE, NOW, {"a.md"})
        again = store.articles.upsert(_article(), BASE, NOW + timedelta(days=1), {"a.md"})
    assert again.status == "unchanged"
    assert again.article.updated == again.article.published


def test_two_live_files_cannot_share_a_slug(store: Store) -> None:
    with store.transaction():
        store.articles.upsert(_article(), BASE, NOW, {"a.md", "b.md"})
        with pytest.raises(SlugConflict, match=r"a\.md"):
            store.articles.upsert(_article("b.md"), BASE, NOW, {"a.md", "b.md"})


def test_withdrawn_article_keeps_its_id_when_it_returns(store: Store) -> None:
    with store.transaction():
        uid = store.articles.upsert(_article(), BASE, NOW, {"a.md"}).article.uid
        [gone] = store.articles.withdraw(["a.md"])
        assert store.articles.newest(10) == []
        back = store.articles.upsert(_article("c.md"), BASE, NOW, {"c.md"})
    assert gone.uid == uid
    assert back.article.uid == uid


def test_outputs_keep_their_bytes(store: Store) -> None:
    body = "é<feed/>".encode()
    with store.transaction():
        store.outputs.put("atom.xml", "application/atom+xml", body, "abc", NOW)
        assert store.outputs.read("atom.xml") == (
            "application/atom+xml",
            body,
            "abc",
            NOW.astimezone(UTC),
        )
        assert store.outputs.hashes() == {"atom.xml": "abc"}


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.articles.upsert(_article(), BASE, NOW, {"a.md"})
        raise RuntimeError("crash")
    with store.transaction():
        assert store.articles.newest(10) == []


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="naive"), store.transaction():
        store.articles.upsert(_article(published=datetime(2024, 1, 1)), BASE, NOW, {"a.md"})  # noqa: DTZ001


def test_two_publishes_never_build_at_once(db_project: Project) -> None:
    db_project.publish()
    store = Store.open(db_project.settings().database_url)
    events: list[str] = []
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with locks.held(store.engine, "publish", 10):
            events.append("held")
            held.set()
            release.wait(10)
            events.append("released")

    def publish_again() -> None:
        db_project.publish(NOW + timedelta(hours=1))
        events.append("published")

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(10)
    second = threading.Thread(target=publish_again)
    second.start()
    time.sleep(0.5)
    assert "published" not in events  # it waits for the lock
    release.set()
    holder.join()
    second.join()
    store.close()
    assert events == ["held", "released", "published"]


def test_listing_pages_and_counts_come_from_the_store(store: Store) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with store.transaction():
        for day in range(7):
            tags = ("Coasts", "Tides") if day % 2 else ("Coasts",)
            changes = {"title": f"Day {day}", "published": start + timedelta(days=day)}
            store.articles.upsert(_article(f"{day}.md", tags=tags, **changes), BASE, NOW, set())
    with store.transaction():
        newest = store.articles.listing(("Coasts",), limit=3)
        assert [item.title for item in newest] == ["Day 6", "Day 5", "Day 4"]
        assert store.articles.count(("Coasts",)) == 7
        assert store.articles.count(("Tides", "Coasts")) == 7  # each article once
        assert store.articles.count(("Tides",)) == 3
        assert store.articles.count(("Coasts",), before=start + timedelta(days=3)) == 3
        week = (start + timedelta(days=1), start + timedelta(days=5))
        assert store.articles.count(between=week) == 4
        assert store.articles.count(between=week, before=start + timedelta(days=2)) == 1
        assert [i.title for i in store.articles.listing(between=week)][-1] == "Day 1"


def test_connections_opened_together_on_a_fresh_sqlite_file_all_get_wal(tmp_path: Path) -> None:
    """Switching a fresh file to WAL is a lock upgrade SQLite refuses at once rather than
    waiting for (PITFALLS 58): processes starting together failed about one start in twenty."""
    failures: list[Exception] = []

    def connect(engine: Engine, start: threading.Barrier) -> None:
        start.wait()
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        except Exception as exc:
            failures.append(exc)

    for round_ in range(50):
        engines = [create_store_engine(f"sqlite:///{tmp_path / f'{round_}.db'}") for _ in range(4)]
        start = threading.Barrier(len(engines))
        threads = [threading.Thread(target=connect, args=(engine, start)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for engine in engines:
            engine.dispose()
    assert failures == []
