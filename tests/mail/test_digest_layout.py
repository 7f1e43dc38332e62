"""The digest's HTML part as a reader's mail client shows it, in a real browser (Debian's headless
Chromium through chromedriver): fluid-hybrid, 600 px at most on a desktop and the whole width
of a phone, nothing scrolling sideways at 320, 390, 800 or 1200 px, even with an unbroken URL and an
image wider than the sheet; every link in the theme colour; readable in dark mode.

Each width is saved into ``tests/screenshots/digest/`` (kept out of git). The public web copy
of an issue (``archive``) carries no subscriber's placeholder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from publisher.config.settings import Settings
from publisher.mail.drafts import Draft, Item, draft
from publisher.mail.issues import find_digest
from publisher.mail.messages import FIELDS, placeholder
from publisher.models import Article
from publisher.site.pages import article_path
from publisher.site.render import environment_for, render
from tests.conftest import CHROMEDRIVER, IN_CI, NOW, REPO, Project
from tests.outboxes import published_articles

SHOTS = REPO / "tests" / "screenshots" / "digest"
WIDTHS = (320, 390, 800, 1200)
NONCE = "0011223344556677"
THEME = "#8a2b0e"  # not the default, so a colour written into the template would show
LONG_URL = "https://coastline.example.org/" + "tide-census-" * 20 + "end"
WIDE = f"""---
title: "A Very Long Address and a Very Wide Picture"
author: Test Writer
date: 2024-05-20
attribution: "Originally published by Harbor Notes."
---
<p>Every record is at <a href="{LONG_URL}">{LONG_URL}</a>, or in pieces at {LONG_URL}.</p>
<p><img src="wide.svg" width="1200" height="300" alt="A wide picture"></p>
"""
needs_browser = pytest.mark.skipif(
    CHROMEDRIVER is None and not IN_CI, reason="needs Debian's chromium and chromium-driver"
)
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="300"><rect width="1200" height="300" fill="#7a9"/></svg>'  # noqa: E501


def _articles(project: Project) -> tuple[Settings, list[Article]]:
    (project.root / "content" / "wide.html").write_text(WIDE)
    project.environ["PUBLISHER_SITE__THEME_COLOR"] = THEME
    project.publish()
    settings = project.settings()
    articles = published_articles(settings)
    return settings, articles


def _draft(project: Project, name: str) -> tuple[Settings, Draft]:
    settings, articles = _articles(project)
    env = environment_for(settings)
    made = draft(env, settings, find_digest(settings, name), articles, NONCE, NOW)
    assert made.problems == []
    return settings, made


def _rgb(color: str) -> str:
    """A #rrggbb colour as a browser's computed style writes it."""
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def _measure(browser: Any, width: int) -> dict[str, Any]:
    """The page at a window ``width`` (its whole height), saved as a screenshot."""
    browser.set_window_size(width, 900)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(int(height) + 100, 600), 8000))
    result: dict[str, Any] = browser.execute_script(
        """
        const sheet = document.querySelector('table.sheet');
        const links = [...document.querySelectorAll('a')];
        return {
            scroll: document.documentElement.scrollWidth,
            inner: window.innerWidth,
            client: document.documentElement.clientWidth,
            sheet: sheet.getBoundingClientRect().width,
            widest: Math.max(...[...document.querySelectorAll('body *')]
                .map(e => e.getBoundingClientRect().right)),
            links: links.map(a => getComputedStyle(a).color),
            background: getComputedStyle(sheet).backgroundColor,
            text: getComputedStyle(document.querySelector('td.pad')).color,
        };
        """
    )
    return result


def test_the_html_part_is_what_every_mail_client_needs(project: Project) -> None:
    settings, made = _draft(project, "daily")
    html = made.html
    assert "<script" not in html.lower()
    assert len(html.encode()) <= settings.mail.max_html_bytes
    assert '<meta name="color-scheme" content="light dark">' in html
    assert '<meta name="supported-color-schemes" content="light dark">' in html
    # The dark-mode rules survive inlining, in the one <style> left; nothing else does.
    (style,) = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert style.lstrip().startswith("@media (prefers-color-scheme: dark)")
    body = html.split("<body", 1)[1].split(">", 1)[1].lstrip()
    preheader = re.match(r'<div class="preheader" style="([^"]*)">([^<]*)</div>', body)
    assert preheader is not None, body[:300]
    for rule in ("display: none", "max-height: 0", "overflow: hidden", "mso-hide: all"):
        assert rule in preheader.group(1)
    assert preheader.group(2).startswith("Volunteers Count 4,000 Creatures in a Single Tide · ")
    assert '<!--[if mso]><table role="presentation" width="600"' in html
    links = re.findall(r"<a [^>]*>", html)
    assert len(links) > 10
    for link in links:
        assert f"color: {THEME}" in link, link


@needs_browser
def test_the_digest_fits_every_width_in_a_browser(
    project: Project, browser: Any, tmp_path: Path
) -> None:
    _settings, made = _draft(project, "weekly")
    assert made.full_text and LONG_URL in made.html and "wide.svg" in made.html
    page = tmp_path / "digest.html"
    page.write_text(made.html)
    (tmp_path / "wide.svg").write_text(SVG)
    browser.get(page.as_uri())
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        seen = _measure(browser, width)
        browser.save_screenshot(str(SHOTS / f"digest-{width}.png"))
        assert seen["scroll"] <= seen["inner"], (width, seen)
        assert seen["widest"] <= seen["client"] + 0.5, (width, seen)
        if width >= 600:
            assert seen["sheet"] <= 600, seen
        else:
            assert seen["sheet"] == seen["client"], seen
        assert set(seen["links"]) == {_rgb(THEME)}, seen["links"]
        assert seen["background"] == "rgb(255, 255, 255)"


@needs_browser
def test_the_digest_is_readable_in_dark_mode(
    project: Project, browser: Any, tmp_path: Path
) -> None:
    _settings, made = _draft(project, "daily")
    page = tmp_path / "digest.html"
    page.write_text(made.html)
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    browser.get(page.as_uri())
    SHOTS.mkdir(parents=True, exist_ok=True)
    seen = _measure(browser, 390)
    browser.save_screenshot(str(SHOTS / "digest-390-dark.png"))
    assert seen["scroll"] <= seen["inner"], seen
    assert seen["background"] == "rgb(30, 30, 30)"
    assert seen["text"] == "rgb(230, 227, 222)"
    # Links are the theme colour lightened towards white, so they read on the dark sheet.
    assert _rgb(THEME) not in seen["links"] and len(set(seen["links"])) == 1


def _context(settings: Settings, articles: list[Article], **extra: Any) -> dict[str, Any]:
    """What :func:`draft` gives the template (excerpts), plus ``extra``."""
    base = settings.site.base_url
    items = [
        Item(a, f"{base}{article_path(a.slug)}", a.title, a.title, a.attribution) for a in articles
    ]
    return {
        "site": settings.site,
        "mail": settings.mail,
        "digest": find_digest(settings, "daily"),
        "items": items,
        "links": {name: placeholder(NONCE, name) for name in FIELDS},
        "subject": "Subject",
        "opened": NOW,
        "full_text": False,
        **extra,
    }


def test_a_mail_links_to_its_web_copy_when_there_is_one(project: Project) -> None:
    settings, articles = _articles(project)
    env = environment_for(settings)
    web = "https://harbornotes.example/issues/daily-41.html"
    html = render(env, "email/digest.html", **_context(settings, articles, web_url=web))
    assert f'<a href="{web}">View in your browser</a>' in html
    assert html.index("View in your browser") < html.index("<h1>")
    assert placeholder(NONCE, "unsubscribe") in html
    text = render(env, "email/digest.txt", **_context(settings, articles, web_url=web))
    assert text.splitlines()[1] == f"View in your browser: {web}"
    for none in ({}, {"web_url": ""}):
        assert "View in your browser" not in render(
            env, "email/digest.html", **_context(settings, articles, **none)
        )
        assert "View in your browser" not in render(
            env, "email/digest.txt", **_context(settings, articles, **none)
        )


def test_the_public_web_copy_carries_no_subscriber_placeholder(project: Project) -> None:
    settings, articles = _articles(project)
    env = environment_for(settings)
    context = _context(settings, articles, archive=True, web_url="")
    html = render(env, "email/digest.html", **context)
    assert "@@" not in html
    assert "View in your browser" not in html and "Sent to" not in html
    base = settings.site.base_url
    assert f'<a href="{base}subscribe">Subscribe</a>' in html
    assert f'<a href="{base}issues.html">All issues</a>' in html
    # A web copy that knows its own URL still does not link to itself.
    again = render(env, "email/digest.html", **{**context, "web_url": base + "issues/1.html"})
    assert "@@" not in again and "View in your browser" not in again
