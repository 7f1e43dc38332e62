"""Valid feeds when every article links its original: one alternate (ours), HTML descriptions.

The root's articles (tests/data/feeds/content) all have a ``source_url`` and summaries with
``<``, ``&``, ``>`` and quotes in them; tests/feedcheck.py is the checker run over its feeds.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import lxml.html
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.config.settings import SiteSettings
from publisher.models import Article
from publisher.site.feeds import Entry, Feed, build_feeds
from publisher.site.pages import tag_prefix
from publisher.text import one_line
from tests.conftest import NOW, REPO, Project
from tests.feedcheck import ATOM, Place, check_feeds, check_folder, html_text

CONTENT = REPO / "tests" / "data" / "feeds" / "content"
BASE = "http://localhost:8000/"


@pytest.fixture
def sourced(project: Project) -> Project:
    """The test project with only articles that name their original, published."""
    shutil.rmtree(project.root / "content")
    shutil.copytree(CONTENT, project.root / "content")
    report = project.publish()
    assert len(report.new) == 4 and not report.skipped
    return project


def front_matter(name: str) -> dict[str, Any]:
    text = (CONTENT / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = yaml.safe_load(text.split("---\n")[1])
    return loaded


def places(public: Path) -> list[Place]:
    """The site's feeds and every tag's: each folder that holds an Atom feed."""
    folders = sorted(
        "" if p.parent == public else f"{p.parent.relative_to(public).as_posix()}/"
        for p in public.rglob("atom.xml")
    )
    return [
        Place(BASE, folder, f"{folder[:-1]}.html" if folder else "index.html") for folder in folders
    ]


def test_every_feed_of_a_root_whose_articles_all_have_a_source_passes_the_strict_checker(
    sourced: Project,
) -> None:
    found = places(sourced.public)
    tags = {tag for path in CONTENT.iterdir() for tag in front_matter(path.name)["tags"]}
    assert len(tags) == 3
    assert {place.folder for place in found} == {"", *(f"{tag_prefix(tag)}/" for tag in tags)}
    problems = [problem for place in found for problem in check_folder(sourced.public, place)]
    assert problems == []


def test_every_feed_of_the_test_site_passes_the_strict_checker(project: Project) -> None:
    """The same checks where one article has no original: its one link is ours."""
    project.publish()
    found = places(project.public)
    assert len(found) == 11
    assert [problem for place in found for problem in check_folder(project.public, place)] == []


def test_atom_entries_have_our_page_as_the_one_alternate_and_the_original_as_related(
    sourced: Project,
) -> None:
    atom = etree.fromstring((sourced.public / "atom.xml").read_bytes())
    entries = {e.findtext(f"{ATOM}title"): e for e in atom.iter(f"{ATOM}entry")}
    assert len(entries) == 4
    for name in CONTENT.iterdir():
        meta = front_matter(name.name)
        entry = entries[meta["title"]]
        links = [dict(link.attrib) for link in entry.findall(f"{ATOM}link")]
        ours = f"{BASE}articles/{name.stem}.html"
        assert links == [
            {"href": ours, "rel": "alternate", "type": "text/html"},
            {"href": meta["source_url"], "rel": "related", "type": "text/html"},
        ]
        assert entry.findtext(f"{ATOM}source/{ATOM}title") == meta["source"]
        assert entry.find(f"{ATOM}source/{ATOM}link").attrib == {"href": meta["source_url"]}
    # What a reader that takes "the" link of an entry opens: our page.
    parsed = feedparser.parse((sourced.public / "atom.xml").read_bytes())
    assert all(e.link.startswith(f"{BASE}articles/") for e in parsed.entries)


def test_rss_descriptions_read_as_html_give_exactly_the_plain_text_summary(
    sourced: Project,
) -> None:
    rss = etree.fromstring((sourced.public / "rss.xml").read_bytes())
    atom = etree.fromstring((sourced.public / "atom.xml").read_bytes())
    items = json.loads((sourced.public / "feed.json").read_text())["items"]
    descriptions = {i.findtext("title"): i.findtext("description") for i in rss.iter("item")}
    summaries = {
        e.findtext(f"{ATOM}title"): e.find(f"{ATOM}summary") for e in atom.iter(f"{ATOM}entry")
    }
    json_summaries = {item["title"]: item["summary"] for item in items}
    written = [front_matter(p.name) for p in CONTENT.iterdir()]
    hostile = [meta for meta in written if "summary" in meta]
    assert len(hostile) == 3
    for meta in hostile:
        description, summary = descriptions[meta["title"]], meta["summary"]
        assert html_text(description) == ([], summary)
        as_html = lxml.html.fragment_fromstring(description, create_parent="div")
        assert (len(as_html), as_html.text_content()) == (0, summary)
        assert summaries[meta["title"]].attrib == {"type": "text"}
        assert summaries[meta["title"]].text == summary
        assert json_summaries[meta["title"]] == summary


def test_rss_links_and_json_urls_are_our_pages_and_json_external_urls_the_originals(
    sourced: Project,
) -> None:
    rss = etree.fromstring((sourced.public / "rss.xml").read_bytes())
    links = {i.findtext("title"): i.findtext("link") for i in rss.iter("item")}
    sources = {i.findtext("title"): i.find("source").get("url") for i in rss.iter("item")}
    items = {i["title"]: i for i in json.loads((sourced.public / "feed.json").read_text())["items"]}
    assert rss.findtext("channel/link") == f"{BASE}index.html"
    for name in CONTENT.iterdir():
        meta = front_matter(name.name)
        ours = f"{BASE}articles/{name.stem}.html"
        assert links[meta["title"]] == items[meta["title"]]["url"] == ours
        assert sources[meta["title"]] == items[meta["title"]]["external_url"] == meta["source_url"]


# -- the checker catches what it is for ------------------------------------------------------

# Each mutation makes a valid folder's feeds into what a bug would write; the checker must say so.
MUTATIONS = [
    pytest.param(
        "atom.xml",
        rb' rel="(alternate|related)" type="text/html"',
        b"",
        "DuplicateAtomLink",
        id="feedgen-1.0-links-without-rel-and-type",
    ),
    pytest.param(
        "atom.xml",
        rb'(<link href="[^"]*" rel="alternate" type="text/html"/>)(\s*)'
        rb'(<link href="[^"]*" rel="related" type="text/html"/>)',
        rb"\3\2\1",
        "the first link is not the alternate",
        id="original-first",
    ),
    pytest.param(
        "atom.xml", rb'atom.xml" rel="self"', b'index.html" rel="self"', "self link", id="atom-self"
    ),
    pytest.param("atom.xml", rb"<id>[^<]*index.html</id>", b"", "schema", id="atom-no-feed-id"),
    pytest.param(
        "atom.xml", rb"(<updated>[^<]*)\+00:00", rb"\1", "RFC 3339", id="atom-date-without-zone"
    ),
    pytest.param(
        "rss.xml", rb"&amp;(lt|gt|amp);", rb"&\1;", "NotHtml", id="description-escaped-once"
    ),
    pytest.param(
        "rss.xml",
        rb"<link>[^<]*index.html</link>",
        f"<link>{BASE}rss.xml</link>".encode(),
        "channel link",
        id="rss-channel-link-is-the-feed",
    ),
    pytest.param("rss.xml", rb"<pubDate>Sun", b"<pubDate>Mon", "IncorrectDOW", id="rss-weekday"),
    pytest.param("rss.xml", rb"<guid[^>]*>[^<]*</guid>", b"", "no guid", id="rss-no-guid"),
    pytest.param(
        "feed.json", rb'"id": "tag:[^"]*"', b'"id": 7', "no string id", id="json-integer-id"
    ),
    pytest.param(
        "feed.json", rb'("date_modified": "[^"]*)Z"', rb'\1"', "RFC 3339", id="json-date-naive"
    ),
    pytest.param(
        "feed.json", rb'"summary": "', b'"summary": "Not the summary. ', "!=", id="json-summary"
    ),
]


@pytest.mark.parametrize(("filename", "pattern", "replacement", "expected"), MUTATIONS)
def test_the_checker_reports_each_kind_of_invalid_feed(
    sourced: Project, filename: str, pattern: bytes, replacement: bytes, expected: str
) -> None:
    place = Place(BASE, "", "index.html")
    bodies = {
        name: (sourced.public / name).read_bytes() for name in ("atom.xml", "rss.xml", "feed.json")
    }
    assert check_feeds(bodies, place) == []
    bodies[filename], count = re.subn(pattern, replacement, bodies[filename])
    assert count
    problems = check_feeds(bodies, place)
    assert any(expected in problem for problem in problems), problems


# -- any summary, any title --------------------------------------------------------------------

MARKUP_BITS = st.sampled_from(
    ["<", ">", "&", ";", "<b>", "</p>", "&amp;", "&lt;", "&#60;", '"', "'", "<!--"]
)
hostile = st.lists(st.text(max_size=12) | MARKUP_BITS, max_size=8).map("".join).map(one_line)


@settings(max_examples=60, deadline=None)
@given(summary=hostile, title=hostile.filter(str.strip))
def test_any_summary_reads_back_as_itself_from_every_format_and_the_same_bytes_twice(
    summary: str, title: str
) -> None:
    article = Article(
        slug="x",
        title=title,
        author="A. Writer",
        published=NOW - timedelta(days=2),
        updated=NOW - timedelta(days=1),
        body_html="<p>A plain body.</p>",
        attribution="First published by the Plain Gazette.",
        source_path="x.md",
        source_url="https://gazette.example.org/x?a=1&b=2",
        summary=summary,
        uid="tag:localhost,2024-01-01:x",
    )
    feed = Feed(
        SiteSettings(),
        "Hostile feed",
        "",
        "index.html",
        (Entry(article, "<p>A plain body.</p>", f"{BASE}articles/x.html"),),
    )
    outputs = {output.path: output.body for output in build_feeds(feed)}
    assert check_feeds(outputs, Place(BASE, "", "index.html")) == []
    rss = etree.fromstring(outputs["rss.xml"])
    expected = Entry(article, "", "").summary
    assert html_text(rss.findtext("channel/item/description", "")) == ([], expected)
    again = Feed(SiteSettings(), "Hostile feed", "", "index.html", feed.entries)
    assert {o.path: o.body for o in build_feeds(again)} == outputs
