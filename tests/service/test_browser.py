"""A real browser (Debian's headless Chromium, through chromedriver) on the real pages:
subscribe → the confirmation mail → its link → subscribed; unsubscribe from a digest's link; an
article page with its attribution and disclaimer; and an article body whose script and
event-handler payloads never run.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from publisher.mail.issues import find_digest, open_issue
from publisher.mail.messages import letter_for
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.text import visible_text
from tests.conftest import CHROMEDRIVER, IN_CI, NOW, Project
from tests.smtpserver import MailServer, free_port

HOSTILE = """---
title: A Hostile Body
date: 2026-03-20
attribution: "Originally published by Test Wire."
disclaimer: "Views are the author's own."
---
<p>Before.</p>
<script>window.__pwned = "script";</script>
<img src="x" onerror="window.__pwned = 'onerror'">
<a href="javascript:window.__pwned='href'" id="bad-link">click</a>
<p onmouseover="window.__pwned='handler'">After.</p>
"""

if CHROMEDRIVER is None and not IN_CI:
    pytest.skip("needs Debian's chromium and chromium-driver", allow_module_level=True)


@pytest.fixture
def served(project: Project, mail_server: MailServer) -> Iterator[tuple[str, Project, Outbox]]:
    import uvicorn

    from publisher.service.web import create_app

    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    project.environ.update(mail_server.environ())
    project.environ["PUBLISHER_SITE__BASE_URL"] = base
    project.write("hostile.md", HOSTILE)
    project.publish()
    settings = project.settings()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    store = Store.open(settings.database_url)
    try:
        yield base, project, Outbox(store.engine)
    finally:
        store.close()
        server.should_exit = True
        thread.join(10)


def _after_click(browser: object, by: str, value: str) -> str:
    """The text of an element of the page a click leads to, once that page has loaded."""
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    wait = WebDriverWait(browser, 20)  # type: ignore[arg-type]
    return str(wait.until(expected_conditions.presence_of_element_located((by, value))).text)


def test_subscribe_confirm_and_unsubscribe_in_a_browser(
    browser: object, served: tuple[str, Project, Outbox], mail_server: MailServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    base, project, outbox = served
    browser.get(f"{base}subscribe")
    browser.find_element(By.ID, "email").send_keys("ada@example.com")
    browser.find_element(By.ID, "subscribe").click()
    assert "Check your inbox" in _after_click(browser, By.ID, "check-inbox")
    mail_server.wait_for(1)
    body = str(mail_server.received[0].message().get_content())
    link = re.search(r"(http://127\.0\.0\.1:\d+/confirm/\S+)", body)
    assert link is not None, body
    browser.get(link.group(1))
    (reader,) = outbox.subscribers.each()
    assert reader.status == "pending"  # opening the link confirms nothing
    browser.find_element(By.ID, "confirm").click()
    assert "is subscribed" in _after_click(browser, By.ID, "confirmed")
    (reader,) = outbox.subscribers.each()
    assert reader.status == "active"

    settings = project.settings()
    digest = find_digest(settings, "daily")
    opened = open_issue(settings, outbox, environment_for(settings), digest, NOW)
    assert opened.issue is not None
    html = letter_for(settings, opened.issue).personalise(opened.issue.html, reader)
    unsubscribe = re.search(r'href="([^"]+/unsubscribe/[^"]+)"', html)
    assert unsubscribe is not None
    browser.get(unsubscribe.group(1))
    assert outbox.subscribers.get(reader.id).status == "active"  # type: ignore[union-attr]
    browser.find_element(By.TAG_NAME, "button").click()
    assert "will receive no more digests" in _after_click(browser, By.ID, "unsubscribed")
    assert outbox.subscribers.get(reader.id).status == "unsubscribed"  # type: ignore[union-attr]


def test_article_pages_show_provenance_and_run_no_injected_script(
    browser: object, served: tuple[str, Project, Outbox]
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    base, _project, outbox = served
    for article in outbox.issues.articles([s.uid for s in outbox.issues.published(NOW)]):
        browser.get(f"{base}articles/{article.slug}.html")
        shown = " ".join(browser.find_element(By.TAG_NAME, "article").text.split())
        for needed in (article.attribution, *article.disclaimer):
            assert visible_text(needed) in shown, (article.title, needed)
    browser.get(f"{base}articles/a-hostile-body.html")
    assert "Before." in browser.page_source and "After." in browser.page_source
    paragraph = browser.find_element(By.XPATH, "//p[contains(., 'After.')]")
    ActionChains(browser).move_to_element(paragraph).perform()
    for link in browser.find_elements(By.ID, "bad-link"):  # gone or defused by the sanitiser
        link.click()
    time.sleep(0.3)
    assert browser.execute_script("return window.__pwned === undefined")
    browser.execute_script("window.__probe = 1")  # the check itself can see what scripts set
    assert browser.execute_script("return window.__probe") == 1
