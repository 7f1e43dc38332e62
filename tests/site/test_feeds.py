"""The feeds of the bundled content: valid, ordered, linked, deterministic, equal across formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import feedparser
import pytest
from lxml import etree

from tests.conftest import NOW, Project

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "http://localhost:8000/"


@pytest.fixture
def published(project: Project) -> Project:
    project.publish()
    return project


def _feeds(project: Project) -> list[str]:
    return sorted(
        p.relative_to(project.public).as_posix()
        for p in project.public.rglob("*")
        if p.name in ("atom.xml", "rss.xml")
    )


def test_every_xml_feed_is_well_formed_and_bozo_free(published: Project) -> None:
    feeds = _feeds(published)
    assert len(feeds) == 2 * 11  # the site and ten tags
    for name in feeds:
        body = (published.public / name).read_bytes()
        etree.fromstring(body, etree.XMLParser(resolve_entities=False))
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        assert parsed.entries


def test_entries_are_newest_first_in_every_format(published: Project) -> None:
    atom = feedparser.parse((published.public / "atom.xml").read_bytes())
    rss = feedparser.parse((published.public / "rss.xml").read_bytes())
    items = json.loads((published.public / "feed.json").read_text())["items"]
    dates = [e.published_parsed for e in atom.entries]
    assert dates == sorted(dates, reverse=True)
    assert [e.id for e in atom.entries] == [e.id for e in rss.entries] == [i["id"] for i in items]
    assert all(e.id.startswith("tag:localhost,") for e in atom.entries)


def test_links_point_at_the_site_and_at_the_feeds_themselves(published: Project) -> None:
    rss = etree.fromstring((published.public / "rss.xml").read_bytes())
    assert rss.findtext("channel/link") == f"{BASE}index.html"
    assert rss.find(f"channel/{ATOM}link[@rel='self']").get("href") == f"{BASE}rss.xml"
    atom = etree.fromstring((published.public / "tags" / "rivers" / "atom.xml").read_bytes())
    assert atom.find(f"{ATOM}link[@rel='self']").get("href") == f"{BASE}tags/rivers/atom.xml"
    assert atom.find(f"{ATOM}link[@rel='alternate']").get("href") == f"{BASE}tags/rivers.html"
    feed = json.loads((published.public / "feed.json").read_text())
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == f"{BASE}feed.json"


def test_feed_dates_come_from_the_newest_entry_not_the_clock(published: Project) -> None:
    atom = etree.fromstring((published.public / "atom.xml").read_bytes())
    entries = [
        datetime.fromisoformat(e.findtext(f"{ATOM}updated")) for e in atom.iter(f"{ATOM}entry")
    ]
    assert datetime.fromisoformat(atom.findtext(f"{ATOM}updated")) == max(entries)
    rss = etree.fromstring((published.public / "rss.xml").read_bytes())
    assert parsedate_to_datetime(rss.findtext("channel/lastBuildDate")) == max(entries)
    assert max(entries) < NOW.astimezone(UTC) - timedelta(days=30)


def test_entries_carry_attribution_rights_source_and_categories(published: Project) -> None:
    atom = feedparser.parse((published.public / "atom.xml").read_bytes())
    marsh = next(e for e in atom.entries if e.title == "The Salt Marsh That Came Back")
    assert marsh.rights.startswith("This article first appeared in Estuary Review.")
    assert {t.term for t in marsh.tags} == {"Atlantic Coast", "Portugal", "Wetlands", "Restoration"}
    assert marsh.author == "Ines Duarte"
    assert any(
        link.href == "https://harborwire.example.net/2024/salt-marsh-return" for link in marsh.links
    )
    rss = etree.fromstring((published.public / "rss.xml").read_bytes())
    item = next(i for i in rss.iter("item") if i.findtext("title") == marsh.title)
    assert item.findtext("{http://purl.org/dc/elements/1.1/}creator") == "Ines Duarte"
    assert item.findtext("{http://purl.org/dc/elements/1.1/}rights") == marsh.rights
    assert item.find("source").get("url") == "https://harborwire.example.net/2024/salt-marsh-return"


def test_feeds_hold_at_most_the_configured_number_of_entries(project: Project) -> None:
    project.environ["PUBLISHER_FEEDS__ENTRIES"] = "2"
    project.publish()
    for name in ("atom.xml", "rss.xml"):
        assert len(feedparser.parse((project.public / name).read_bytes()).entries) == 2
    assert len(json.loads((project.public / "feed.json").read_text())["items"]) == 2
