"""The archive of issues: an opened issue's public page, ``issues.html`` listing it by digest,
the digest's own Atom feed, the "view in your browser" link of both mail parts, the page's
policy, and the fidelity gate over the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import feedparser
import pytest

from publisher.errors import FidelityError
from publisher.mail.issues import Opened, find_digest, open_issue
from publisher.models import Issue
from publisher.site.issue_archive import INDEX, issues_feed_path
from publisher.site.pages import issue_path
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, REPO, Project

DAILY = issue_path("daily", "2026-03-29T12:00")  # NOW's minute in Berlin


@contextmanager
def _published(project: Project) -> Iterator[Outbox]:
    project.publish()
    store = Store.open(project.settings().database_url)
    try:
        yield Outbox(store.engine)
    finally:
        store.close()


@pytest.fixture
def outbox(db_project: Project) -> Iterator[Outbox]:
    """The published project's outbox, on both stores."""
    with _published(db_project) as outbox:
        yield outbox


def _open(project: Project, outbox: Outbox, name: str = "daily", **at: int) -> Issue:
    """Open digest ``name``'s issue ``at`` a time after NOW, then publish as the service does."""
    settings = project.settings()
    now = NOW + timedelta(**at)
    opened: Opened = open_issue(
        settings, outbox, environment_for(settings), find_digest(settings, name), now
    )
    assert opened.issue is not None, opened.reason
    project.publish(now)
    return opened.issue


def test_an_opened_issue_is_published_with_its_list_and_feed(
    db_project: Project, outbox: Outbox
) -> None:
    issue = _open(db_project, outbox)
    page = (db_project.public / DAILY).read_text()
    assert "Volunteers Count 4,000 Creatures in a Single Tide" in page
    listed = (db_project.public / INDEX).read_text()
    assert f'<a href="{DAILY}">{issue.subject}</a>' in listed
    feed = feedparser.parse((db_project.public / issues_feed_path("daily")).read_bytes())
    assert not feed.bozo, feed.bozo_exception
    (entry,) = feed.entries
    assert entry.title == issue.subject
    assert entry.link == f"http://localhost:8000/{DAILY}"
    # No weekly issue yet: the list says so and links no feed that does not exist.
    assert "issues/weekly/atom.xml" not in listed
    assert not (db_project.public / issues_feed_path("weekly")).exists()


def test_the_page_carries_no_reader_and_the_mail_links_to_it(
    db_project: Project, outbox: Outbox
) -> None:
    issue = _open(db_project, outbox)
    page = (db_project.public / DAILY).read_text()
    assert issue.nonce not in page
    for personal in ("unsubscribe/", "preferences", "Sent to", "View in your browser"):
        assert personal not in page, personal
    assert '<div class="preheader"' not in page
    assert f'<link rel="canonical" href="http://localhost:8000/{DAILY}">' in page
    url = f"http://localhost:8000/{DAILY}"
    assert re.search(rf'<a href="{re.escape(url)}"[^>]*>View in your browser</a>', issue.html)
    assert f"View in your browser: {url}" in issue.text


def test_a_later_publish_adds_only_the_new_page(db_project: Project, outbox: Outbox) -> None:
    _open(db_project, outbox)
    before = db_project.tree()
    _open(db_project, outbox, "weekly", minutes=5)
    after = db_project.tree()
    weekly = issue_path("weekly", "2026-03-29T12:05")
    changed = {path for path in after if before.get(path) != after[path]}
    assert changed == {weekly, INDEX, issues_feed_path("weekly")}
    assert after[DAILY] == before[DAILY]


def test_an_issue_page_may_use_inline_styles_and_still_no_script(
    db_project: Project, outbox: Outbox
) -> None:
    from starlette.testclient import TestClient

    from publisher.service.web import create_app

    _open(db_project, outbox)
    with TestClient(create_app(db_project.settings())) as client:
        page = client.get(f"/{DAILY}")
        home = client.get("/index.html")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy
    assert policy.startswith("default-src 'none';") and "script-src" not in policy  # no script
    assert "'unsafe-inline'" not in home.headers["content-security-policy"]


def test_a_page_that_drops_an_attribution_keeps_the_issue_from_opening(
    db_project: Project, outbox: Outbox
) -> None:
    """Only the public copy loses it (a theme override gone wrong): the mail parts would pass."""
    theme = db_project.root / "templates" / "_provenance.html"
    theme.parent.mkdir(parents=True, exist_ok=True)
    shipped = (REPO / "templates" / "_provenance.html").read_text()
    theme.write_text("{% if not (archive is defined and archive) %}" + shipped + "{% endif %}")
    settings = db_project.settings()
    with pytest.raises(FidelityError, match=r"\(web page\)"):
        open_issue(settings, outbox, environment_for(settings), find_digest(settings, "daily"), NOW)
    assert outbox.issues.archived() == []


def test_the_archive_matches_its_golden_files(
    project: Project, golden: Callable[[str, bytes], None]
) -> None:
    with _published(project) as outbox:
        _open(project, outbox)
    golden("issue-page.html", (project.public / DAILY).read_bytes())
    golden("issues.html", (project.public / INDEX).read_bytes())
    golden("issues-atom.xml", (project.public / issues_feed_path("daily")).read_bytes())
