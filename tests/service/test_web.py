"""The web process through Starlette's test client: conditional GET of feeds and pages from the
store, the readers' signed pages (RFC 8058 one-click unsubscribe), and the admin API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from starlette.testclient import TestClient

from publisher.mail.messages import letter_for
from publisher.mail.tokens import confirm_token, sign, token
from publisher.models import Subscriber
from publisher.service.conditional import etag_matches
from publisher.service.web import create_app
from publisher.store.meta import Processes, TaskHealth, form_key
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import NOW, Project
from tests.corpus import growing
from tests.forms import post_form, post_signed
from tests.smtpserver import MailServer

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def site(db_project: Project) -> Iterator[tuple[Project, TestClient, Outbox]]:
    db_project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    db_project.publish()
    settings = db_project.settings()
    store = Store.open(settings.database_url)
    try:
        with TestClient(create_app(settings)) as client:
            yield db_project, client, Outbox(store.engine)
    finally:
        store.close()


def _reader(outbox: Outbox) -> Subscriber:
    outbox.subscribers.add([("ada@example.com", ["daily", "weekly"])], "active", NOW)
    (reader,) = outbox.subscribers.each()
    return reader


def test_feeds_have_their_media_type_and_validators(
    site: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, _outbox = site
    for path, media in [
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == media
        assert re.fullmatch(r'"[0-9a-f]{32}"', response.headers["etag"])
        assert response.headers["last-modified"].endswith(" GMT")
        assert response.headers["cache-control"] == "public, max-age=300"
    assert client.get("/atom.xml").content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


@pytest.mark.parametrize(
    "header", ["{etag}", "W/{etag}", '"other", {etag}', "*"], ids=["strong", "weak", "list", "any"]
)
def test_if_none_match_gives_304_with_no_body(
    site: tuple[Project, TestClient, Outbox], header: str
) -> None:
    _project, client, _outbox = site
    etag = client.get("/atom.xml").headers["etag"]
    again = client.get(
        "/atom.xml",
        headers={"If-None-Match": header.format(etag=etag), "Accept-Encoding": "gzip"},
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/atom.xml", headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_modified_since_and_a_new_publish(site: tuple[Project, TestClient, Outbox]) -> None:
    project, client, _outbox = site
    first = client.get("/atom.xml")
    since = first.headers["last-modified"]
    assert client.get("/atom.xml", headers={"If-Modified-Since": since}).status_code == 304
    project.publish(NOW + timedelta(hours=1))  # nothing new: the same bytes, the same ETag
    same = client.get("/atom.xml", headers={"If-None-Match": first.headers["etag"]})
    assert same.status_code == 304
    project.write(
        "new.md",
        "---\ntitle: New\ndate: 2026-03-29\nattribution: By us.\n---\nFresh.\n",
    )
    project.publish(NOW + timedelta(hours=2))
    changed = client.get("/atom.xml", headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    old = format_datetime((NOW - timedelta(days=3650)).astimezone(UTC), usegmt=True)
    assert client.get("/atom.xml", headers={"If-Modified-Since": old}).status_code == 200


def test_head_and_not_found(site: tuple[Project, TestClient, Outbox]) -> None:
    _project, client, _outbox = site
    head = client.head("/rss.xml")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]
    missing = client.get("/no/such/page.html")
    assert missing.status_code == 404 and "Not found" in missing.text


def test_etag_comparison_is_weak() -> None:
    assert etag_matches('W/"abc"', '"abc"')
    assert etag_matches(' "x" , W/"abc"', '"abc"')
    assert not etag_matches('"abcd"', '"abc"')


def test_one_click_unsubscribe_is_a_post_and_a_get_only_asks(
    site: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, outbox = site
    reader = _reader(outbox)
    url = f"/unsubscribe/{token(reader, 'unsubscribe')}"
    page = client.get(url)
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert outbox.subscribers.get(reader.id).status == "active"  # type: ignore[union-attr]
    client.cookies.clear()
    # RFC 8058 §3.1: what a mail provider posts, multipart, with no cookie and no CSRF token.
    posted = client.post(
        url, files={"List-Unsubscribe": (None, "One-Click")}, follow_redirects=False
    )
    assert posted.status_code == 200 and "will receive no more digests" in posted.text
    assert outbox.subscribers.get(reader.id).status == "unsubscribed"  # type: ignore[union-attr]
    again = client.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert again.status_code == 200
    assert "set-cookie" not in posted.headers


@pytest.mark.parametrize("purpose", ["manage", "forged"])
def test_a_link_for_another_purpose_or_forged_is_refused(
    site: tuple[Project, TestClient, Outbox], purpose: str
) -> None:
    _project, client, outbox = site
    reader = _reader(outbox)
    signed = (
        token(reader, "manage") if purpose == "manage" else f"{reader.id}.AAAAAAAAAAAAAAAAAAAAAA"
    )
    for value in (signed, "not-a-token", "999.x"):
        refused = client.post(f"/unsubscribe/{value}", data={"List-Unsubscribe": "One-Click"})
        assert refused.status_code == 400 and "not valid" in refused.text
    assert outbox.subscribers.get(reader.id).status == "active"  # type: ignore[union-attr]


def test_readers_choose_their_digests(site: tuple[Project, TestClient, Outbox]) -> None:
    _project, client, outbox = site
    reader = _reader(outbox)
    url = f"/manage/{token(reader, 'manage')}"
    page = client.get(url)
    assert page.text.count("checked") == 2
    post_form(client, url, {"digest": ["weekly", "bogus"]})
    assert outbox.subscribers.get(reader.id).digests == ("weekly",)  # type: ignore[union-attr]
    post_form(client, url, {})
    assert outbox.subscribers.get(reader.id).status == "unsubscribed"  # type: ignore[union-attr]
    post_form(client, url, {"digest": "daily"})  # the reader may come back; an import may not
    back = outbox.subscribers.get(reader.id)
    assert back is not None and back.status == "active" and back.digests == ("daily",)


def test_the_links_in_a_digest_work(site: tuple[Project, TestClient, Outbox]) -> None:
    from email import message_from_bytes
    from email.policy import default

    project, client, outbox = site
    reader = _reader(outbox)
    from publisher.mail.issues import find_digest, open_issue
    from publisher.site.render import environment_for

    settings = project.settings()
    opened = open_issue(
        settings, outbox, environment_for(settings), find_digest(settings, "daily"), NOW
    )
    assert opened.issue is not None
    message = message_from_bytes(
        letter_for(settings, opened.issue).bytes_for(reader), policy=default
    )
    found = re.search(r"<(https?://[^>]+)>", str(message["List-Unsubscribe"]))
    assert found is not None
    path = found.group(1).removeprefix(settings.site.base_url.rstrip("/"))
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert outbox.subscribers.get(reader.id).status == "unsubscribed"  # type: ignore[union-attr]


def test_the_admin_api_needs_the_token(site: tuple[Project, TestClient, Outbox]) -> None:
    _project, client, _outbox = site
    for method, path in [
        ("POST", "/api/publish"),
        ("GET", "/api/status"),
        ("POST", "/api/digests/daily/send"),
    ]:
        assert client.request(method, path).status_code == 401
        wrong = {"Authorization": "Bearer wrong"}
        assert client.request(method, path, headers=wrong).status_code == 401
    ok = {"Authorization": f"Bearer {TOKEN}"}
    status = client.get("/api/status", headers=ok).json()
    assert status["articles"] == 4 and status["outbox"]["sent"] == 0
    assert set(status["next_runs"]) == {"publish", "digest:daily", "digest:weekly"}
    assert status["last_runs"] == {}  # no worker has run yet
    published = client.post("/api/publish", headers=ok).json()
    assert published["new"] == [] and published["refused"] == []
    sent = client.post("/api/digests/daily/send", headers=ok).json()
    assert sent["opened"] is True and sent["articles"] == 4
    again = client.post("/api/publish?digest=daily", headers=ok).json()
    assert again["issue"]["opened"] is False
    unknown = client.post("/api/digests/hourly/send", headers=ok)
    assert unknown.status_code == 422 and "no digest named 'hourly'" in unknown.json()["error"]


def test_without_a_configured_token_the_admin_api_is_closed(project: Project) -> None:
    project.publish()
    with TestClient(create_app(project.settings())) as client:
        assert client.post("/api/publish", headers={"Authorization": "Bearer "}).status_code == 503
        assert client.get("/healthz").json() == {"ok": True, "tasks": {}}


def _confirm_link(mail_server: MailServer) -> str:
    body = str(mail_server.received[-1].message().get_content())
    found = re.search(r"http://localhost:8000(/confirm/\S+)", body)
    assert found is not None, body
    return found.group(1)


def test_double_opt_in_mails_a_link_and_only_its_post_subscribes(
    signup: tuple[TestClient, Outbox, MailServer],
) -> None:
    client, outbox, server = signup
    form = client.get("/subscribe")
    assert 'name="email"' in form.text and 'name="website"' in form.text
    sent = post_form(client, "/subscribe", {"email": "Ada@Example.COM", "digest": "weekly"})
    assert sent.status_code == 200 and "Check your inbox" in sent.text
    assert [r.recipients for r in server.received] == [["Ada@example.com"]]
    (reader,) = outbox.subscribers.each()
    assert (reader.status, reader.digests) == ("pending", ("weekly",))
    assert (
        outbox.subscribers.audience_size("weekly") == 0
    )  # nothing goes out before the confirmation
    link = _confirm_link(server)
    page = client.get(link)
    assert page.status_code == 200 and 'id="confirm"' in page.text
    assert outbox.subscribers.get(reader.id).status == "pending"  # type: ignore[union-attr]
    done = post_form(client, link)
    assert done.status_code == 200 and 'id="confirmed"' in done.text
    assert outbox.subscribers.audience_size("weekly") == 1


def test_subscribe_cannot_be_used_to_bomb_or_probe_an_address(
    signup: tuple[TestClient, Outbox, MailServer],
) -> None:
    client, outbox, server = signup
    answers = {post_form(client, "/subscribe", {"email": "bo@example.net"}).text for _ in range(10)}
    assert len(server.received) == 1  # one confirmation an hour, however often it is asked
    outbox.subscribers.add([("cy@example.org", ["daily"])], "active", NOW)
    answers.add(post_form(client, "/subscribe", {"email": "cy@example.org"}).text)
    assert len(answers) == 1  # the same page for new, pending and active addresses
    assert len(server.received) == 1
    trapped = post_form(client, "/subscribe", {"email": "dee@example.org", "website": "spam"})
    assert trapped.status_code == 200 and len(server.received) == 1  # the honeypot sends nothing
    body = str(server.received[0].message().get_content())
    assert "spam" not in body


@pytest.mark.parametrize(
    "address", ["not-an-address", "a@example.com\r\nBcc: victim@example.com", "x" * 300 + "@e.com"]
)
def test_a_bad_address_is_refused_with_422(
    signup: tuple[TestClient, Outbox, MailServer], address: str
) -> None:
    client, outbox, server = signup
    refused = post_form(client, "/subscribe", {"email": address})
    assert refused.status_code == 422 and "does not look like an email address" in refused.text
    assert list(outbox.subscribers.each()) == [] and server.received == []


def test_a_confirmation_link_expires_and_cannot_be_forged(
    signup: tuple[TestClient, Outbox, MailServer],
) -> None:
    client, outbox, server = signup
    post_form(client, "/subscribe", {"email": "ada@example.com"})
    (reader,) = outbox.subscribers.each()
    expired = confirm_token(reader, int(time.time()) - 1)
    forged = _confirm_link(server).replace("/confirm/", "/confirm/").rsplit(".", 1)[0] + ".AAAA"
    key = form_key(outbox.engine)
    for link in (f"/confirm/{expired}", forged, f"/confirm/{token(reader, 'unsubscribe')}"):
        assert post_signed(client, link, key).status_code == 400
    assert outbox.subscribers.get(reader.id).status == "pending"  # type: ignore[union-attr]


def test_metrics_speak_prometheus(site: tuple[Project, TestClient, Outbox]) -> None:
    _project, client, outbox = site
    _reader(outbox)
    client.post("/api/digests/daily/send", headers=ADMIN)
    client.post("/api/publish", headers=ADMIN)
    metrics = client.get("/metrics", headers=ADMIN)
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = dict(
        line.rsplit(" ", 1) for line in metrics.text.splitlines() if not line.startswith("#")
    )
    assert values["publisher_articles"] == "4"
    assert values["publisher_issues_total"] == "1"
    assert values["publisher_publishes_total"] == "2"  # the issue's page, then /api/publish
    assert values['publisher_deliveries{state="queued"}'] == "1"
    assert values["publisher_send_rate"] == "0"


def test_the_openapi_description_is_behind_the_token(
    site: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, _outbox = site
    assert client.get("/api/openapi.json").status_code == 401
    spec = client.get("/api/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    (mount,) = [r for r in client.app.routes if getattr(r, "path", "") == "/api"]  # type: ignore[attr-defined]
    served = {"/api" + route.path.replace("{id:int}", "{id}") for route in mount.routes}
    assert set(spec["paths"]) == served  # every route is described, and nothing else
    assert {"/api/publish", "/api/issues/{id}/reactivate", "/api/subscribers/import"} <= served
    for path in spec["paths"].values():
        for operation in path.values():
            assert operation["security"] == [{"bearer": []}]


def test_every_api_route_refuses_without_the_token(
    site: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, _outbox = site
    (mount,) = [r for r in client.app.routes if getattr(r, "path", "") == "/api"]  # type: ignore[attr-defined]
    assert len(mount.routes) == 15
    for route in mount.routes:
        path = "/api" + route.path.replace("{name}", "daily").replace("{id:int}", "1")
        for method in route.methods - {"HEAD"}:
            assert client.request(method, path).status_code == 401, (method, path)


@pytest.mark.parametrize(
    "number",
    ["\u00b2", "\u0661", "1\u00b2", "9" * 20, str(2**31), "0x1", "-1", ""],
    ids=[
        "superscript",
        "arabic-indic",
        "mixed",
        "20 digits",
        "past INTEGER",
        "hex",
        "minus",
        "none",
    ],
)
def test_a_link_whose_id_is_not_a_plain_number_gets_the_documented_400(
    site: tuple[Project, TestClient, Outbox], number: str
) -> None:
    _project, client, outbox = site
    reader = _reader(outbox)
    key = form_key(outbox.engine)
    for path, purpose in [("unsubscribe", "unsubscribe"), ("manage", "manage")]:
        link = f"/{path}/{number}.{sign(reader.secret, purpose)}"
        for answer in (client.get(link), post_signed(client, link, key)):
            assert answer.status_code == 400 and "not valid" in answer.text, link
    for value in (f"{number}.{int(time.time()) + 60}.x", f"{reader.id}.{number}.x"):
        assert post_signed(client, f"/confirm/{value}", key).status_code == 400
    assert client.post(f"/unsubscribe/{reader.id}.\u00e9\u00e9").status_code == 400
    assert outbox.subscribers.get(reader.id).status == "active"  # type: ignore[union-attr]


def test_the_status_reports_a_schedule_it_cannot_compute_for_that_job_only(
    db_project: Project,
) -> None:
    db_project.environ["PUBLISHER_ADMIN_TOKEN"] = TOKEN
    loaded = db_project.settings()
    # Refused at load by the config check; set past it, as a schedule that breaks at run time.
    daily = replace(loaded.digests[0], schedule="0 25 * * *")
    settings = replace(loaded, digests=(daily, *loaded.digests[1:]))
    with TestClient(create_app(settings)) as client:
        status = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status.status_code == 200
    body = status.json()
    assert body["next_runs"]["digest:daily"] == [] and len(body["next_runs"]["publish"]) == 1
    assert len(body["next_runs"]["digest:weekly"]) == 1
    assert set(body["schedule_errors"]) == {"digest:daily"}
    assert "'0 25 * * *' is not a cron expression" in body["schedule_errors"]["digest:daily"]


def test_the_api_publish_says_when_a_file_could_not_be_published(
    site: tuple[Project, TestClient, Outbox],
) -> None:
    project, client, _outbox = site
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/publish", headers=ok).json()["ok"] is True
    project.write("copy.md", "---\ntitle: Copy\n---\nWhose words these are, nobody says.\n")
    answer = client.post("/api/publish", headers=ok)
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is False and body["new"] == []
    (problem,) = [p for p in body["problems"] if p["path"] == "copy.md"]
    assert problem["severity"] == "error" and problem["reason"] == "no attribution"
    # The status and the metrics of any process show the stored problems too.
    status = client.get("/api/status", headers=ok).json()
    assert [p["path"] for p in status["problems"] if p["severity"] == "error"] == ["copy.md"]
    metrics = client.get("/metrics", headers=ADMIN).text
    assert re.search(r"^publisher_content_problems [1-9]", metrics, re.M)


def test_status_and_metrics_show_the_tasks_of_every_live_process(
    site: tuple[Project, TestClient, Outbox],
) -> None:
    _project, client, outbox = site
    processes = Processes(outbox.engine)
    now = datetime.now(UTC)
    processes.save_tasks(
        [
            TaskHealth("host-a:1", "drain", "unhealthy", 4, "database gone", now, now),
            TaskHealth("host-a:1", "watcher", "ok", 0, "", now, now),
        ]
    )
    long_ago = now - timedelta(minutes=10)
    processes.save_tasks([TaskHealth("host-b:2", "drain", "ok", 0, "", long_ago, long_ago)])
    status = client.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    found = {(t["process"], t["task"]): (t["state"], t["stale"]) for t in status["tasks"]}
    assert found == {
        ("host-a:1", "drain"): ("unhealthy", False),
        ("host-a:1", "watcher"): ("ok", False),
        ("host-b:2", "drain"): ("ok", True),  # its process stopped sending heartbeats
    }
    metrics = client.get("/metrics", headers=ADMIN).text
    assert "publisher_tasks_unhealthy 1" in metrics
    assert 'publisher_task_unhealthy{process="host-a:1",task="drain"} 1' in metrics
    assert 'publisher_task_failures{process="host-a:1",task="drain"} 4' in metrics
    assert "host-b:2" not in metrics and "publisher_processes_silent 1" in metrics


def test_the_api_publish_says_when_a_file_never_settled(db_project: Project) -> None:
    db_project.environ.update(
        {
            "PUBLISHER_ADMIN_TOKEN": TOKEN,
            "PUBLISHER_CONTENT__SETTLE_SECONDS": "0.1",
            "PUBLISHER_CONTENT__SETTLE_WAIT_SECONDS": "1",
        }
    )
    still = db_project.write("growing.md", "---\ntitle: Growing\nattribution: Us.\n---\n")
    with growing(still), TestClient(create_app(db_project.settings())) as client:
        answer = client.post("/api/publish", headers={"Authorization": f"Bearer {TOKEN}"})
    body = answer.json()
    assert answer.status_code == 200 and body["ok"] is False
    (problem,) = [p for p in body["problems"] if p["path"] == "growing.md"]
    assert problem["severity"] == "error" and "still being written" in problem["reason"]
    assert len(body["new"]) == 4  # the rest is published


def test_an_api_publish_right_after_a_drop_opens_the_issue_with_the_new_article(
    db_project: Project,
) -> None:
    from tests.corpus import article_text

    db_project.environ.update(
        {"PUBLISHER_ADMIN_TOKEN": TOKEN, "PUBLISHER_CONTENT__SETTLE_SECONDS": "2"}
    )
    with TestClient(create_app(db_project.settings())) as client:
        store = Store.open(db_project.settings().database_url)
        Outbox(store.engine).subscribers.add([("ada@example.com", ["daily"])], "active", NOW)
        store.close()
        db_project.write("dropped.md", article_text(3))  # just now: still settling
        answer = client.post(
            "/api/publish?digest=daily", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    body = answer.json()
    assert answer.status_code == 200 and body["ok"] is True, body
    assert "dropped.md" in body["new"]
    assert body["issue"]["opened"] is True and body["issue"]["articles"] == 5
