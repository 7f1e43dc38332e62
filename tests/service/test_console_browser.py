"""The operator's console in a real browser (Debian's headless Chromium through chromedriver),
over a real socket, with an in-process SMTP server taking the digest and a sender in its own
process (issue 13):

sign in → a bad file dropped shows on the content-problems page after *publish now* → an issue
opened with *send now* whose counts change on its page while the relay receives it → the reader
the relay refused is reactivated → sign-out; and, refused: a page without the session, a form
with a forged CSRF token, a post without the session.

Every page is saved at 1280 px and 390 px wide into ``tests/screenshots/console/`` (kept out of
git), and at 390 px no page scrolls sideways.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from tests.conftest import CHROMEDRIVER, IN_CI, REPO, Project
from tests.outboxes import drain_process, subscribe_many
from tests.served import served
from tests.smtpserver import MailServer, free_port

SHOTS = REPO / "tests" / "screenshots" / "console"
WIDTHS = (1280, 390)
TOKEN = "console-browser-token"  # noqa: S105 (a test token)
READERS = 12
REFUSED = "reader3@example.com"  # the relay says this mailbox does not exist
BAD_DATE = "---\ntitle: Dated Wrong\ndate: 2026-13-45\nattribution: By us.\n---\nBody.\n"

if CHROMEDRIVER is None and not IN_CI:
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)


@pytest.fixture
def console(project: Project, mail_server: MailServer) -> Iterator[tuple[str, Project, Outbox]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    project.environ.update(mail_server.environ())
    project.environ.update(
        {
            "PUBLISHER_SITE__BASE_URL": base,
            "PUBLISHER_ADMIN_TOKEN": TOKEN,
            "PUBLISHER_SMTP__CONNECTIONS": "1",  # one message at a time: progress to watch
            "PUBLISHER_SMTP__BOUNCE_AFTER": "1",
        }
    )
    project.publish()
    settings = project.settings()
    store = Store.open(settings.database_url)
    outbox = Outbox(store.engine)
    subscribe_many(outbox, READERS)
    mail_server.script.rcpt[REFUSED] = deque(["550 5.1.1 <reader3@example.com>: no such user"])
    mail_server.script.data_delay = 0.25
    try:
        with served(settings, port):
            yield base, project, outbox
    finally:
        store.close()


def shoot(browser: Any, name: str) -> None:
    """Save the whole page at each width; at the narrow one nothing may scroll sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        browser.set_window_size(width, 900)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width, min(max(int(height) + 100, 600), 5000))
        browser.save_screenshot(str(SHOTS / f"{name}-{width}.png"))
        sideways = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert sideways <= 0, f"{name} scrolls sideways by {sideways}px at {width}px"
    browser.set_window_size(WIDTHS[0], 900)


def text_of(browser: Any, element_id: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    wait = WebDriverWait(browser, 20)
    found = wait.until(expected_conditions.presence_of_element_located((By.ID, element_id)))
    return str(found.text)


def click(browser: Any, element_id: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, element_id).click()


def sign_in(browser: Any, base: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{base}admin/")
    assert browser.current_url.endswith("/admin/signin")  # no session: the sign-in page
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    click(browser, "signin")
    text_of(browser, "health")


def counts(browser: Any) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, "#states td")
    return {cell.get_attribute("id").removeprefix("state-"): int(cell.text) for cell in cells}


def test_the_console_in_a_browser(
    browser: Any, console: tuple[str, Project, Outbox], mail_server: MailServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    base, project, outbox = console
    browser.get(f"{base}admin/signin")
    shoot(browser, "01-signin")
    sign_in(browser, base)
    shoot(browser, "02-overview")

    # A bad file dropped: after publish now, the problems page names it, field and reason.
    project.write("bad-date.md", BAD_DATE)
    browser.get(f"{base}admin/problems")
    assert "bad-date.md" not in browser.page_source
    click(browser, "publish")
    assert "Publish done in" in text_of(browser, "report")
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "#problems tr") if "bad-date.md" in r.text
    )
    assert "date" in row.text and "2026-13-45" in row.text
    shoot(browser, "03-problems")

    # Send now: the issue's page shows its deliveries move while the relay receives them.
    browser.get(f"{base}admin/issues")
    shoot(browser, "04-issues")
    click(browser, "send-daily")
    assert "Issue opened" in text_of(browser, "note")
    assert counts(browser)["queued"] == READERS
    issue_url = browser.current_url.split("?")[0]
    sender = drain_process(project)
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            browser.get(issue_url)
            now = counts(browser)
            seen.append(now["sent"])
            if now["sent"] + now["failed"] == READERS:
                break
            time.sleep(0.2)
        sender.communicate(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.communicate()
    assert seen[-1] == READERS - 1 and len(mail_server.received) == READERS - 1
    assert any(0 < n < READERS - 1 for n in seen), seen  # watched it change, not just the end
    assert "Done:" in text_of(browser, "progress")
    assert "550 5.1.1" in text_of(browser, "replies")
    shoot(browser, "05-issue")

    # The refused reader was bounced by this issue; reactivate them from its page.
    bounced = [s.address for s in outbox.subscribers.each("bounced")]
    assert bounced == [REFUSED]
    click(browser, "reactivate")
    assert "Readers active again: 1" in text_of(browser, "note")
    assert not list(outbox.subscribers.each("bounced"))
    browser.get(f"{base}admin/?span=hour")
    assert f"sent: {READERS - 1}" in text_of(browser, "plot")
    assert "failed: 1" in text_of(browser, "plot")
    shoot(browser, "09-overview-after-sending")

    browser.get(f"{base}admin/digests/weekly/preview")
    frame = browser.find_element(By.ID, "preview")
    assert frame.get_attribute("sandbox") is not None
    browser.switch_to.frame(frame)
    assert "Weekly" in browser.page_source or "weekly" in browser.page_source.lower()
    browser.switch_to.default_content()
    shoot(browser, "06-preview")

    browser.get(f"{base}admin/subscribers?q=reader3")
    assert REFUSED in text_of(browser, "subscribers")
    shoot(browser, "07-subscribers")

    # A forged CSRF token in the page's own form is refused, and nothing is published.
    browser.get(f"{base}admin/problems")
    browser.execute_script(
        "document.querySelector('form[action=\"/admin/publish\"] input[name=csrf_token]')"
        ".value = '1.forged'"
    )
    click(browser, "publish")
    WebDriverWait(browser, 20).until(lambda b: "not sent from a page" in b.page_source)
    assert "Publish done in" not in browser.page_source

    # Sign-out ends the session: pages lead to the sign-in again, a post is refused.
    browser.get(f"{base}admin/")
    click(browser, "signout")
    text_of(browser, "token")
    browser.get(f"{base}admin/issues")
    assert browser.current_url.endswith("/admin/signin")
    shoot(browser, "08-signed-out")
    request = urllib.request.Request(  # noqa: S310 (our own server, over http)
        f"{base}admin/publish", data=b"csrf_token=x", headers={"Origin": base.rstrip("/")}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)  # noqa: S310 (our own server)
    refused.value.close()
    assert refused.value.code == 403


def test_screenshots_folder_is_kept_out_of_git() -> None:
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "tests/screenshots/" in ignored
    assert Path(SHOTS).is_relative_to(REPO / "tests" / "screenshots")
