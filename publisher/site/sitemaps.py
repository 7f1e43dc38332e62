"""What crawlers read: ``sitemap.xml`` (a sitemaps.org index), its sitemaps, and ``robots.txt``.

The article URLs are split into one sitemap per archive year, ``sitemaps/<year>.xml``, built
by the year's unit of list work (:meth:`publisher.site.listings.Lists.year`): a new article
rewrites its year's sitemap only, never one listing every article, so a publish stays flat in
the number of articles. The site-wide unit builds what changes with the shape of the site
rather than with each article: the index, which names ``sitemaps/site.xml`` (home page,
archive index, tag and year pages) and one sitemap per year, and ``robots.txt``.

Only article URLs carry a ``<lastmod>``, the article's publication time: the lists' pages and
the sitemaps themselves change whenever an article joins, leaves or moves, and a date that is
older than the last change would tell a crawler to skip what it should fetch. One sitemap holds
at most 50,000 URLs by the protocol, so a year holds at most that many articles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from publisher.config.settings import SiteSettings
from publisher.models import Listed, Output
from publisher.site.pages import article_path

XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
INDEX = "sitemap.xml"
SITE = "sitemaps/site.xml"
ROBOTS = "robots.txt"
# Paths of the web process that are no page for a crawler (the console, the admin API).
PRIVATE = ("admin/", "api/")


def year_sitemap_path(year: int) -> str:
    """The sitemap of one archive year's article pages."""
    return f"sitemaps/{year}.xml"


def _document(root: ET.Element) -> bytes:
    """The XML of ``root`` with its declaration; ElementTree escapes every text and attribute."""
    ET.indent(root)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _listing(tag: str, item: str, locations: Iterable[tuple[str, str | None]]) -> bytes:
    """A ``<tag>`` of ``<item>`` elements, each with its ``<loc>`` and optional ``<lastmod>``."""
    root = ET.Element(tag, xmlns=NAMESPACE)
    for location, lastmod in locations:
        entry = ET.SubElement(root, item)
        ET.SubElement(entry, "loc").text = location
        if lastmod is not None:
            ET.SubElement(entry, "lastmod").text = lastmod
    return _document(root)


def w3c_datetime(moment: datetime, zone: ZoneInfo) -> str:
    """A W3C datetime on the site's calendar, to the second: ``2024-06-02T09:30:00+02:00``."""
    return moment.astimezone(zone).isoformat(timespec="seconds")


def year_sitemap(base_url: str, year: int, articles: Iterable[Listed], zone: ZoneInfo) -> Output:
    """The sitemap of one year's article pages, each dated by its publication."""
    urls = [(base_url + article_path(a.slug), w3c_datetime(a.published, zone)) for a in articles]
    return Output(year_sitemap_path(year), XML, _listing("urlset", "url", urls))


def site_sitemaps(base_url: str, pages: Sequence[str], years: Iterable[int]) -> list[Output]:
    """``sitemaps/site.xml`` with the lists' own ``pages``, and the index naming it and the
    sitemap of each of ``years``."""
    listed = [(f"{base_url}{page}", None) for page in pages]
    site = Output(SITE, XML, _listing("urlset", "url", listed))
    parts = [SITE, *(year_sitemap_path(year) for year in sorted(years, reverse=True))]
    index = _listing("sitemapindex", "sitemap", [(f"{base_url}{p}", None) for p in parts])
    return [Output(INDEX, XML, index), site]


def robots(site: SiteSettings) -> Output:
    """``robots.txt``: every crawler welcome but in the console and the admin API, and where
    the sitemap is. Its paths are the site's own (a site served under a path keeps them there).
    """
    root = urlsplit(site.base_url).path or "/"
    lines = ["User-agent: *", *(f"Disallow: {root}{path}" for path in PRIVATE)]
    lines.append(f"Sitemap: {site.base_url}{INDEX}")
    return Output(ROBOTS, TEXT, ("\n".join(lines) + "\n").encode())
