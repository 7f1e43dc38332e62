"""Dates are shown on the site's calendar; feeds keep the exact instant.

This pins a finding: "A date-only article (midnight in the site's zone) shows as the previous
day in readers that display UTC, and `digest --dry-run` prints UTC dates." A front matter that
says ``date: 2026-03-29`` means midnight in the site's zone (here Europe/Berlin, whose clocks
go forward that day), which is 2026-03-28T23:00Z. Everywhere a person reads the date (article
page, home / tag / archive pages, both parts of a digest, ``publisher digest NAME --dry-run``
and ``publisher preview NAME --text``) it must read 29 March, never the 28th; the Atom, RSS and
JSON feeds must name the exact instant, which a reader then shows in its own zone. The same
holds for ``date: 2026-01-01`` (2025-12-31T23:00Z), which must also be filed under the archive
year 2026, not 2025.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from lxml import etree, html

from publisher.mail.drafts import draft
from publisher.mail.issues import find_digest
from publisher.site.render import environment_for
from publisher.text import visible_text
from tests.cli.test_cli import _run
from tests.conftest import BERLIN, NOW, Project
from tests.outboxes import published_articles

ATOM = "{http://www.w3.org/2005/Atom}"
# Half past midnight of 29 March in Berlin, still the 28th in UTC: when a digest is opened.
OPENED = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
TAG = "Timekeeping"


@dataclass(frozen=True)
class Dated:
    """One date-only article: what its front matter says and how people and feeds see it."""

    name: str
    slug: str
    title: str
    written: str  # the front matter's ``date:``
    instant: datetime  # midnight in Berlin, in UTC
    local: str  # as a person reads it on the site's calendar
    utc: str  # as a person would wrongly read it in UTC

    def text(self) -> str:
        return f"""---
title: "{self.title}"
author: Ilse Brandt
date: {self.written}
slug: {self.slug}
tags: [{TAG}]
attribution: "Originally published by Harbor Notes. © 2026 Ilse Brandt."
disclaimer: "The views expressed are the author's own."
---
<p>The harbour clock has its own opinion about the calendar.</p>
"""


DST_DAY = Dated(
    "clocks-forward.md",
    "clocks-forward",
    "Clocks Go Forward on the Quay",
    "2026-03-29",
    datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
    "29 March 2026",
    "28 March 2026",
)
NEW_YEAR = Dated(
    "new-year.md",
    "new-year",
    "New Year on the Harbour Wall",
    "2026-01-01",
    datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
    "1 January 2026",
    "31 December 2025",
)
DATED = (DST_DAY, NEW_YEAR)


def _write(project: Project) -> None:
    assert project.settings().site.timezone == "Europe/Berlin"
    assert project.settings().zone == BERLIN
    for article in DATED:
        project.write(article.name, article.text())
    # The premise: midnight in Berlin is the previous day in UTC.
    for article in DATED:
        midnight = datetime.fromisoformat(article.written).replace(tzinfo=BERLIN)
        assert midnight.astimezone(UTC) == article.instant
        assert article.instant.date() < midnight.date()


def _published(project: Project) -> Path:
    _write(project)
    report = project.publish(NOW)
    assert not report.skipped, report.skipped
    assert not report.refused, report.refused
    return project.public


def _page(path: Path) -> html.HtmlElement:
    return html.fromstring(path.read_bytes())


def _listed_date(page: html.HtmlElement, slug: str) -> str:
    """The byline a listing page shows under the link to ``slug``."""
    links = [a for a in page.iter("a") if a.get("href", "").endswith(f"articles/{slug}.html")]
    assert len(links) == 1, f"{slug} is listed {len(links)} times"
    item = links[0].getparent()
    assert item is not None and item.tag == "li"
    smalls = item.findall("small")
    assert len(smalls) == 1
    return " ".join(smalls[0].text_content().split())


def test_article_pages_show_the_day_on_the_sites_calendar(db_project: Project) -> None:
    public = _published(db_project)
    for article in DATED:
        page = _page(public / "articles" / f"{article.slug}.html")
        meta = page.xpath("//p[@class='meta']")
        assert len(meta) == 1
        shown = " ".join(meta[0].text_content().split())
        assert article.local in shown, shown
        assert article.utc not in shown, shown
        # The machine-readable <time datetime> may keep the instant; it must be that instant.
        for stamp in page.xpath("//p[@class='meta']/time/@datetime"):
            assert datetime.fromisoformat(str(stamp)) == article.instant


def test_home_tag_and_archive_pages_show_the_day_on_the_sites_calendar(
    db_project: Project,
) -> None:
    public = _published(db_project)
    listings = {
        "home": public / "index.html",
        "tag": public / "tags" / "timekeeping.html",
        "archive 2026": public / "archive" / "2026.html",
    }
    for where, path in listings.items():
        assert path.is_file(), f"{where}: {path} was not written"
        page = _page(path)
        for article in DATED:
            shown = _listed_date(page, article.slug)
            assert shown.endswith(article.local), f"{where}: {article.slug} reads {shown!r}"
            assert article.utc not in shown, f"{where}: {article.slug} reads {shown!r}"
    # 1 January in Berlin is filed under 2026, the year a person reads on its page.
    assert not (public / "archive" / "2025.html").exists()
    archive = " ".join(_page(public / "archive.html").text_content().split())
    assert "2025" not in archive


def test_both_parts_of_a_digest_show_the_day_on_the_sites_calendar(db_project: Project) -> None:
    _published(db_project)
    settings = db_project.settings()
    slugs = {article.slug for article in DATED}
    articles = [a for a in published_articles(settings) if a.slug in slugs]
    assert len(articles) == len(DATED)
    made = draft(
        environment_for(settings),
        settings,
        find_digest(settings, "daily"),
        articles,
        "0011223344556677",
        OPENED,
    )
    assert made.problems == []

    lines = made.text.splitlines()
    assert lines[0].endswith(DST_DAY.local), lines[0]  # opened 00:30 on the 29th in Berlin
    page = html.fromstring(made.html)
    heading = page.xpath("//p[@class='meta']")[0]
    assert " ".join(heading.text_content().split()).endswith(DST_DAY.local)
    for article in DATED:
        byline = lines[lines.index(article.title) + 1]
        assert byline == f"By Ilse Brandt · {article.local}", byline
        meta = page.xpath(f"//h2[a[normalize-space()='{article.title}']]/following-sibling::p[1]")
        assert len(meta) == 1
        shown = " ".join(meta[0].text_content().split())
        assert shown.startswith(f"By Ilse Brandt · {article.local}"), shown
    for part in (made.text, visible_text(made.html)):
        for article in DATED:
            assert article.utc not in part


def test_digest_dry_run_and_preview_print_the_day_on_the_sites_calendar(
    project: Project,
) -> None:
    # The commands read the real clock: both articles are in its past.
    _write(project)
    assert _run(project, "publish").returncode == 0
    assert _run(project, "subscribers", "add", "ada@example.com").returncode == 0
    dry = _run(project, "digest", "daily", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    for article in DATED:
        assert f"  {article.written}  {article.title}" in dry.stdout.splitlines(), dry.stdout
        assert article.instant.date().isoformat() not in dry.stdout, dry.stdout
    preview = _run(project, "preview", "daily", "--text")
    assert preview.returncode == 0, preview.stderr
    lines = preview.stdout.splitlines()
    for article in DATED:
        assert lines[lines.index(article.title) + 1] == f"By Ilse Brandt · {article.local}"
        assert article.utc not in preview.stdout


def test_feeds_name_the_exact_instant(db_project: Project) -> None:
    public = _published(db_project)
    for folder in (public, public / "tags" / "timekeeping"):
        atom = etree.fromstring((folder / "atom.xml").read_bytes())
        rss = etree.fromstring((folder / "rss.xml").read_bytes())
        feed = json.loads((folder / "feed.json").read_text(encoding="utf-8"))
        for article in DATED:
            url = f"http://localhost:8000/articles/{article.slug}.html"
            entries = [
                e
                for e in atom.iter(f"{ATOM}entry")
                if any(link.get("href") == url for link in e.iter(f"{ATOM}link"))
            ]
            assert len(entries) == 1, f"{folder}: {article.slug} in Atom"
            for name in ("published", "updated"):
                stamp = entries[0].findtext(f"{ATOM}{name}")
                assert stamp is not None
                assert datetime.fromisoformat(stamp) == article.instant, (name, stamp)
            items = [i for i in rss.iter("item") if i.findtext("link") == url]
            assert len(items) == 1, f"{folder}: {article.slug} in RSS"
            pub_date = items[0].findtext("pubDate")
            assert pub_date is not None
            assert parsedate_to_datetime(pub_date) == article.instant, pub_date
            found = [i for i in feed["items"] if i["url"] == url]
            assert len(found) == 1, f"{folder}: {article.slug} in JSON Feed"
            for name in ("date_published", "date_modified"):
                assert datetime.fromisoformat(found[0][name]) == article.instant, found[0][name]
