"""The web process on the open internet (issue 10, findings 1, 3, 4 and 5), against the real app
on a real socket (uvicorn with the protocol ``publisher serve`` runs):

- cross-site form posts are refused: an ``Origin`` (or ``Referer``) of this site and a form
  token, on every form that changes state, but not on the RFC 8058 one-click POST;
- bodies are bounded before they are read (413), forms within their limits, and a client that
  sends half a request head is disconnected; uvicorn's limits come from the settings;
- every response carries the hardening headers, every HTML page the CSP, and a real browser
  runs no inline script under it while the theme's CSS still applies;
- ``HEAD`` changes nothing, a confirmation link works only for a pending reader and only from
  the latest mail, ``/metrics`` is behind the admin token, a wrong method on the API is 405.
"""

from __future__ import annotations

import base64
import hashlib
import re
import select
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.cli.service import MAX_HEAD_BYTES, web_server
from publisher.config.settings import Settings
from publisher.mail.confirmation import confirm_url
from publisher.mail.tokens import form_token, token
from publisher.models import Subscriber
from publisher.service.guard import HeaderDeadline, style_hashes
from publisher.site.render import environment_for
from publisher.store.limits import Limits
from publisher.store.meta import form_key
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import IN_CI, NOW, Project
from tests.forms import form_token as token_in
from tests.served import (
    Answer,
    call,
    connect,
    form,
    read_all,
    read_answer,
    served,
    status_of,
)
from tests.smtpserver import MailServer, free_port

TOKEN = "s3cret-admin-token"  # noqa: S105 (a test token)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
EVIL = "https://evil.example"
BIG = 20 * 1024 * 1024
HARDENING = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


@dataclass
class Site:
    settings: Settings
    base: str
    port: int
    outbox: Outbox
    mail: MailServer

    @property
    def own(self) -> str:
        """The origin a browser on these pages sends."""
        return self.base

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return call(self.port, "GET", path, headers=headers)

    def post(
        self,
        path: str,
        fields: dict[str, Any] | None = None,
        origin: str | None = "own",
        csrf: str | None = "page",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST a form: by default as a browser on the form's own page does (that page's token,
        this site's origin); ``origin=None`` / ``csrf=None`` leave them out."""
        fields = dict(fields or {})
        if csrf == "page":
            csrf = token_in(self.get(path).text)
        if csrf is not None:
            fields["csrf_token"] = csrf
        body, sent = form(fields)
        if origin is not None:
            sent["Origin"] = self.own if origin == "own" else origin
        return call(self.port, "POST", path, body, sent | (headers or {}))

    def reader(self, address: str = "ada@example.com") -> Subscriber:
        self.outbox.subscribers.add([(address, ["daily", "weekly"])], "active", NOW)
        (found,) = [s for s in self.outbox.subscribers.each() if s.address == address]
        return found

    def pending(self, address: str, when: datetime) -> tuple[Subscriber, str]:
        """A reader who asked to subscribe at ``when``, and the path of that mail's link."""
        limits = Limits(self.outbox.engine, self.settings.web)
        reader = self.outbox.subscribers.request(address, ["daily"], when, limits)
        assert reader is not None
        url = confirm_url(self.settings, reader, when)
        return reader, url.removeprefix(self.settings.site.base_url.rstrip("/"))

    def status(self, reader: Subscriber) -> str:
        found = self.outbox.subscribers.get(reader.id)
        assert found is not None
        return found.status


Start = Callable[..., Site]


def _starter(project: Project, mail_server: MailServer) -> Iterator[Start]:
    with ExitStack() as stack:

        def start(**environ: str) -> Site:
            project.environ.update(mail_server.environ())
            project.environ.update({"PUBLISHER_ADMIN_TOKEN": TOKEN, **environ})
            project.publish()
            settings = project.settings()
            base, port = stack.enter_context(served(settings))
            store = Store.open(settings.database_url)
            stack.callback(store.close)
            return Site(settings, base, port, Outbox(store.engine), mail_server)

        yield start


@pytest.fixture
def start(project: Project, mail_server: MailServer) -> Iterator[Start]:
    """Serve the test site (on SQLite) with these extra settings."""
    yield from _starter(project, mail_server)


@pytest.fixture
def start_db(db_project: Project, mail_server: MailServer) -> Iterator[Start]:
    """The same on SQLite and on PostgreSQL, for what the store keeps."""
    yield from _starter(db_project, mail_server)


# -- finding 1: cross-site form posts -----------------------------------------------------------


def _forms(site: Site) -> dict[str, tuple[str, dict[str, Any], Callable[[], object]]]:
    """Each form that changes state: its path, what it posts, and how to see what it changed."""
    reader = site.reader()
    pending, confirm = site.pending("pen@example.org", datetime.now(UTC))
    return {
        "subscribe": (
            "/subscribe",
            {"email": "bo@example.net"},
            lambda: sorted(s.address for s in site.outbox.subscribers.each()),
        ),
        "manage": (
            f"/manage/{token(reader, 'manage')}",
            {"digest": "weekly"},
            lambda: site.outbox.subscribers.get(reader.id),
        ),
        "confirm": (confirm, {}, lambda: site.status(pending)),
    }


def test_a_cross_site_form_post_is_refused_and_changes_nothing(start: Start) -> None:
    site = start()
    for name, (path, fields, state) in _forms(site).items():
        before = state()
        page_token = token_in(site.get(path).text)  # even with the page's own good token
        for refused in (
            site.post(path, fields, origin=EVIL, csrf=page_token),
            site.post(path, fields, origin="null", csrf=page_token),
            site.post(path, fields, origin=None, csrf=page_token, headers={"Referer": EVIL}),
            site.post(path, fields, origin=None, csrf=page_token),  # neither: refused too
        ):
            assert refused.status == 403, (name, refused.status)
            assert "not sent from a page of this site" in refused.text
        assert state() == before, name
    assert site.mail.received == []


def test_a_form_post_without_a_valid_form_token_is_refused(start: Start) -> None:
    site = start()
    key = form_key(site.outbox.engine)
    now = time.time()
    forms = _forms(site)
    for name, (path, fields, state) in forms.items():
        before = state()
        action = path.lstrip("/")
        good = token_in(site.get(path).text)
        for bad in (
            None,  # no field at all
            "",
            "not-a-token",
            good.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA",  # forged signature
            form_token(key, action, now - 2 * 86400),  # too old
            form_token(key, action, now + 3600),  # from the future
            form_token(key, "subscribe" if name != "subscribe" else "manage/1.x", now),
            form_token(b"another site's key", action, now),
        ):
            refused = site.post(path, fields, csrf=bad)
            assert refused.status == 403, (name, bad)
        assert state() == before, name
    assert site.mail.received == []
    # The same posts with the page's token, from the page's origin, go through.
    for name, (path, fields, state) in forms.items():
        before = state()
        assert site.post(path, fields).status == 200, name
        assert state() != before, name


def test_a_post_from_the_sites_own_pages_needs_only_its_origin_or_referer(start: Start) -> None:
    site = start()
    reader = site.reader()
    path = f"/manage/{token(reader, 'manage')}"
    for origin, headers in [
        (site.own, {}),  # the request's own host
        ("http://localhost:8000", {}),  # the canonical site.base_url
        (None, {"Referer": f"{site.base}{path}"}),  # no Origin: the Referer decides
    ]:
        assert site.post(path, {"digest": "daily"}, origin, headers=headers).status == 200
        assert site.outbox.subscribers.get(reader.id).digests == ("daily",)  # type: ignore[union-attr]
        assert site.post(path, {"digest": "weekly"}, origin, headers=headers).status == 200


def test_the_one_click_unsubscribe_needs_no_origin_token_or_cookie(start: Start) -> None:
    site = start()
    reader = site.reader()
    path = f"/unsubscribe/{token(reader, 'unsubscribe')}"
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        f"One-Click\r\n--{boundary}--\r\n"
    ).encode()
    # What a mail provider's server posts (RFC 8058 §3.1): multipart, no Origin, no cookie.
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    answer = call(site.port, "POST", path, body, headers)
    assert answer.status == 200 and "will receive no more digests" in answer.text
    assert "set-cookie" not in answer.headers
    assert site.status(reader) == "unsubscribed"
    page = site.get(path)
    assert "csrf_token" not in page.text and "set-cookie" not in page.headers


def test_every_web_process_signs_forms_with_the_one_key_in_the_store(
    start_db: Start, db_project: Project
) -> None:
    site = start_db()
    key = form_key(site.outbox.engine)
    assert form_key(site.outbox.engine) == key and len(key) >= 32  # made once, then kept
    with served(db_project.settings()) as (_base, other):  # a second web process
        page = call(other, "GET", "/subscribe").text
    answer = site.post("/subscribe", {"email": "bo@example.net"}, csrf=token_in(page))
    assert answer.status == 200 and "Check your inbox" in answer.text


# -- finding 3: bounded requests and slow clients -------------------------------------------------


def _head(port: int, path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    ).encode()


def _answer(conn: socket.socket) -> bytes:
    """What the server answered, up to its close; a reset after the answer is the close."""
    chunks: list[bytes] = []
    try:
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        assert chunks, "reset before any answer"
    return b"".join(chunks)


@pytest.mark.parametrize("path", ["/subscribe", "/unsubscribe/{reader}", "/atom.xml"])
def test_a_body_over_the_limit_gets_413_before_it_is_read(start: Start, path: str) -> None:
    site = start()
    reader = site.reader()
    path = path.format(reader=token(reader, "unsubscribe"))
    with connect(site.port) as conn:
        conn.sendall(_head(site.port, path, f"Content-Length: {BIG}\r\n"))
        conn.sendall(b"email=bo%40example.net&" + b"x" * 1000)  # 1 KB of the 20 MB declared
        answer = _answer(conn)  # it comes, and the connection closes, with 20 MB still unsent
    assert status_of(answer) == 413, answer[:300]
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" in head and b"content-security-policy" in head
    assert [s.address for s in site.outbox.subscribers.each()] == ["ada@example.com"]
    assert site.status(reader) == "active" and site.mail.received == []


def test_a_chunked_body_stops_being_read_at_the_limit(start: Start) -> None:
    site = start(PUBLISHER_WEB__MAX_BODY_BYTES="16384")
    chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    sent = 0
    with connect(site.port) as conn:
        conn.sendall(_head(site.port, "/subscribe", "Transfer-Encoding: chunked\r\n"))
        first = b"email=bo%40example.net&x="
        conn.sendall(b"%x\r\n%s\r\n" % (len(first), first))
        while sent < BIG and not select.select([conn], [], [], 0.05)[0]:
            conn.sendall(chunk)
            sent += len(chunk)
        answer = conn.recv(65536)
        assert status_of(answer) == 413, answer[:300]
        assert b"connection: close" in answer.lower()
        # The server reads no more: it has closed, and what is sent now is refused.
        with pytest.raises(OSError):
            for _ in range(BIG // len(chunk)):
                conn.sendall(chunk)
    assert sent < BIG // 10  # it answered near the limit, not at the end of the body
    assert list(site.outbox.subscribers.each()) == [] and site.mail.received == []


def test_a_form_with_a_file_or_too_many_fields_is_refused(start: Start) -> None:
    site = start()
    good = token_in(site.get("/subscribe").text)
    fields = {"email": "bo@example.net", "csrf_token": good}
    crowded = site.post("/subscribe", fields | {f"f{n}": "x" for n in range(40)}, csrf=good)
    assert crowded.status == 400 and "Too many fields" in crowded.text
    boundary = "b0undary"
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    upload = (
        f'{parts}--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": site.own}
    filed = call(site.port, "POST", "/subscribe", upload.encode(), headers)
    assert filed.status == 400 and "Too many files" in filed.text
    assert list(site.outbox.subscribers.each()) == [] and site.mail.received == []


def _closed_within(conn: socket.socket, seconds: float) -> float:
    """Seconds until the server closes ``conn`` (it sends nothing first), failing past
    ``seconds``."""
    began = time.monotonic()
    conn.settimeout(seconds)
    assert conn.recv(1) == b"", "the server answered instead of closing"
    return time.monotonic() - began


def test_a_half_sent_head_is_closed_within_the_header_timeout(start: Start) -> None:
    site = start(PUBLISHER_WEB__HEADER_TIMEOUT="0.5", PUBLISHER_WEB__TIMEOUT_KEEP_ALIVE="30")
    with connect(site.port) as silent, connect(site.port) as half, connect(site.port) as slow:
        half.sendall(b"GET /atom.xml HTTP/1.1\r\nHost: x\r\n")  # and then nothing
        slow.sendall(b"GET /atom.xml HTTP/1.1\r\n")
        assert site.get("/atom.xml").status == 200  # others are served meanwhile
        dripped = time.monotonic()
        try:  # a byte every 0.1 s does not move the deadline
            while time.monotonic() - dripped < 10:
                slow.sendall(b"X")
                if select.select([slow], [], [], 0.1)[0]:
                    break
        except OSError:
            pass
        for conn in (silent, half):
            waited = _closed_within(conn, 10)  # a loose bound: closed, not held
            assert waited < 10
        assert time.monotonic() - dripped < 10
    # On a kept-alive connection, the next request's head has its own deadline.
    with connect(site.port) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(read_answer(kept)) == 200
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        _closed_within(kept, 10)


def test_the_server_takes_its_limits_from_the_settings(start: Start) -> None:
    site = start(PUBLISHER_WEB__LIMIT_CONCURRENCY="2", PUBLISHER_WEB__TIMEOUT_KEEP_ALIVE="0.3")
    config = web_server(site.settings, "127.0.0.1", free_port()).config
    web = site.settings.web
    assert (config.timeout_keep_alive, config.limit_concurrency) == (0.3, 2)
    assert config.h11_max_incomplete_event_size == MAX_HEAD_BYTES
    assert issubclass(config.http, HeaderDeadline)  # type: ignore[arg-type]
    assert config.http.header_seconds == web.header_timeout  # type: ignore[union-attr]
    assert config.proxy_headers is False  # X-Forwarded-* is for the app to believe or not
    with connect(site.port) as idle:  # one more connection, and the limit is reached
        with connect(site.port) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(conn.recv(65536)) == 503
        idle.close()
        time.sleep(0.2)  # the server notices the close
    with connect(site.port) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(read_answer(conn)) == 200
        _closed_within(conn, 10)  # an idle kept-alive connection is closed (after 0.3 s)
    huge = "x" * (MAX_HEAD_BYTES + 1)  # a head that is still not over past the limit
    with connect(site.port) as conn:
        conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n".encode())
        assert status_of(read_all(conn)) == 400


# -- finding 4: hardening headers ------------------------------------------------------------------


def _style_hashes_of(html: str) -> set[str]:
    found = re.findall(r"<style\b[^>]*>(.*?)</style>", html, re.S)
    return {
        f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
        for css in found
    }


def _every_answer(site: Site) -> Iterator[tuple[str, Answer]]:
    """An answer of every kind the site gives: every published output, every reader's page
    and every refusal, the API and the operators' endpoints."""
    store = Store.open(site.settings.database_url)
    try:
        outputs = sorted(store.outputs.hashes())
    finally:
        store.close()
    assert len(outputs) > 10
    for path in outputs:
        yield path, site.get(f"/{path}")
    reader = site.reader()
    _pending, confirm = site.pending("pen@example.org", datetime.now(UTC))
    for path in (
        "/",
        "/subscribe",
        f"/manage/{token(reader, 'manage')}",
        f"/unsubscribe/{token(reader, 'unsubscribe')}",
        confirm,
        "/nothing/here.html",
        "/manage/1.forged",
        "/healthz",
        "/metrics",
        "/api/status",
        "/api/nothing",
    ):
        yield path, site.get(path)
    yield "admin", site.get("/api/status", ADMIN)
    yield "cross-site", site.post("/subscribe", {"email": "a@b.example"}, origin=EVIL)
    yield "confirmed", site.post(confirm)
    yield "405", call(site.port, "PUT", "/subscribe")
    yield "413", call(site.port, "POST", "/subscribe", b"x" * 70_000)
    yield "bad form", site.post("/subscribe", {f"f{n}": "x" for n in range(40)})


def test_every_response_carries_the_hardening_headers_and_every_page_the_csp(
    start: Start,
) -> None:
    site = start()
    theme = style_hashes(environment_for(site.settings), site.settings.site)
    assert theme  # the theme's <style> is allowed by its hash
    expected = (
        f"default-src 'none'; style-src {' '.join(theme)}; img-src 'self' https:; "
        "form-action 'self' http://localhost:8000; frame-ancestors 'none'; base-uri 'none'"
    )
    pages = 0
    for path, answer in _every_answer(site):
        for name, value in HARDENING.items():
            assert answer.headers.get(name) == value, (path, name)
        assert answer.headers.get("content-security-policy") == expected, path
        assert "strict-transport-security" not in answer.headers  # plain http here
        if answer.headers.get("content-type", "").startswith("text/html"):
            pages += 1
            assert _style_hashes_of(answer.text) <= set(theme), path  # its CSS is allowed
            assert "<script" not in answer.text and " style=" not in answer.text, path
    assert pages > 15


def test_a_server_error_carries_the_hardening_headers_too(project: Project) -> None:
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from publisher.service.web import create_app

    async def broken(_request: object) -> None:
        raise RuntimeError("a bug")

    project.publish()
    app = create_app(project.settings())
    app.router.routes.insert(0, Route("/broken", broken))
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert all(answer.headers[name] == value for name, value in HARDENING.items())


def test_hsts_is_sent_when_the_site_is_https(start: Start) -> None:
    site = start(PUBLISHER_SITE__BASE_URL="https://news.example/")
    for answer in (site.get("/atom.xml"), site.get("/subscribe"), site.get("/nope")):
        assert answer.headers["strict-transport-security"] == "max-age=31536000"
        assert (
            "form-action 'self' https://news.example;" in answer.headers["content-security-policy"]
        )


CHROMEDRIVER = shutil.which("chromedriver")
INJECTED = """{% extends "base.html" %}
{% block main %}
<h1 id="heading">{{ heading }}</h1>
<script>window.__ran = "inline";</script>
<p><img src="x" onerror="window.__ran = 'handler'" alt=""></p>
<p id="styled" style="color: rgb(255, 0, 0)">{{ message }}</p>
{% endblock %}
"""


@pytest.mark.skipif(CHROMEDRIVER is None and not IN_CI, reason="needs Debian's chromium")
def test_a_browser_runs_no_inline_script_under_the_csp_and_keeps_the_theme_css(
    project: Project,
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    assert CHROMEDRIVER is not None, "CI must install chromium and chromium-driver"
    # An operator's template with inline script, a handler and an inline style: what an
    # injection into a page would look like. The CSP must stop all three.
    (project.root / "templates" / "web").mkdir(parents=True)
    (project.root / "templates" / "web" / "message.html").write_text(INJECTED)
    port = free_port()
    project.environ["PUBLISHER_SITE__BASE_URL"] = f"http://127.0.0.1:{port}/"
    project.publish()
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    with served(project.settings(), port) as (base, _port):
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(30)
            driver.get(f"{base}/no-such-page.html")  # the 404 page renders message.html
            assert driver.find_element(By.ID, "heading").text == "Not found"
            time.sleep(0.3)  # let an image error fire, if anything would run
            assert driver.execute_script("return window.__ran === undefined")
            font = driver.execute_script("return getComputedStyle(document.body).fontFamily")
            assert "Georgia" in font  # the theme's own <style> applies
            color = driver.execute_script(
                "return getComputedStyle(document.getElementById('styled')).color"
            )
            assert color != "rgb(255, 0, 0)"  # an inline style attribute does not
        finally:
            driver.quit()


# -- finding 5: method and state -------------------------------------------------------------------


def test_head_with_a_body_changes_nothing(start: Start) -> None:
    site = start()
    reader = site.reader()
    pending, confirm = site.pending("pen@example.org", datetime.now(UTC))
    manage = f"/manage/{token(reader, 'manage')}"
    unsubscribe = f"/unsubscribe/{token(reader, 'unsubscribe')}"
    for path, fields in [
        ("/subscribe", {"email": "bo@example.net"}),
        (manage, {"digest": "weekly"}),
        (confirm, {}),
        (unsubscribe, {"List-Unsubscribe": "One-Click"}),
    ]:
        if path != unsubscribe:  # everything a POST would need to be taken
            fields["csrf_token"] = token_in(site.get(path).text)
        body, headers = form(fields)
        answer = call(site.port, "HEAD", path, body, headers | {"Origin": site.own})
        assert answer.status < 500 and answer.body == b"", path
    assert site.outbox.subscribers.get(reader.id).digests == ("daily", "weekly")  # type: ignore[union-attr]
    assert (site.status(reader), site.status(pending)) == ("active", "pending")
    assert len(list(site.outbox.subscribers.each())) == 2 and site.mail.received == []


def test_a_link_from_an_older_confirmation_mail_stops_working_once_a_newer_one_was_sent(
    start_db: Start,
) -> None:
    site = start_db()
    now = datetime.now(UTC)
    reader, older = site.pending("pen@example.org", now - timedelta(hours=3))
    _again, newer = site.pending("pen@example.org", now - timedelta(hours=1))
    assert older != newer
    assert site.get(older).status == 400 and "not valid" in site.get(older).text
    key = form_key(site.outbox.engine)
    forced = form_token(key, older.lstrip("/"), time.time())  # past the form checks
    assert site.post(older, csrf=forced).status == 400
    assert site.status(reader) == "pending"
    assert site.post(newer).status == 200
    assert site.status(reader) == "active"


def test_a_confirmation_link_does_not_bring_back_a_reader_who_unsubscribed(
    start_db: Start,
) -> None:
    site = start_db()
    reader, link = site.pending("pen@example.org", datetime.now(UTC))
    page_token = token_in(site.get(link).text)
    assert site.post(link).status == 200 and site.status(reader) == "active"
    assert site.get(link).status == 200  # a second look says it is done; nothing changes
    site.outbox.subscribers.unsubscribe(reader.id, datetime.now(UTC))
    assert site.get(link).status == 400
    refused = site.post(link, csrf=page_token)
    assert refused.status == 400 and "not valid" in refused.text
    assert site.status(reader) == "unsubscribed"


@pytest.mark.parametrize("public", [False, True])
def test_metrics_are_off_the_public_site_unless_configured(start: Start, public: bool) -> None:
    site = start(PUBLISHER_WEB__PUBLIC_METRICS=str(public).lower())
    anyone = site.get("/metrics")
    assert anyone.status == (200 if public else 401)
    assert ("publisher_send_failures" in anyone.text) is public
    admin = site.get("/metrics", ADMIN)
    assert admin.status == 200 and "publisher_send_failures" in admin.text


def test_a_wrong_method_on_the_api_is_405_with_allow(start: Start) -> None:
    site = start()
    for method, path, allowed in [
        ("GET", "/api/publish", "POST"),
        ("POST", "/api/status", "GET, HEAD"),
        ("GET", "/api/digests/daily/send", "POST"),
        ("DELETE", "/api/openapi.json", "GET, HEAD"),
    ]:
        answer = call(site.port, method, path, headers=ADMIN)
        assert answer.status == 405, (method, path)
        assert sorted(answer.headers["allow"].split(", ")) == sorted(allowed.split(", "))
        assert "error" in answer.text  # JSON, like the rest of the API
    assert call(site.port, "GET", "/api/nothing", headers=ADMIN).status == 404


def test_the_openapi_description_has_a_schema_for_every_answer_and_the_digest_names(
    start: Start,
) -> None:
    site = start()
    import json

    spec = json.loads(site.get("/api/openapi.json", ADMIN).body)
    names = [d.name for d in site.settings.digests]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                ((media, content),) = answer["content"].items()
                assert content["schema"], (method, path, status)
                csv = path.endswith("/export") and status == "200"
                assert media == ("text/csv" if csv else "application/json"), (path, status)
    send = spec["paths"]["/api/digests/{name}/send"]["post"]
    assert send["parameters"][0]["schema"]["enum"] == names == ["daily", "weekly"]
    publish = spec["paths"]["/api/publish"]["post"]
    assert publish["parameters"][0]["schema"]["enum"] == names
