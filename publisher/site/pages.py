"""Static HTML pages: one per article, the home page, the archive and one page per tag.

Links between pages are relative, so ``public/`` opens in a browser straight from the disk.
"""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import Environment

from publisher.config.settings import SiteSettings
from publisher.models import Article, Output
from publisher.site.render import render
from publisher.store.records import Listed
from publisher.text import tag_slug

HTML = "text/html; charset=utf-8"


def article_path(slug: str) -> str:
    """Where an article's page lives under ``public/``."""
    return f"articles/{slug}.html"


def archive_path(year: int) -> str:
    """The archive page of one year."""
    return f"archive/{year}.html"


def tag_prefix(tag: str) -> str:
    """The folder of a tag's feeds, and the stem of its page."""
    return f"tags/{tag_slug(tag)}"


def _root(path: str) -> str:
    return "../" * path.count("/")


def article_page(env: Environment, site: SiteSettings, article: Article) -> Output:
    """An article's own page; it carries the article, so the fidelity gate checks it."""
    path = article_path(article.slug)
    html = render(env, "article.html", site=site, article=article, root=_root(path))
    return Output(path, HTML, html.encode(), (article,))


def listing_page(
    env: Environment,
    site: SiteSettings,
    path: str,
    heading: str,
    items: Sequence[Listed],
    feed_prefix: str | None = None,
    tags: Sequence[str] = (),
) -> Output:
    """A page listing articles by title, author and date (no article text)."""
    html = render(
        env,
        "listing.html",
        site=site,
        heading=heading,
        items=items,
        root=_root(path),
        feed_prefix=feed_prefix,
        tags=tags,
    )
    return Output(path, HTML, html.encode())
