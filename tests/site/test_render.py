"""Templates: autoescape everywhere, sanitised article HTML, strict undefined."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.errors import RenderError
from publisher.site.render import make_environment, render
from publisher.text import sanitize_html, visible_text
from tests.conftest import REPO

PAYLOAD = '"><script>alert(1)</script><img src=x onerror=alert(1)>'


def test_autoescape_is_on_for_every_template() -> None:
    env = make_environment(Path("/nonexistent"))
    names = [n for n in env.list_templates() if n.endswith((".html", ".xml"))]
    assert "article.html" in names
    for name in names:
        assert env.autoescape(name) if callable(env.autoescape) else env.autoescape, name


def test_listing_escapes_every_variable() -> None:
    env = make_environment(Path("/nonexistent"))
    from publisher.config.settings import SiteSettings
    from publisher.site.pages import listing_page

    site = SiteSettings(title=PAYLOAD, description=PAYLOAD)
    html = listing_page(env, site, "index.html", PAYLOAD, [], None, [PAYLOAD]).body.decode()
    assert "<script>" not in html and "<img src=x" not in html


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src='https://evil.example'></iframe>",
        "<style>body{display:none}</style>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<svg onload=alert(1)>",
    ],
)
def test_sanitiser_removes_active_content(html: str) -> None:
    cleaned = sanitize_html(html).lower()
    for bad in ("<script", "onerror", "javascript:", "<iframe", "<style", "onload", "style="):
        assert bad not in cleaned


def test_sanitiser_keeps_text_and_inline_markup() -> None:
    html = "<p><u>www.example.org</u> &amp; <a href='https://x.example'>link</a> © 2024</p>"
    assert visible_text(sanitize_html(html)) == "www.example.org & link © 2024"


def test_a_missing_variable_is_an_error_naming_the_template(tmp_path: Path) -> None:
    (tmp_path / "broken.html").write_text("{{ nothing.here }}")
    with pytest.raises(RenderError, match=r"broken\.html"):
        render(make_environment(tmp_path), "broken.html")


def test_project_templates_override_the_theme(tmp_path: Path) -> None:
    (tmp_path / "base.html").write_text("mine")
    assert render(make_environment(tmp_path), "base.html") == "mine"
    assert "<!DOCTYPE html>" in (REPO / "templates" / "base.html").read_text()
