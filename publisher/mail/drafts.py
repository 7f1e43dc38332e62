"""A digest issue rendered once: subject, HTML part (CSS inlined) and plain-text part.

The subscriber's own values (address, signed links) are placeholders here; :mod:`messages`
fills them in per message. The issue's public page (the HTML part without any reader's links,
published in the archive of issues, which every message links to as "view in your browser")
is rendered here too, from the same template. All three go through the fidelity gate before an
issue is opened, so no reader gets a digest, and no visitor a page, that lost an article's
attribution or disclaimer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import css_inline
from jinja2 import Environment, TemplateError

from publisher.config.settings import DigestSettings, Settings
from publisher.errors import FidelityError, RenderError
from publisher.mail.messages import FIELDS, header_text, placeholder
from publisher.mail.planning import slot_key
from publisher.models import Article, Output
from publisher.site.fidelity import check
from publisher.site.pages import article_path, issue_path
from publisher.site.render import render
from publisher.text import excerpt, plain_text, visible_text, wrap

SUBJECT_LIMIT = 200


@dataclass(frozen=True)
class Item:
    """One article as a digest shows it, in both parts."""

    article: Article
    url: str
    excerpt: str
    text: str
    attribution: str
    credits: tuple[str, ...] = ()
    disclaimer: tuple[str, ...] = ()


@dataclass(frozen=True)
class Draft:
    """What an issue will say, before it is stored: the same for every subscriber."""

    subject: str
    html: str
    text: str
    page: str
    full_text: bool
    problems: list[FidelityError] = field(default_factory=list)


@cache
def _inliner() -> css_inline.CSSInliner:
    # @media rules (dark mode) cannot be inlined: they stay in a <style> of their own.
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def _item(article: Article, base_url: str, full_text: bool) -> Item:
    body = plain_text(article.body_html)
    short = plain_text(article.summary) if article.summary else excerpt(body)
    return Item(
        article=article,
        url=f"{base_url}{article_path(article.slug)}",
        excerpt=short,
        text=body if full_text else wrap(short),
        # The gate compares what readers see, so these are reduced exactly as it reduces them.
        attribution=wrap(visible_text(article.attribution)),
        credits=tuple(wrap(visible_text(c)) for c in article.credits),
        disclaimer=tuple(wrap(visible_text(p)) for p in article.disclaimer),
    )


def subject_line(env: Environment, digest: DigestSettings, settings: Settings, count: int) -> str:
    """The subject from the digest's template: one line, no control characters, not too long."""
    try:
        template = env.overlay(autoescape=False).from_string(digest.subject)
        rendered = template.render(site=settings.site, digest=digest, articles=range(count))
    except TemplateError as exc:
        raise RenderError(f"digests.{digest.name}.subject: {exc}") from exc
    text = header_text(rendered)
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 1] + "…"


def draft(
    env: Environment,
    settings: Settings,
    digest: DigestSettings,
    articles: list[Article],
    nonce: str,
    opened: datetime,
    slot: str | None = None,
) -> Draft:
    """Render an issue's parts and its public page; an HTML part too large for mail clients
    falls back to excerpts (the page then shows what the mail shows). ``slot`` defaults to the
    minute it is opened, as a manual run's.

    :raises RenderError: when a template or the subject fails.
    """
    subject = subject_line(env, digest, settings, len(articles))
    links = {name: placeholder(nonce, name) for name in FIELDS}
    slot = slot or slot_key(opened, settings.zone)
    web_url = settings.site.base_url + issue_path(digest.name, slot)
    full_text = digest.full_text
    while True:
        items = [_item(a, settings.site.base_url, full_text) for a in articles]
        context = {
            "site": settings.site,
            "mail": settings.mail,
            "digest": digest,
            "items": items,
            "links": links,
            "subject": subject,
            "opened": opened,
            "full_text": full_text,
            "web_url": web_url,
        }
        html = _inliner().inline(render(env, "email/digest.html", **context))
        # Gmail clips larger messages, hiding the footer's unsubscribe link and disclaimers.
        if not full_text or len(html.encode()) <= settings.mail.max_html_bytes:
            break
        full_text = False
    text = render(env, "email/digest.txt", **context)
    page = _inliner().inline(render(env, "email/digest.html", **context, archive=True))
    where, carried = f"digest {digest.name}", tuple(articles)
    parts = [("HTML part", "text/html", html), ("text part", "text/plain", text)]
    parts.append(("web page", "text/html", page))
    problems = [
        problem
        for name, media_type, body in parts
        for problem in check(Output(f"{where} ({name})", media_type, body.encode(), carried))
    ]
    return Draft(subject, html, text, page, full_text, problems)
