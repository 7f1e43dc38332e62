"""Outputs that list many articles: site and tag feeds, the home page, the archive, tag pages.

A publish rebuilds only the lists a change can reach: the site-wide ones, the tags of the
changed articles and the archive years of their dates (before and after an edit). The archive
is split by year, and a tag's or a year's list into pages counted from its oldest article
(:mod:`publisher.site.pages`), so that adding one article re-renders neither a page listing all
of them nor every page of the list: of a list's numbered pages only those from the earliest
changed publication moment on can differ (the backlog's ``since``), and for a new article that
is the last one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment

from publisher.config.settings import Settings
from publisher.models import Article, Listed, Output
from publisher.site.feeds import FEED_KINDS, Entry, Feed, build_feeds
from publisher.site.icons import favicons
from publisher.site.pages import (
    HTML,
    archive_path,
    article_path,
    listing_page,
    page_path,
    pages_of,
    tag_prefix,
)
from publisher.site.render import render
from publisher.site.sitemaps import robots, site_sitemaps, year_sitemap, year_sitemap_path
from publisher.store.records import Backlog


class Catalogue(Protocol):
    """What lists are built from: the stored articles, as values (the publish run hands in the
    store; a test can hand in anything that answers these)."""

    def tags(self) -> list[str]: ...

    def years(self, zone: ZoneInfo) -> Counter[int]: ...

    def newest(self, limit: int, tags: Sequence[str] = ()) -> list[Article]: ...

    def listing(
        self,
        tags: Sequence[str] = (),
        limit: int | None = None,
        between: tuple[datetime, datetime] | None = None,
    ) -> list[Listed]: ...

    def count(
        self,
        tags: Sequence[str] = (),
        between: tuple[datetime, datetime] | None = None,
        before: datetime | None = None,
    ) -> int: ...


@dataclass
class Scope:
    """Which tag folders and archive years to rebuild, and from where.

    ``since`` holds, per tag, the earliest publication moment a change reached, ``moments``
    every changed publication moment (the archive year of each is rebuilt from the earliest in
    it): the numbered pages wholly older stay as they are. A tag without ``since``, and a year
    with no moment in it, is rebuilt from its first page.
    """

    tags: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)
    since: dict[str, datetime] = field(default_factory=dict)
    moments: set[datetime] = field(default_factory=set)

    @classmethod
    def of(cls, backlog: Backlog) -> Scope:
        """What a backlog reaches."""
        return cls(set(backlog.tags), set(backlog.years), dict(backlog.since), set(backlog.moments))

    def add(self, tags: Iterable[str], *moments: datetime | None, zone: ZoneInfo) -> None:
        """Reach the folders of ``tags`` and the archive years of ``moments``."""
        self.tags.update(tags)
        self.years.update(m.astimezone(zone).year for m in moments if m is not None)


def tag_groups(tags: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Tags by the folder they publish to: tags differing only in case or punctuation share one."""
    groups: dict[str, list[str]] = {}
    for tag in sorted(tags):
        groups.setdefault(tag_prefix(tag), []).append(tag)
    return {prefix: tuple(group) for prefix, group in groups.items()}


def year_bounds(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of ``year`` and of the next one, on the site's calendar."""
    return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)


ARCHIVE = "archive.html"  # the archive's index: one line per year

# A unit of list work: ("site", "", None), or a tag folder ("tag", prefix, since) or an archive
# year ("year", "2024", since), its numbered pages from ``since`` on (all, for None).
Job = tuple[str, str, datetime | None]


def _year_stem(year: int) -> str:
    """The stem of a year's pages: ``archive/<year>``."""
    return archive_path(year).removesuffix(".html")


@dataclass(frozen=True)
class Shape:
    """What every list depends on besides its own articles: the tag folders and the archive
    years with their counts. Loaded once a publish, and handed to the workers that build lists
    rather than loaded again by each."""

    groups: dict[str, tuple[str, ...]]
    years: Counter[int]

    @classmethod
    def of(cls, articles: Catalogue, zone: ZoneInfo) -> Shape:
        """The shape of the stored articles, years on the site's calendar."""
        return cls(tag_groups(articles.tags()), articles.years(zone))


class Lists:
    """Builds list outputs from a :class:`Catalogue`, each article's entry rendered once a run
    (in each process that builds lists)."""

    def __init__(
        self,
        articles: Catalogue,
        env: Environment,
        settings: Settings,
        shape: Shape | None = None,
    ) -> None:
        self.articles, self.env, self.settings = articles, env, settings
        self.site = settings.site
        self.entries: dict[str, Entry] = {}
        self.shape = shape or Shape.of(articles, settings.zone)
        self.groups, self.years = self.shape.groups, self.shape.years
        self.totals: dict[str, int] = {}  # articles per tag folder built, by its prefix

    def feed(self, title: str, prefix: str, page: str, tags: Sequence[str] = ()) -> list[Output]:
        """Every format of one feed of the newest articles (with one of ``tags``, if given)."""
        entries = []
        for article in self.articles.newest(self.settings.feeds.entries, tags):
            if article.uid not in self.entries:
                content = render(self.env, "_content.html", article=article)
                url = f"{self.site.base_url}{article_path(article.slug)}"
                self.entries[article.uid] = Entry(article, content, url)
            entries.append(self.entries[article.uid])
        hub = self.settings.feeds.hub
        return build_feeds(Feed(self.site, title, prefix, page, tuple(entries), hub))

    def site_wide(self) -> Iterator[Output]:
        """The site's feeds, home page and archive index, the sitemap index with the sitemap of
        the lists' pages, ``robots.txt`` and the icons."""
        yield from self.feed(self.site.title, "", "index.html")
        newest = self.articles.listing(limit=self.settings.output.index_entries)
        names = [group[0] for group in self.groups.values()]
        yield listing_page(self.env, self.site, "index.html", self.site.title, newest, "", names)
        years = sorted(self.years.items(), reverse=True)
        html = render(self.env, "archive.html", site=self.site, years=years, root="", path=ARCHIVE)
        yield Output(ARCHIVE, HTML, html.encode())
        pages = ["index.html", ARCHIVE, *(f"{prefix}.html" for prefix in sorted(self.groups))]
        pages += [archive_path(year) for year, _count in years]
        yield from site_sitemaps(self.site.base_url, pages, self.years)
        yield robots(self.site)
        yield from favicons(self.env, self.site)

    def paged(
        self,
        stem: str,
        heading: str,
        fetch: Callable[[int | None], list[Listed]],
        total: int,
        start: int = 0,
        feed_prefix: str | None = None,
    ) -> Iterator[Output]:
        """A list's own page ``<stem>.html`` (its newest articles) and its numbered pages from
        the one holding its ``start``-th oldest article (0: every one) on.

        ``fetch(limit)`` gives the list's newest ``limit`` articles (all, for None), newest
        first, and ``total`` says how many it has: one query loads what the pages show.
        """
        size, main = self.settings.output.page_size, f"{stem}.html"
        last = pages_of(total, size)
        if not last:
            yield listing_page(self.env, self.site, main, heading, fetch(None), feed_prefix)
            return
        # A page's "newer" link changes when a page after it appears or goes: from the page of
        # the last unchanged article on, not only from the one of the first changed.
        first = max(1, (start - 1) // size + 1)
        items = fetch(max(size, total - (first - 1) * size))
        older = page_path(stem, last - 1)  # this page already shows all of the last one
        newest = items[:size]
        yield listing_page(self.env, self.site, main, heading, newest, feed_prefix, older=older)
        for number in range(first, last + 1):
            # Page k holds the oldest-first positions (k-1)·size .. k·size-1.
            shown = items[max(0, total - number * size) : total - (number - 1) * size]
            yield listing_page(
                self.env,
                self.site,
                page_path(stem, number),
                heading,
                shown,
                feed_prefix,
                newer=page_path(stem, number + 1) if number < last else main,
                older=page_path(stem, number - 1) if number > 1 else None,
                number=number,
            )

    def tag(self, prefix: str, since: datetime | None = None) -> Iterator[Output]:
        """One tag folder's feeds and pages, the numbered ones from ``since`` on (all, for
        None)."""
        tags, articles = self.groups[prefix], self.articles
        title, folder = f"{self.site.title}: {tags[0]}", f"{prefix}/"
        yield from self.feed(title, folder, f"{prefix}.html", tags)
        start = 0 if since is None else articles.count(tags, before=since)
        total = self.totals[prefix] = articles.count(tags)

        def fetch(limit: int | None) -> list[Listed]:
            return articles.listing(tags, limit)

        yield from self.paged(prefix, tags[0], fetch, total, start, folder)

    def year(self, year: int, since: datetime | None = None) -> Iterator[Output]:
        """One year of the archive, its numbered pages from ``since`` on (all, for None), and
        the sitemap of its articles."""
        bounds, articles = year_bounds(year, self.settings.zone), self.articles
        start = 0 if since is None else articles.count(between=bounds, before=since)
        every = articles.listing(between=bounds)  # the sitemap lists them all: one query

        def fetch(limit: int | None) -> list[Listed]:
            return every if limit is None else every[:limit]

        yield from self.paged(_year_stem(year), str(year), fetch, self.years[year], start)
        yield year_sitemap(self.site.base_url, year, every, self.settings.zone)

    def jobs(self, scope: Scope) -> list[Job]:
        """The units of work that build every list output ``scope`` reaches that still has
        articles: the site-wide lists, each tag folder and archive year from where a change
        reached it."""
        prefixes = sorted({tag_prefix(tag) for tag in scope.tags} & set(self.groups))
        years = sorted(scope.years & set(self.years))
        tags = [("tag", p, self._since_of_tag(p, scope)) for p in prefixes]
        dated = [("year", str(y), self._since_of_year(y, scope)) for y in years]
        return [("site", "", None), *tags, *dated]

    def job(self, job: Job) -> Iterator[Output]:
        """The outputs of one unit of work."""
        kind, key, since = job
        if kind == "site":
            yield from self.site_wide()
        elif kind == "tag":
            yield from self.tag(key, since)
        else:
            yield from self.year(int(key), since)

    @staticmethod
    def _since_of_tag(prefix: str, scope: Scope) -> datetime | None:
        """The earliest change to any tag of the folder (None: one without a moment)."""
        changed = [tag for tag in scope.tags if tag_prefix(tag) == prefix]
        if any(tag not in scope.since for tag in changed):
            return None
        return min(scope.since[tag] for tag in changed)

    def _pages_past(self, stem: str, total: int, published: Container[str]) -> list[str]:
        """The published numbered pages of a list past those of its ``total`` articles."""
        found, number = [], pages_of(total, self.settings.output.page_size) + 1
        while page_path(stem, number) in published:
            found.append(page_path(stem, number))
            number += 1
        return found

    def _since_of_year(self, year: int, scope: Scope) -> datetime | None:
        zone = self.settings.zone
        return min((m for m in scope.moments if m.astimezone(zone).year == year), default=None)

    def stale(self, scope: Scope, published: Container[str]) -> list[str]:
        """Outputs of tag folders and years in ``scope`` that are no longer produced: all of
        those without any article (a year's sitemap too), the numbered pages past the last of
        the others.

        ``published`` holds what is published now; numbered pages run 1, 2, … without gaps.
        """
        prefixes = {tag_prefix(tag) for tag in scope.tags}
        gone = prefixes - set(self.groups)
        paths = [f"{p}.html" for p in gone]
        paths += [f"{p}/{kind.filename}" for p in gone for kind in FEED_KINDS]
        emptied = scope.years - set(self.years)
        paths += [archive_path(year) for year in emptied]
        paths += [year_sitemap_path(year) for year in emptied]
        for prefix in prefixes:
            total = self.totals.get(prefix)
            if total is None:  # not built: gone, or the build stopped at a template error
                total = self.articles.count(self.groups[prefix]) if prefix in self.groups else 0
            paths += self._pages_past(prefix, total, published)
        for year in scope.years:
            paths += self._pages_past(_year_stem(year), self.years[year], published)
        return paths
