"""Hostile and broken content published end to end: safe pages, parseable feeds, clear reports."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

from publisher.models import Problem, RunReport
from publisher.text import visible_text
from tests.conftest import SITE, Project
from tests.corpus import growing

STRICT_XML = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
ATOM_CONTENT = "{http://www.w3.org/2005/Atom}content"
RSS_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"

HOSTILE_MARKUP = (
    "<script>alert(1)</script> <img src=x onerror=alert(1)> "
    '<a href="javascript:alert(1)">js link</a> <a href=" JaVaScRiPt:alert(2)">mixed case</a> '
    '<iframe src="https://evil.example/"></iframe> <style>body { display: none }</style>'
)
NON_ASCII = "😀 שלום עולם 中文字 Ünïcödé"
HOSTILE_TITLE = f"Hostile {HOSTILE_MARKUP} & ]]>\r\nsecond line {NON_ASCII}\x0b\x0c"
ATTRIBUTION_TEXT = f"First published by Ünïcode Press & Partners ]]> {NON_ASCII}"
HOSTILE_BODY = f"""\
{HOSTILE_MARKUP}

Fish & chips ]]> {NON_ASCII} \x0b\x0c and a [markdown link](javascript:alert(3)).

<p onclick="alert(4)">Second paragraph <b>bold</b> &amp; <SCRIPT>alert(5)</SCRIPT>.</p>
"""
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
UNRECOGNISED_CAPTURE = "A title\n\nSomebody wrote this, somewhere.\n\nA body.\n"


def yaml_string(value: str) -> str:
    """A YAML double-quoted scalar: control characters become escapes such as ``\\u000b``."""
    return json.dumps(value, ensure_ascii=False)


def article_source(body: str = "A plain body.\n", **fields: str | None) -> str:
    """A Markdown article; ``fields`` are YAML source text replacing defaults (None drops one)."""
    values: dict[str, str | None] = {
        "title": '"A good article"',
        "date": "2024-01-01",
        "attribution": '"By a careful writer"',
        **fields,
    }
    front = "".join(f"{key}: {value}\n" for key, value in values.items() if value is not None)
    return f"---\n{front}---\n{body}"


def page_of(project: Project, slug: str) -> str:
    return (project.public / "articles" / f"{slug}.html").read_text(encoding="utf-8")


def feed_files(public: Path) -> list[Path]:
    return sorted(
        path for path in public.rglob("*") if path.name in ("atom.xml", "rss.xml", "feed.json")
    )


def entry_contents(feed: Path) -> list[str]:
    """The HTML content of every entry of one feed file."""
    if feed.suffix == ".json":
        return [item["content_html"] for item in json.loads(feed.read_bytes())["items"]]
    root = etree.fromstring(feed.read_bytes(), STRICT_XML)
    return [element.text or "" for element in root.iter(ATOM_CONTENT, RSS_CONTENT)]


def assert_feeds_parse(public: Path) -> list[Path]:
    """Every feed under ``public/`` parses strictly (XML with lxml and feedparser, JSON)."""
    feeds = feed_files(public)
    for feed in feeds:
        body = feed.read_bytes()
        if feed.suffix == ".json":
            assert json.loads(body)["items"], feed
            continue
        etree.fromstring(body, STRICT_XML)
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, (feed, parsed.get("bozo_exception"))
        assert parsed.entries, feed
    return feeds


def unsafe_markup(root: lxml.html.HtmlElement) -> list[str]:
    """What under ``root`` could run code: scripts, frames, styles, handlers, ``javascript:``."""
    found = [f"<{e.tag}>" for e in root.iter("script", "iframe", "style", "object", "embed")]
    for element in root.iter():
        for name, value in element.attrib.items():
            if name.lower().startswith("on") or "javascript:" in "".join(value.split()).lower():
                found.append(f"{element.tag} {name}={value!r}")
    return found


def fragment(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html, create_parent="div")


def skipped(report: RunReport, path: str) -> list[Problem]:
    return [problem for problem in report.skipped if problem.path == path]


def outcome(report: RunReport) -> dict[str, list[str]]:
    """What a publish did with the content (warnings aside), in a form that diffs well."""
    return {
        "new": sorted(report.new),
        "errors": [problem.line() for problem in report.skipped if problem.severity == "error"],
        "refused": report.refused,
    }


def clean(*new: str) -> dict[str, list[str]]:
    """The outcome of a publish that read ``new``, with no error and no refused output."""
    return {"new": sorted(new), "errors": [], "refused": []}


@pytest.fixture
def site(tmp_path: Path) -> Project:
    """A project root with the tests' config/ and an empty content/."""
    root = tmp_path / "site"
    shutil.copytree(SITE / "config", root / "config")
    (root / "content").mkdir()
    return Project(root, {"PUBLISHER_CONTENT__SETTLE_SECONDS": "0"})


# -- hostile text ------------------------------------------------------------------------------


@pytest.fixture
def hostile(site: Project) -> tuple[Project, RunReport]:
    """The site after publishing one hostile article (and nothing else)."""
    site.write(
        "hostile.md",
        article_source(
            HOSTILE_BODY,
            title=yaml_string(HOSTILE_TITLE),
            author=yaml_string(f"Ann <b>O'Hara</b> & Co {NON_ASCII}"),
            attribution=yaml_string(f"{ATTRIBUTION_TEXT}\x0b\x0c<img src=x onerror=alert(1)>"),
            disclaimer=yaml_string(f"No reuse <script>alert(6)</script> & ]]> {NON_ASCII}"),
            tags=json.dumps(["Coasts & <Rivers> ]]>", "Ünïcode"], ensure_ascii=False),
        ),
    )
    return site, site.publish()


def test_hostile_article_is_published_with_every_output(hostile: tuple[Project, RunReport]) -> None:
    site, report = hostile
    assert outcome(report) == clean("hostile.md")
    pages = list((site.public / "articles").glob("*.html"))
    assert len(pages) == 1
    feeds = assert_feeds_parse(site.public)
    tag_folders = {feed.parent for feed in feeds if feed.parent.parent.name == "tags"}
    assert len(tag_folders) == 2  # one per tag, each with every feed kind
    assert len(feeds) == 3 * (1 + len(tag_folders))


def test_hostile_article_page_runs_no_code_and_keeps_its_text(
    hostile: tuple[Project, RunReport],
) -> None:
    site, _report = hostile
    [page_file] = (site.public / "articles").glob("*.html")
    page = page_file.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    # The title is shown as text and, escaped, in attribute values (its slug in the canonical
    # URL, OpenGraph's og:title), so these words may be read; never as a handler or a link.
    for element in lxml.html.fromstring(page).iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            if name.lower() in ("href", "src", "action", "formaction"):
                assert not value.strip().lower().startswith("javascript:"), (element.tag, value)
    assert not re.search(r"<\s*(img|svg|iframe|object)\b[^>]*\bon\w+\s*=", page, re.IGNORECASE)
    assert unsafe_markup(lxml.html.fromstring(page).find(".//article")) == []
    text = visible_text(page)
    assert ATTRIBUTION_TEXT in text
    assert f"No reuse & ]]> {NON_ASCII}" in text
    assert f"Fish & chips ]]> {NON_ASCII}" in text
    assert not any(c in page for c in "\x00\x0b\x0c\r")


def test_hostile_article_feeds_carry_safe_content_and_a_one_line_title(
    hostile: tuple[Project, RunReport],
) -> None:
    site, _report = hostile
    for feed in feed_files(site.public):
        for content in entry_contents(feed):
            assert unsafe_markup(fragment(content)) == [], feed
            assert ATTRIBUTION_TEXT in visible_text(content), feed
    [item] = json.loads((site.public / "feed.json").read_bytes())["items"]
    assert "\r" not in item["title"] and "\n" not in item["title"]
    assert item["title"].endswith(f"& ]]> second line {NON_ASCII}")
    atom = feedparser.parse((site.public / "atom.xml").read_bytes())
    assert atom.entries[0].title == item["title"]


BODY = "A plain body.\n"
CONTROL_CASES = [
    # (id, body, front-matter fields as YAML source, text a reader must still see)
    ("nul-byte-in-body", "Before\x00 after.\n", {}, "Before after."),
    ("c0-bytes-in-body", "Before\x01\x08\x0b\x0c\x1f after.\n", {}, "Before after."),
    ("c0-bytes-in-attribution", BODY, {"attribution": '"By\x01\x0b me"'}, "By me"),
    ("nul-escape-in-attribution", BODY, {"attribution": '"By\\0 me"'}, "By me"),
    ("soh-escape-in-attribution", BODY, {"attribution": '"By\\x01 me"'}, "By me"),
    ("esc-escape-in-attribution", BODY, {"attribution": '"By\\e me"'}, "By me"),
    ("vt-ff-escape-in-attribution", BODY, {"attribution": '"By\\v\\f me"'}, "By me"),
    ("bs-escape-in-disclaimer", BODY, {"disclaimer": '"No\\b reuse"'}, "No reuse"),
]


@pytest.mark.parametrize(
    ("body", "fields", "expected"),
    [pytest.param(*case, id=name) for name, *case in CONTROL_CASES],
)
def test_control_characters_are_removed_not_fatal(
    site: Project, body: str, fields: dict[str, str], expected: str
) -> None:
    """XML-illegal characters, as bytes or as YAML escapes, cost neither the article nor the run."""
    site.write("controls.md", article_source(body, **fields))
    site.write("other.md", article_source(title='"Another article"'))
    report = site.publish()
    assert outcome(report) == clean("controls.md", "other.md")
    page = page_of(site, "a-good-article")
    assert expected in visible_text(page)
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", page)
    assert_feeds_parse(site.public)


def test_an_image_only_article_is_published_in_every_feed(site: Project) -> None:
    site.write("photo.md", article_source("![A heron](https://example.org/heron.jpg)\n"))
    report = site.publish()
    assert outcome(report) == clean("photo.md")
    for feed in assert_feeds_parse(site.public):
        assert all("By a careful writer" in visible_text(c) for c in entry_contents(feed)), feed


def linked_pages(page: Path, selector: str) -> list[Path]:
    """The files that the links matching ``selector`` (XPath) on ``page`` point at."""
    root = lxml.html.fromstring(page.read_bytes())
    return [(page.parent / href).resolve() for href in root.xpath(f"{selector}/@href")]


@pytest.mark.parametrize("tags", [("中文", "日本語"), ("C", "C++")], ids=["cjk", "punctuation"])
def test_tags_with_the_same_slug_each_lead_to_their_articles(
    site: Project, tags: tuple[str, str]
) -> None:
    for number, tag in enumerate(tags):
        site.write(f"{number}.md", article_source(title=f'"Article {number}"', tags=f'["{tag}"]'))
    assert outcome(site.publish()) == clean("0.md", "1.md")
    for number in range(len(tags)):
        page = site.public / "articles" / f"article-{number}.html"
        [tag_page] = linked_pages(page, "//p[contains(@class, 'tags')]/a")
        assert page.resolve() in linked_pages(tag_page, "//ul[@class='listing']//a")
        feed = tag_page.with_suffix("") / "feed.json"
        items = json.loads(feed.read_bytes())["items"]
        assert f"Article {number}" in [item["title"] for item in items]


def test_a_one_megabyte_article_is_published_and_its_feeds_parse(site: Project) -> None:
    paragraph = " ".join(f"word{i}" for i in range(150))
    body = "\n\n".join(f"Paragraph {n}: {paragraph}." for n in range(1000))
    assert len(body.encode()) > 1_000_000
    site.write("big.md", article_source(body, title='"A long read"'))
    report = site.publish()
    assert outcome(report) == clean("big.md")
    page = page_of(site, "a-long-read")
    assert "Paragraph 999: word0" in page and "By a careful writer" in page
    assert_feeds_parse(site.public)
    [item] = json.loads((site.public / "feed.json").read_bytes())["items"]
    assert len(item["content_html"]) > 1_000_000


# -- broken files ------------------------------------------------------------------------------

TITLE_ONLY = article_source(body="")
NO_ATTRIBUTION = article_source(attribution=None)
INVALID_YAML = article_source(title='"unclosed', tags="[a, b")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        pytest.param("empty.md", b"", "empty file", id="empty"),
        pytest.param("blank.md", b" \n\r\n\t\n", "empty file", id="whitespace-only"),
        pytest.param("photo.md", PNG_HEADER, "binary file", id="binary"),
        pytest.param("title-only.md", TITLE_ONLY.encode(), "title only", id="title-only"),
        pytest.param("anonymous.md", NO_ATTRIBUTION.encode(), "no attribution", id="no-attr"),
        pytest.param("capture.txt", UNRECOGNISED_CAPTURE.encode(), "no source profile", id="txt"),
        pytest.param("broken.md", INVALID_YAML.encode(), "not valid YAML", id="invalid-yaml"),
    ],
)
def test_a_bad_file_is_reported_and_the_good_one_published(
    site: Project, name: str, content: bytes, reason: str
) -> None:
    site.write("good.md", article_source())
    site.write(name, content)
    report = site.publish()
    assert report.new == ["good.md"]
    [problem] = skipped(report, name)
    assert reason in problem.reason and problem.severity == "error"
    assert [p.path for p in report.skipped] == [name]
    assert "By a careful writer" in page_of(site, "a-good-article")


def test_a_windows_1252_file_is_published_with_a_warning(site: Project) -> None:
    source = article_source("Naïve “quoted” body – 5 €.\n", title='"Café crème"')
    site.write("latin.md", source.replace("careful writer", "careful writer ©").encode("cp1252"))
    report = site.publish()
    assert report.new == ["latin.md"]
    [problem] = skipped(report, "latin.md")
    assert problem.severity == "warning" and "Windows-1252" in problem.reason
    text = visible_text(page_of(site, "cafe-creme"))
    assert "Naïve “quoted” body – 5 €." in text and "By a careful writer ©" in text


def test_a_utf8_bom_crlf_file_is_published_cleanly(site: Project) -> None:
    source = article_source("Line one,\nstill one.\n\nLine two.\n", title='"Öffnung"')
    site.write("windows.md", b"\xef\xbb\xbf" + source.replace("\n", "\r\n").encode())
    report = site.publish()
    assert outcome(report) == clean("windows.md")
    assert report.skipped == []
    page = page_of(site, "offnung")
    assert "\r" not in page and "\ufeff" not in page
    assert "<h1>Öffnung</h1>" in page
    assert "<p>Line one,\nstill one.</p>\n<p>Line two.</p>" in page


# -- files not to read yet ---------------------------------------------------------------------


def test_temporary_and_hidden_files_are_ignored(site: Project) -> None:
    names = (".#draft.md", "draft.md~", "x.md.tmp", ".hidden.md")
    for number, name in enumerate(names):
        site.write(name, article_source(title=f'"Temporary {number}"'))
    site.write("good.md", article_source())
    report = site.publish()
    assert outcome(report) == clean("good.md")
    assert report.skipped == []
    assert [page.name for page in (site.public / "articles").iterdir()] == ["a-good-article.html"]


@pytest.mark.parametrize("age", [0, -3600], ids=["just-now", "in-the-future"])
def test_a_file_copied_just_before_the_publish_is_published(site: Project, age: int) -> None:
    site.environ["PUBLISHER_CONTENT__SETTLE_SECONDS"] = "0.3"
    settled = site.write("good.md", article_source())
    hour_ago = time.time() - 3600
    os.utime(settled, (hour_ago, hour_ago))
    fresh = site.write("fresh.md", article_source(title='"Fresh article"'))
    os.utime(fresh, (time.time() - age, time.time() - age))
    report = site.publish()
    assert sorted(report.new) == ["fresh.md", "good.md"]
    assert report.skipped == []
    assert (site.public / "articles" / "fresh-article.html").exists()


def test_a_file_that_keeps_changing_is_reported_and_the_rest_published(site: Project) -> None:
    site.environ["PUBLISHER_CONTENT__SETTLE_SECONDS"] = "0.2"
    site.environ["PUBLISHER_CONTENT__SETTLE_WAIT_SECONDS"] = "1"
    site.write("good.md", article_source())
    still = site.write("growing.md", article_source(title='"Still growing"'))
    with growing(still):
        report = site.publish()
    assert report.new == ["good.md"]
    [problem] = skipped(report, "growing.md")
    assert "still being written" in problem.reason and problem.severity == "error"
    assert not (site.public / "articles" / "still-growing.html").exists()
