"""End-to-end publishes: outputs, idempotence, incremental work, withdrawal, the fidelity gate."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.site.export import write_atomic
from tests.conftest import NOW, Project

SALT_MARSH = "articles/the-salt-marsh-that-came-back.html"


def test_bundled_content_is_published_everywhere(db_project: Project) -> None:
    report = db_project.publish()
    assert len(report.new) == 4 and not report.skipped and not report.refused
    files = set(db_project.tree())
    assert {
        "index.html",
        "archive.html",
        "archive/2024.html",
        "atom.xml",
        "rss.xml",
        "feed.json",
    } <= files
    assert {f"tags/rivers/{name}" for name in ("atom.xml", "rss.xml", "feed.json")} <= files
    assert "tags/rivers.html" in files
    assert len([f for f in files if f.startswith("articles/")]) == 4
    page = (db_project.public / SALT_MARSH).read_text()
    assert "This article first appeared in Estuary Review. Copyright © Ines Duarte" in page
    assert "Harbor Wire articles may contain material" in page


def test_second_publish_changes_no_byte_and_no_mtime(db_project: Project) -> None:
    db_project.publish()
    before = db_project.tree()
    time.sleep(0.01)
    report = db_project.publish(NOW + timedelta(hours=1))
    assert not report.changed
    assert report.unchanged == 4
    assert db_project.tree() == before


def test_editing_one_article_changes_only_outputs_that_carry_it(db_project: Project) -> None:
    db_project.publish()
    before = db_project.tree()
    path = db_project.root / "content" / "river-library.html"
    path.write_text(path.read_text().replace("380 kilograms", "412 kilograms"))
    report = db_project.publish(NOW + timedelta(hours=1))
    assert report.updated == ["river-library.html"]
    after = db_project.tree()
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {
        "articles/a-lending-library-for-river-gear.html",
        *(
            f"{prefix}{name}"
            for prefix in ("", "tags/rivers/", "tags/community/")
            for name in ("atom.xml", "rss.xml", "feed.json")
        ),
    }


def test_a_new_article_is_added_without_rereading_the_rest(db_project: Project) -> None:
    db_project.publish()
    db_project.write(
        "new.md",
        "---\ntitle: Fresh\ndate: 2025-01-02\nattribution: © Me\ntags: [Rivers]\n---\nHello.\n",
    )
    report = db_project.publish(NOW + timedelta(hours=1))
    assert report.new == ["new.md"] and report.unchanged == 4
    assert "articles/fresh.html" in report.written
    assert "Fresh" in (db_project.public / "tags" / "rivers.html").read_text()


def test_deleted_article_is_withdrawn_with_its_page_and_lonely_tags(db_project: Project) -> None:
    db_project.publish()
    (db_project.root / "content" / "ferry-timetable.txt").unlink()
    report = db_project.publish(NOW + timedelta(hours=1))
    assert report.removed == ["ferry-timetable.txt"]
    files = db_project.tree()
    assert "articles/night-ferry.html" not in files
    assert not any(f.startswith(("tags/norway", "tags/transport")) for f in files)
    assert "tags/community.html" in files  # still carried by the river library article
    assert "Night Ferry" not in (db_project.public / "atom.xml").read_text()


def test_wiped_public_folder_is_restored_from_the_store(project: Project) -> None:
    project.publish()
    before = {path: digest for path, (digest, _) in project.tree().items()}
    for path in sorted(project.public.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    project.publish(NOW + timedelta(hours=1))
    assert {path: digest for path, (digest, _) in project.tree().items()} == before


def test_template_change_rebuilds_everything_but_writes_only_differences(project: Project) -> None:
    project.publish()
    templates = project.root / "templates"
    templates.mkdir()
    listing = (Path(__file__).parents[2] / "templates" / "listing.html").read_text()
    (templates / "listing.html").write_text(listing.replace("<h1>", "<h1 class='x'>"))
    report = project.publish(NOW + timedelta(hours=1))
    assert report.written and all(
        path.endswith(".html") and not path.startswith("articles/") for path in report.written
    )


def test_fidelity_gate_refuses_a_page_that_lost_the_disclaimer(project: Project) -> None:
    templates = project.root / "templates"
    templates.mkdir()
    theme = Path(__file__).parents[2] / "templates"
    (templates / "article.html").write_text(
        (theme / "article.html")
        .read_text()
        .replace('{% include "_content.html" %}', "{{ article.body_html | clean }}")
    )
    report = project.publish()
    refused = [line for line in report.refused if SALT_MARSH in line]
    assert (
        refused
        and "The Salt Marsh That Came Back" in refused[0]
        and "attribution" in " ".join(refused)
    )
    assert not (project.public / SALT_MARSH).exists()
    assert (project.public / "atom.xml").exists()  # the rest is published


def test_fidelity_gate_refuses_a_feed_whose_entries_lost_the_attribution(project: Project) -> None:
    templates = project.root / "templates"
    templates.mkdir()
    theme = Path(__file__).parents[2] / "templates"
    provenance = (theme / "_provenance.html").read_text()
    (templates / "_provenance.html").write_text(
        provenance.replace("{{ article.attribution | clean }}", "")
    )
    report = project.publish()
    assert any(line.startswith("atom.xml: lost the attribution") for line in report.refused)
    assert not (project.public / "atom.xml").exists()
    assert not (project.public / "articles").exists()


def test_write_atomic_replaces_in_one_step_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "feed.xml"
    write_atomic(target, b"old")
    inode = target.stat().st_ino
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_ino != inode  # a new file renamed over the old one
    assert os.listdir(target.parent) == ["feed.xml"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "feed.xml"
    write_atomic(target, b"old")

    def broken(self: Path, data: bytes) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["feed.xml"]


def test_outputs_are_recorded_in_the_store_for_a_web_process(db_project: Project) -> None:
    from publisher.store.publishing import Store

    db_project.publish()
    store = Store.open(db_project.settings().database_url)
    try:
        with store.transaction():
            media_type, body, _digest, _updated = store.outputs.read("atom.xml") or (
                "",
                b"",
                "",
                None,
            )
    finally:
        store.close()
    assert media_type == "application/atom+xml; charset=utf-8"
    assert body == (db_project.public / "atom.xml").read_bytes()


def test_archive_is_split_by_year_and_follows_date_edits(db_project: Project) -> None:
    db_project.publish()
    archive = (db_project.public / "archive.html").read_text()
    assert 'href="archive/2024.html"' in archive and "4 articles" in archive
    path = db_project.root / "content" / "tidal-pools-census.md"
    path.write_text(path.read_text().replace("date: 2024-05-18", "date: 2023-05-18"))
    db_project.publish(NOW + timedelta(hours=1))
    year_2023 = (db_project.public / "archive" / "2023.html").read_text()
    year_2024 = (db_project.public / "archive" / "2024.html").read_text()
    assert "Volunteers Count" in year_2023 and "Volunteers Count" not in year_2024
    path.unlink()
    db_project.publish(NOW + timedelta(hours=2))
    assert not (db_project.public / "archive" / "2023.html").exists()
    assert "2023" not in (db_project.public / "archive.html").read_text()


def test_worker_processes_publish_the_same_bytes(
    tmp_path: Path, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from publisher.site import parallel

    twin = Project(tmp_path / "twin", dict(project.environ))
    shutil.copytree(project.root, twin.root)
    project.publish()
    monkeypatch.setattr(parallel, "THRESHOLD", 2)  # fork workers even for four articles
    report = twin.publish()
    assert len(report.new) == 4 and not report.refused
    assert {p: d for p, (d, _) in twin.tree().items()} == {
        p: d for p, (d, _) in project.tree().items()
    }


def _in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages and lists of even a small site built in worker processes."""
    from publisher.site import parallel, publish

    monkeypatch.setattr(parallel, "THRESHOLD", 2)
    monkeypatch.setattr(publish, "LIST_JOBS", 2)


def test_lists_built_in_workers_are_the_bytes_built_here(
    tmp_path: Path, db_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feeds and listing pages of a large full build are rendered and gated by workers with
    store connections of their own (on either store): the same bytes as in this process."""
    import shutil

    here = Project(tmp_path / "here", {})
    shutil.copytree(db_project.root / "content", here.root / "content")
    shutil.copytree(db_project.root / "config", here.root / "config")
    here.publish()
    _in_workers(monkeypatch)
    report = db_project.publish()
    assert len(report.new) == 4 and not report.refused
    assert {p: d for p, (d, _) in db_project.tree().items()} == {
        p: d for p, (d, _) in here.tree().items()
    }


def test_a_list_template_that_fails_in_workers_is_reported_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.root / "templates").mkdir()
    (project.root / "templates" / "listing.html").write_text("{{ no_such_value }}\n")
    _in_workers(monkeypatch)
    report = project.publish()
    lists = [line for line in report.refused if line.startswith("feeds and listings:")]
    assert len(lists) == 1 and "listing.html" in lists[0], report.refused
    assert (project.public / SALT_MARSH).exists()  # the articles are published


def test_renamed_file_keeps_its_id_and_its_page(db_project: Project) -> None:
    db_project.publish()
    before = db_project.tree()
    atom = (db_project.public / "atom.xml").read_text()
    content = db_project.root / "content"
    (content / "river-library.html").rename(content / "2024-06-river-library.html")
    report = db_project.publish(NOW + timedelta(hours=1))
    assert report.updated == ["2024-06-river-library.html"] and not report.removed
    assert (db_project.public / "atom.xml").read_text() == atom
    assert db_project.tree() == before


def _parent(_state: None, _item: int) -> int:
    return os.getppid()


def _nothing(_recipe: None) -> None:
    return None


def test_workers_are_never_forked_from_the_publishing_process() -> None:
    """A publish runs on a thread of the web server or the worker; ``fork`` there copies
    other threads' held locks into the child (deadlock), so workers come from a forkserver."""
    from publisher.site.parallel import THRESHOLD, fan_out

    parents = set(fan_out(_parent, _nothing, None, range(THRESHOLD + 50)))
    assert os.getpid() not in parents
