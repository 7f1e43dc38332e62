"""The operator's console over HTTP (issue 13): sign-in for a session cookie, its flags and
expiry, CSRF on every form, each page and action, and the same actions through the admin API.
The browser tests (``test_console_browser.py``) drive the same pages in Chromium.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from publisher.cli.main import cli
from publisher.service import session
from publisher.service.web import create_app
from publisher.store.meta import form_key
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.forms import OWN, form_token

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
API = {"Authorization": f"Bearer {TOKEN}"}
BAD_DATE = "---\ntitle: Dated Wrong\ndate: 2026-13-45\nattribution: By us.\n---\nBody.\n"


@pytest.fixture
def console(db_project: Project) -> Iterator[tuple[Project, TestClient, Outbox]]:
    db_project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    db_project.publish()
    settings = db_project.settings()
    store = Store.open(settings.database_url)
    try:
        with TestClient(create_app(settings), follow_redirects=False) as client:
            yield db_project, client, Outbox(store.engine)
    finally:
        store.close()


def sign_in(client: TestClient, token: str = TOKEN) -> object:
    page = client.get("/admin/signin")
    fields = {"token": token, "csrf_token": form_token(page.text)}
    return client.post("/admin/signin", data=fields, headers={"Origin": OWN})


def post(client: TestClient, page: str, action: str, data: dict[str, str] | None = None) -> object:
    """Post a console form as a browser does: from ``page``, with its token for ``action``."""
    html = client.get(page).text
    field = r'>\s*<input type="hidden" name="csrf_token" value="([^"]+)"'
    found = re.search(rf'action="{re.escape(action)}"[^>]*{field}', html)
    assert found is not None, html[:3000]
    fields = {**(data or {}), "csrf_token": found.group(1)}
    return client.post(action, data=fields, headers={"Origin": OWN})


def test_every_page_wants_a_session_and_a_wrong_token_gets_none(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, _outbox = console
    for path in ("/admin/", "/admin/problems", "/admin/issues", "/admin/subscribers"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/signin"
    refused = client.post("/admin/publish", headers={"Origin": OWN})
    assert refused.status_code == 403
    wrong = sign_in(client, "not-the-token")
    assert wrong.status_code == 401 and "not the admin token" in wrong.text  # type: ignore[attr-defined]
    assert session.COOKIE not in client.cookies


def test_sign_in_sets_a_strict_http_only_expiring_cookie_and_sign_out_ends_it(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, _outbox = console
    done = sign_in(client)
    assert done.status_code == 303  # type: ignore[attr-defined]
    cookie = done.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert f"Max-Age={session.SESSION_SECONDS}" in cookie
    assert "Secure" not in cookie  # served over http here; https sites get Secure
    home = client.get("/admin/")
    assert home.status_code == 200 and "Overview" in home.text
    assert home.headers["cache-control"] == "no-store"
    ended = post(client, "/admin/", "/admin/signout")
    assert ended.status_code == 303  # type: ignore[attr-defined]
    assert client.get("/admin/").status_code == 303


def test_a_session_expires_and_a_new_token_ends_every_session() -> None:
    key = b"k" * 32
    value = session.session_value(key, TOKEN, 1_000_000.0)
    assert session.signed_in(key, TOKEN, value, 1_000_000.0 + 60)
    assert not session.signed_in(key, TOKEN, value, 1_000_000.0 + session.SESSION_SECONDS + 1)
    assert not session.signed_in(key, "another-token", value, 1_000_000.0 + 60)
    assert not session.signed_in(key, TOKEN, value[:-2] + "xx", 1_000_000.0 + 60)


def test_an_https_site_gets_a_secure_cookie(db_project: Project) -> None:
    db_project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    db_project.environ["PUBLISHER_SITE__BASE_URL"] = "https://news.example.org/"
    with TestClient(create_app(db_project.settings()), follow_redirects=False) as client:
        page = client.get("/admin/signin")
        fields = {"token": TOKEN, "csrf_token": form_token(page.text)}
        done = client.post("/admin/signin", data=fields, headers={"Origin": OWN})
    assert done.status_code == 303 and "Secure" in done.headers["set-cookie"]


def test_a_post_with_a_forged_or_missing_csrf_token_or_another_origin_changes_nothing(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    project, client, outbox = console
    sign_in(client)
    project.write("fresh.md", BAD_DATE.replace("2026-13-45", "2026-03-01"))
    forged = client.post("/admin/publish", data={"csrf_token": "1.forged"}, headers={"Origin": OWN})
    missing = client.post("/admin/publish", headers={"Origin": OWN})
    html = client.get("/admin/problems").text
    good = form_token(html)
    elsewhere = client.post(
        "/admin/publish", data={"csrf_token": good}, headers={"Origin": "https://evil.example"}
    )
    other_form = client.post(  # a token made for another form does not open this one
        "/admin/subscribers/import",
        data={"csrf_token": good, "csv": "x@example.org"},
        headers={"Origin": OWN},
    )
    assert [r.status_code for r in (forged, missing, elsewhere, other_form)] == [403] * 4
    assert "fresh" not in client.get("/admin/").text
    assert not any(s.address == "x@example.org" for s in outbox.subscribers.each())


def test_a_bad_file_shows_on_the_problems_page_in_check_s_words_and_publish_now_reports(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    project, client, _outbox = console
    sign_in(client)
    project.write("bad-date.md", BAD_DATE)
    done = post(client, "/admin/problems", "/admin/publish")
    assert done.status_code == 200  # type: ignore[attr-defined]
    text = done.text  # type: ignore[attr-defined]
    assert "Publish done in" in text and "bad-date.md" in text
    command = ["--root", str(project.root), "check", "--json"]
    checked = CliRunner().invoke(cli, command, env=project.environ)
    (problem,) = [p for p in json.loads(checked.output) if p["path"] == "bad-date.md"]
    shown = html.unescape(text)
    assert problem["reason"] in shown and problem["hint"] in shown and problem["field"] in shown
    home = client.get("/admin/").text
    assert re.search(r'id="problem-count"><a href="/admin/problems">1<', home)
    assert "Last publishes" in home and "<svg" in home


def test_issue_pages_and_actions(console: tuple[Project, TestClient, Outbox]) -> None:
    _project, client, outbox = console
    sign_in(client)
    outbox.subscribers.add([("ada@example.com", ["daily"])], "active", NOW)
    opened = post(client, "/admin/issues", "/admin/digests/daily/send")
    assert opened.status_code == 303  # type: ignore[attr-defined]
    where = opened.headers["location"]  # type: ignore[attr-defined]
    issue_id = int(where.split("/")[-1].split("?")[0])
    page = client.get(where)
    assert page.status_code == 200 and "Issue opened" in page.text
    assert 'id="state-queued">1<' in page.text and 'http-equiv="refresh"' in page.text
    preview = client.get("/admin/digests/daily/preview")
    assert preview.status_code == 200 and 'sandbox="' in preview.text
    frame = client.get("/admin/digests/daily/preview.html")
    assert frame.status_code == 200 and "sandbox" in frame.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    retried = post(client, where, f"/admin/issues/{issue_id}/retry")
    assert retried.headers["location"].endswith("done=retry-0")  # type: ignore[attr-defined]
    missing = client.get("/admin/issues/999999")
    assert missing.status_code == 404 and "there is no issue 999999" in missing.text


def test_subscribers_search_add_change_remove_import_export(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, outbox = console
    sign_in(client)
    added = post(
        client,
        "/admin/subscribers",
        "/admin/subscribers/change",
        {"do": "add", "address": "ada@example.com\nbob@example.org", "digest": "daily"},
    )
    assert "2 added" in added.text  # type: ignore[attr-defined]
    found = client.get("/admin/subscribers", params={"q": "ADA"})
    assert "ada@example.com" in found.text and "bob@example.org" not in found.text
    changed = post(
        client,
        "/admin/subscribers",
        "/admin/subscribers/change",
        {"do": "unsubscribe", "address": "bob@example.org"},
    )
    assert "bob@example.org: unsubscribed" in changed.text  # type: ignore[attr-defined]
    bob = next(s for s in outbox.subscribers.each() if s.address == "bob@example.org")
    assert bob.status == "unsubscribed"
    imported = post(
        client,
        "/admin/subscribers",
        "/admin/subscribers/import",
        {"csv": "email,digests\ncy@example.net,weekly\nnot-an-address\n"},
    )
    text = imported.text  # type: ignore[attr-defined]
    assert "1 added" in text and "line 3" in text
    export = client.get("/admin/subscribers/export.csv")
    assert export.headers["content-type"].startswith("text/csv")
    assert "cy@example.net,weekly,active" in export.text


def test_every_console_action_is_an_admin_api_route(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, _outbox = console
    added = client.post(
        "/api/subscribers", json={"addresses": ["ada@example.com"], "digests": []}, headers=API
    )
    assert added.json() == {
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "refused": [],
        "problems": [],
    }
    odd = client.post(
        "/api/subscribers", json={"addresses": ["x@y.test"], "digests": []}, headers=API
    )
    assert odd.status_code == 200 and "x@y.test" in odd.json()["problems"][0]
    nobody = client.post("/api/subscribers/unsubscribe", json={"address": "nope"}, headers=API)
    assert nobody.status_code == 404
    wrong = client.get("/api/subscribers", params={"status": "gone"}, headers=API)
    assert wrong.status_code == 422
    chosen = client.post(
        "/api/subscribers/digests",
        json={"address": "ada@example.com", "digests": ["weekly"]},
        headers=API,
    )
    assert chosen.json()["digests"] == ["weekly"]
    sent = client.post("/api/digests/weekly/send", headers=API).json()
    assert sent["opened"] and sent["recipients"] == 1
    issue = client.get(f"/api/issues/{sent['id']}", headers=API).json()
    assert issue["states"]["queued"] == 1 and issue["articles"]
    assert client.get("/api/issues", headers=API).json()["issues"][0]["id"] == sent["id"]
    assert client.post(f"/api/issues/{sent['id']}/retry", headers=API).json()["queued"] == 0
    reactivated = client.post(f"/api/issues/{sent['id']}/reactivate", headers=API).json()
    assert reactivated == {"issue": sent["id"], "reactivated": []}
    assert client.get("/api/issues/12345", headers=API).status_code == 404
    preview = client.get("/api/digests/daily/preview", headers=API).json()
    assert preview["html"].startswith("<!DOCTYPE html") or "<html" in preview["html"]
    found = client.get("/api/subscribers", params={"q": "ada"}, headers=API).json()
    assert found["total"] == 1
    gone = client.post(
        "/api/subscribers/unsubscribe", json={"address": "ada@example.com"}, headers=API
    )
    assert gone.json()["status"] == "unsubscribed"
    imported = client.post(
        "/api/subscribers/import", json={"csv": "bad\nbo@example.org\n"}, headers=API
    ).json()
    assert imported["added"] == 1 and imported["problems"][0].startswith("line 1")
    assert "bo@example.org" in client.get("/api/subscribers/export", headers=API).text
    refused = client.post("/api/subscribers", json={"addresses": "x"}, headers=API)
    assert refused.status_code == 422
    described = client.get("/api/openapi.json", headers=API).json()["paths"]
    assert {"/api/issues/{id}/reactivate", "/api/subscribers/import"} <= set(described)


def test_signin_prints_a_working_token_kept_under_var_never_in_config(
    project: Project, tmp_path: Path
) -> None:
    ran = CliRunner().invoke(cli, ["--root", str(project.root), "signin"], env=project.environ)
    assert ran.exit_code == 0, ran.output
    token = re.search(r"token:\s+(\S+)", ran.output)
    assert token is not None and "http://127.0.0.1:8000/admin/" in ran.output
    kept = project.root / "var" / "admin-token"
    assert kept.read_text().strip() == token.group(1)
    assert kept.stat().st_mode & 0o077 == 0
    assert token.group(1) not in "".join(
        p.read_text() for p in (project.root / "config").rglob("*") if p.is_file()
    )
    again = CliRunner().invoke(cli, ["--root", str(project.root), "signin"], env=project.environ)
    assert token.group(1) in again.output  # made once
    settings = project.settings()
    assert settings.web.admin_token == token.group(1)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        assert sign_in(client, token.group(1)).status_code == 303  # type: ignore[attr-defined]


def test_without_a_token_the_console_is_off(project: Project) -> None:
    project.publish()
    with TestClient(create_app(project.settings()), follow_redirects=False) as client:
        answer = client.get("/admin/signin")
        assert answer.status_code == 503 and "publisher signin" in answer.text
        assert client.get("/admin/").status_code == 503


def test_the_form_key_signs_sessions_for_every_web_process(
    console: tuple[Project, TestClient, Outbox],
) -> None:
    project, _client, outbox = console
    value = session.session_value(form_key(outbox.engine), TOKEN, time.time())
    with TestClient(create_app(project.settings()), follow_redirects=False) as other:
        other.cookies.set(session.COOKIE, value, path="/admin")
        assert other.get("/admin/").status_code == 200
