"""A real browser (Debian's headless Chromium, through chromedriver) on the real pages: the
reader's pages at 390 and 1200 px; subscribe → the confirmation mail → its link → subscribed,
on a phone-sized window; unsubscribe from a digest's link; an article page with its attribution
and disclaimer; and an article body whose script and event-handler payloads never run.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.mail.issues import find_digest, open_issue
from publisher.mail.messages import letter_for
from publisher.site.pages import article_path, issue_path, tag_prefix
from publisher.site.render import environment_for
from publisher.store.outbox import Outbox
from publisher.store.publishing import Store
from publisher.text import visible_text
from tests.conftest import CHROMEDRIVER, IN_CI, NOW, REPO, Project
from tests.smtpserver import MailServer, free_port

PAGE_SHOTS = REPO / "tests" / "screenshots" / "pages"
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


def _fits(browser: Any, width: int, shot: Path) -> dict[str, Any]:
    """The page at a window ``width`` (its whole height), saved as the screenshot ``shot``:
    how wide the document, the window and the widest element are, and the text column."""
    browser.set_window_size(width, 900)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(int(height) + 100, 600), 8000))
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    seen: dict[str, Any] = browser.execute_script(
        """
        return {
            scroll: document.documentElement.scrollWidth,
            inner: window.innerWidth,
            client: document.documentElement.clientWidth,
            widest: Math.max(...[...document.querySelectorAll('body *')]
                .map(e => e.getBoundingClientRect().right)),
            column: (document.querySelector('main') || document.body).getBoundingClientRect().width,
            subscribe: !!document.querySelector('form[action$="/subscribe"]'),
        };
        """
    )
    return seen


@pytest.mark.parametrize("width", [390, 1200])
def test_the_reader_pages_fit_a_phone_and_a_desktop(
    browser: Any, served: tuple[str, Project, Outbox], width: int
) -> None:
    """Home, an article, a tag page, the subscribe page and the archive of issues: nothing
    scrolls sideways, the text keeps a readable column, and each asks the reader to subscribe.
    Screenshots go to ``tests/screenshots/pages/`` (kept out of git)."""
    base, project, outbox = served
    settings = project.settings()
    env, daily = environment_for(settings), find_digest(settings, "daily")
    opened = open_issue(settings, outbox, env, daily, NOW)
    assert opened.issue is not None
    project.publish()
    article = next(a for a in opened.plan.articles if a.tags)
    pages = {
        "home": "index.html",
        "article": article_path(article.slug),
        "tag": f"{tag_prefix(article.tags[0])}.html",
        "subscribe": "subscribe",
        "issues": "issues.html",
        "issue": issue_path("daily", opened.issue.slot),
    }
    for name, path in pages.items():
        browser.get(f"{base}{path}")
        seen = _fits(browser, width, PAGE_SHOTS / f"{name}-{width}.png")
        assert seen["scroll"] <= seen["inner"], (name, width, seen)
        assert seen["widest"] <= seen["client"] + 0.5, (name, width, seen)
        if name != "issue":  # the issue's page is its mail: table.sheet, tested with the digest
            assert seen["subscribe"], name
            assert seen["column"] <= 42 * 17 + 1, (name, seen)  # 42rem at most: a readable line


def test_subscribe_confirm_and_unsubscribe_in_a_browser(
    browser: object, served: tuple[str, Project, Outbox], mail_server: MailServer
) -> None:
    """The whole flow on a phone-sized window, 390 px wide."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    base, project, outbox = served
    browser.set_window_size(390, 844)
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
