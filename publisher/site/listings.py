"""Outputs that list many articles: site and tag feeds, the home page, the archive, tag pages.

A publish rebuilds only the lists a change can reach: the site-wide ones, the tags of the
changed articles and the archive years of their dates (before and after an edit). The archive
is split by year so that adding one article does not re-render a page listing all of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment

from publisher.config.settings import Settings
from publisher.models import Article, Listed, Output
from publisher.site.feeds import FEED_KINDS, Entry, Feed, build_feeds
from publisher.site.pages import HTML, archive_path, article_path, listing_page, tag_prefix
from publisher.site.render import render


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


@dataclass
class Scope:
    """Which tag folders and archive years to rebuild."""

    tags: set[str] = field(default_factory=set)
    years: set[int] = field(default_factory=set)

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


Job = tuple[str, str]  # ("site", ""), ("tag", folder prefix) or ("year", "2024"): a unit of work


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
        """The site's feeds, home page and archive index."""
        yield from self.feed(self.site.title, "", "index.html")
        newest = self.articles.listing(limit=self.settings.output.index_entries)
        names = [group[0] for group in self.groups.values()]
        yield listing_page(self.env, self.site, "index.html", self.site.title, newest, "", names)
        years = sorted(self.years.items(), reverse=True)
        html = render(self.env, "archive.html", site=self.site, years=years, root="")
        yield Output("archive.html", HTML, html.encode())

    def tag(self, prefix: str) -> Iterator[Output]:
        """One tag folder's feeds and page."""
        tags = self.groups[prefix]
        title, folder, page = f"{self.site.title}: {tags[0]}", f"{prefix}/", f"{prefix}.html"
        yield from self.feed(title, folder, page, tags)
        yield listing_page(self.env, self.site, page, tags[0], self.articles.listing(tags), folder)

    def year(self, year: int) -> Output:
        """One year of the archive."""
        items = self.articles.listing(between=year_bounds(year, self.settings.zone))
        return listing_page(self.env, self.site, archive_path(year), str(year), items)

    def jobs(self, scope: Scope) -> list[Job]:
        """The units of work that build every list output ``scope`` reaches that still has
        articles: the site-wide lists, each tag folder, each archive year."""
        prefixes = sorted({tag_prefix(tag) for tag in scope.tags} & set(self.groups))
        years = sorted(scope.years & set(self.years))
        return [("site", ""), *(("tag", p) for p in prefixes), *(("year", str(y)) for y in years)]

    def job(self, job: Job) -> Iterator[Output]:
        """The outputs of one unit of work."""
        kind, key = job
        if kind == "site":
            yield from self.site_wide()
        elif kind == "tag":
            yield from self.tag(key)
        else:
            yield self.year(int(key))

    def stale(self, scope: Scope) -> list[str]:
        """Outputs of tag folders and years in ``scope`` that no longer have any article."""
        prefixes = {tag_prefix(tag) for tag in scope.tags} - set(self.groups)
        paths = [f"{p}.html" for p in prefixes]
        paths += [f"{p}/{kind.filename}" for p in prefixes for kind in FEED_KINDS]
        return paths + [archive_path(year) for year in scope.years - set(self.years)]
