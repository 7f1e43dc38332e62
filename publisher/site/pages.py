"""Static HTML pages: one per article, the home page, the archive, and the pages of each tag
and archive year.

Links between pages are relative, so ``public/`` opens in a browser straight from the disk.

A tag's or a year's page (``tags/<slug>.html``, ``archive/<year>.html``) lists its newest
articles; a longer list goes on over numbered pages, ``<stem>/page/<k>.html``, counted from the
oldest article: page k holds the (k-1)·size+1-th to the k·size-th oldest, newest first, so a
new article changes only the list's own page and its last numbered page (:func:`pages_of`).
"""

from __future__ import annotations

from collections.abc import Sequence

from jinja2 import Environment

from publisher.config.settings import SiteSettings
from publisher.models import Article, Listed, Output
from publisher.site.render import render
from publisher.text import tag_slug

HTML = "text/html; charset=utf-8"


def article_path(slug: str) -> str:
    """Where an article's page lives under ``public/``."""
    return f"articles/{slug}.html"


def archive_path(year: int) -> str:
    """The archive page of one year."""
    return f"archive/{year}.html"


def issue_path(digest: str, slot: str) -> str:
    """The public page of a digest's issue: its slot's local minute, ``2026-12-02T07:00`` →
    ``issues/<digest>/2026-12-02-0700.html`` (one issue per digest and slot)."""
    day, _t, minute = slot.partition("T")
    return f"issues/{digest}/{day}-{minute.replace(':', '')}.html"


def page_path(stem: str, number: int) -> str:
    """Numbered page ``number`` of the list whose own page is ``<stem>.html``."""
    return f"{stem}/page/{number}.html"


def pages_of(total: int, size: int) -> int:
    """How many numbered pages a list of ``total`` articles has: none when its own page
    holds them all."""
    return 0 if total <= size else -(-total // size)


def tag_prefix(tag: str) -> str:
    """The folder of a tag's feeds, and the stem of its page."""
    return f"tags/{tag_slug(tag)}"


def _root(path: str) -> str:
    return "../" * path.count("/")


def article_page(env: Environment, site: SiteSettings, article: Article) -> Output:
    """An article's own page; it carries the article, so the fidelity gate checks it."""
    path = article_path(article.slug)
    html = render(env, "article.html", site=site, article=article, root=_root(path), path=path)
    return Output(path, HTML, html.encode(), (article,))


def listing_page(
    env: Environment,
    site: SiteSettings,
    path: str,
    heading: str,
    items: Sequence[Listed],
    feed_prefix: str | None = None,
    tags: Sequence[str] = (),
    *,
    newer: str | None = None,
    older: str | None = None,
    number: int | None = None,
) -> Output:
    """A page listing articles by title, author, date and summary (no article body).

    ``newer`` and ``older`` are the paths of the neighbouring pages of a paged list (linked as
    ``rel=prev`` and ``rel=next``: the list runs from the newest on), ``number`` the page's.
    """
    html = render(
        env,
        "listing.html",
        site=site,
        heading=heading,
        items=items,
        root=_root(path),
        path=path,
        feed_prefix=feed_prefix,
        tags=tags,
        newer=newer,
        older=older,
        number=number,
    )
    return Output(path, HTML, html.encode())
