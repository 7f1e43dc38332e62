"""Property tests: text helpers, feeds of hostile articles, reading sources, capture extraction."""

from __future__ import annotations

import codecs
import json
import re
import string
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.config.settings import SiteSettings
from publisher.content.captures import Profile, extract, load_profiles, paragraphs
from publisher.content.frontmatter import split_front_matter
from publisher.content.reading import decode
from publisher.models import Article, Output
from publisher.site import fidelity
from publisher.site.feeds import Entry, Feed, build_feeds
from publisher.site.render import make_environment, render
from publisher.text import one_line, slugify, xml_safe

PROFILES_DIR = Path(__file__).parents[2] / "config" / "sources"
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
STRICT_XML = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
ENV = make_environment(Path("/nonexistent"))
PUBLISHED = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)

FEW = settings(max_examples=50, deadline=None)
SOME = settings(max_examples=100, deadline=None)

# -- strategies --------------------------------------------------------------------------------

# Everything UTF-8 can carry (no surrogates), with C0 controls and U+FFFE made frequent.
CONTROLS = st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\x85\ufffe\uffff\u2028")
ENCODABLE = st.characters(exclude_categories=["Cs"]) | CONTROLS
# Text as str can hold it, lone surrogates included.
ANY_CHAR = ENCODABLE | st.characters(categories=["Cs"])
MARKUP_BITS = st.sampled_from(
    ["<", ">", "&", ";", "]]>", "<b>", "</b>", "<p>", "&amp;", "&lt;", "&#0;", "\r\n", '"', "'"]
)
hostile_text = st.lists(st.text(ENCODABLE, max_size=20) | MARKUP_BITS, max_size=6).map("".join)


def is_xml_char(char: str) -> bool:
    """XML 1.0 ``Char``: TAB, LF, CR and the ranges outside C0, surrogates and U+FFFE/FFFF."""
    code = ord(char)
    return (
        char in "\t\n\r"
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


# -- text helpers ------------------------------------------------------------------------------


@SOME
@given(st.text(ANY_CHAR))
def test_xml_safe_leaves_only_xml_characters_and_is_idempotent(text: str) -> None:
    safe = xml_safe(text)
    assert all(is_xml_char(c) for c in safe)
    assert xml_safe(safe) == safe
    assert safe == "".join(c for c in text if is_xml_char(c))


@SOME
@given(st.text(ANY_CHAR))
def test_one_line_has_no_line_breaks(text: str) -> None:
    line = one_line(text)
    assert not any(c in LINE_BREAKS for c in line)
    assert line == line.strip() and "  " not in line
    assert all(is_xml_char(c) for c in line)


@SOME
@given(st.text(ANY_CHAR))
def test_slugify_is_a_short_url_safe_slug(text: str) -> None:
    slug = slugify(text)
    assert SLUG.match(slug), slug
    assert len(slug) <= 80


# -- feeds of arbitrary articles ---------------------------------------------------------------

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    # Sources refuse an article without a title: keep titles that have a character to show.
    "title": hostile_text.filter(lambda title: xml_safe(title).strip()),
    "author": hostile_text,
    "attribution": hostile_text,
    "disclaimer": st.lists(hostile_text, max_size=3).map(tuple),
    "tags": st.lists(hostile_text, max_size=3).map(tuple),
    "body_html": hostile_text,
}
FIELD_SETS = [pytest.param((name,), id=name) for name in FIELD_VALUES]
FIELD_SETS.append(pytest.param(tuple(FIELD_VALUES), id="all"))


def article_with(**values: Any) -> Article:
    """A plain article, with ``values`` replacing its fields."""
    defaults: dict[str, Any] = {
        "slug": "x",
        "title": "A plain title",
        "author": "A. Writer",
        "published": PUBLISHED,
        "updated": PUBLISHED + timedelta(days=1),
        "body_html": "<p>A plain body.</p>",
        "attribution": "First published by the Plain Gazette.",
        "source_path": "x.md",
        "uid": "tag:example.org,2024-01-01:x",
    }
    return Article(**{**defaults, **values})


def feed_outputs(article: Article) -> dict[str, Output]:
    """Every feed kind of a one-entry feed, by file name; content rendered by the theme."""
    content = render(ENV, "_content.html", article=article)
    entry = Entry(article, content, "http://localhost:8000/articles/x.html")
    feed = Feed(SiteSettings(), "Hostile feed", "", "index.html", (entry,))
    return {output.path: output for output in build_feeds(feed)}


@pytest.mark.parametrize("fields", FIELD_SETS)
@FEW
@given(data=st.data())
def test_feeds_of_any_article_parse_and_keep_its_attribution(
    fields: tuple[str, ...], data: st.DataObject
) -> None:
    """Atom and RSS parse strictly, JSON loads, and the fidelity gate passes every output.

    The gate is asserted unconditionally: an attribution without visible text is not required
    (``fidelity.required_texts``), so "no errors when it has visible text" is included.
    """
    values = data.draw(st.fixed_dictionaries({name: FIELD_VALUES[name] for name in fields}))
    article = article_with(**values)
    outputs = feed_outputs(article)
    assert set(outputs) == {"atom.xml", "rss.xml", "feed.json"}
    atom = etree.fromstring(outputs["atom.xml"].body, STRICT_XML)
    rss = etree.fromstring(outputs["rss.xml"].body, STRICT_XML)
    assert len(atom.findall("{http://www.w3.org/2005/Atom}entry")) == 1
    assert len(rss.findall("channel/item")) == 1
    assert len(json.loads(outputs["feed.json"].body)["items"]) == 1
    errors = [error for output in outputs.values() for error in fidelity.check(output)]
    assert errors == []


# -- reading sources ---------------------------------------------------------------------------

# Text after decoding: no controls but TAB and LF (decode removes the others), no surrogates.
DECODED_CHAR = st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from("\t\n")
yaml_scalars = st.one_of(
    st.text(DECODED_CHAR, max_size=30), st.integers(), st.booleans(), st.none()
)
yaml_values = yaml_scalars | st.lists(yaml_scalars, max_size=4)
front_matter = st.dictionaries(st.text(DECODED_CHAR, min_size=1, max_size=15), yaml_values)


@SOME
@given(front_matter, st.text(DECODED_CHAR), st.booleans())
def test_split_front_matter_round_trips_a_yaml_mapping(
    meta: dict[str, Any], body: str, allow_unicode: bool
) -> None:
    dumped = yaml.safe_dump(meta, allow_unicode=allow_unicode)
    assert split_front_matter(f"---\n{dumped}---\n{body}") == (meta, body)


def encodings(text: str) -> dict[str, bytes]:
    """``text`` (LF newlines) as UTF-8 with and without BOM, with LF and with CRLF."""
    crlf = text.replace("\n", "\r\n")
    return {
        "utf-8": text.encode(),
        "utf-8 bom": codecs.BOM_UTF8 + text.encode(),
        "utf-8 crlf": crlf.encode(),
        "utf-8 bom crlf": codecs.BOM_UTF8 + crlf.encode(),
    }


# Text a writer saves: anything printable, TAB, LF and the non-characters U+FFFE/FFFF (which
# decode drops). Files mostly made of control bytes are refused as binary, so none here.
SAVED_TEXT = st.text(DECODED_CHAR | st.sampled_from("\ufffe\uffff"))


@SOME
@given(SAVED_TEXT)
def test_decode_gives_the_same_lf_text_whatever_the_bom_and_newlines(text: str) -> None:
    assume(text.encode().strip() and not text.startswith("\ufeff"))
    decoded = {name: decode(raw) for name, raw in encodings(text).items()}
    assert {name: got[0] for name, got in decoded.items()} == dict.fromkeys(decoded, xml_safe(text))
    assert len({tuple(warnings) for _text, warnings in decoded.values()}) == 1


@SOME
@given(st.text(ENCODABLE))
def test_paragraphs_are_never_empty_and_never_span_lines(text: str) -> None:
    for paragraph in paragraphs(text):
        assert paragraph
        assert "\n" not in paragraph


# -- capture extraction ------------------------------------------------------------------------

WORD = st.text(string.ascii_lowercase, min_size=1, max_size=10)
NAME = st.text(string.ascii_lowercase, min_size=2, max_size=10).map(str.capitalize)
FULL_NAME = st.lists(NAME, min_size=1, max_size=3).map(" ".join)
NOISE = st.sampled_from(
    [
        "Harbor Wire is reader-supported. Become a member today.",
        "Sign up for the Harbor Wire morning briefing and never miss a story.",
        "*",
    ]
)
SHARE = " Share this story with a friend who would enjoy it."


def sentence(max_words: int = 30) -> st.SearchStrategy[str]:
    """Lower-case words ending with a full stop: never one of the profile's markers."""
    return st.lists(WORD, min_size=1, max_size=max_words).map(lambda ws: " ".join(ws) + ".")


@dataclass(frozen=True)
class GeneratedCapture:
    """A Harbor Wire capture and the fields it was made from."""

    text: str
    title: str
    author: str
    published: date
    body: list[str]
    author_bio: str
    image_credit: str
    attribution: str
    disclaimer: list[str]


def wrapped(paragraph: str, width: int) -> str:
    """``paragraph`` over several lines, as a capture may hold it."""
    return textwrap.fill(paragraph, width, break_long_words=False, break_on_hyphens=False)


@st.composite
def harbor_wire_captures(draw: st.DrawFn) -> GeneratedCapture:
    author = draw(FULL_NAME)
    published = draw(st.dates(date(1990, 1, 1), date(2035, 12, 31)))
    body = draw(st.lists(sentence(), min_size=1, max_size=6))
    source = draw(FULL_NAME)
    bio = draw(st.sampled_from(["", f"{author} writes about {draw(sentence(8))}"]))
    credit = draw(st.sampled_from(["", f"Photo by {draw(FULL_NAME)}"]))
    attribution = (
        f"This article first appeared in {source}. Copyright © {author}, {source}, {published.year}"
    )
    disclaimer = [f"Disclaimer: {draw(sentence())}", *draw(st.lists(sentence(), max_size=2))]
    body_with_noise = []
    for paragraph in body:
        body_with_noise += draw(st.lists(NOISE, max_size=2))
        body_with_noise.append(paragraph + draw(st.sampled_from(["", SHARE])))
    byline = f"By {author} Harbor Wire, {published:%B} {published.day}, {published.year}"
    title = draw(sentence(12)).capitalize()
    parts = [title, byline, *body_with_noise, bio, credit, attribution, *disclaimer]
    widths = st.integers(min_value=20, max_value=120)
    text = "\n\n".join(wrapped(p, draw(widths)) for p in parts if p)
    return GeneratedCapture(
        text, title, author, published, body, bio, credit, attribution, disclaimer
    )


def harbor_wire() -> Profile:
    return next(p for p in load_profiles(PROFILES_DIR) if p.name == "Harbor Wire")


@SOME
@given(harbor_wire_captures())
def test_harbor_wire_extraction_returns_the_generated_fields_verbatim(
    generated: GeneratedCapture,
) -> None:
    capture = extract(generated.text, harbor_wire())
    assert capture.title == generated.title
    assert capture.author == generated.author
    assert capture.published == generated.published
    assert capture.body_paragraphs == generated.body
    assert capture.author_bio == generated.author_bio
    assert capture.image_credit == generated.image_credit
    assert capture.attribution == generated.attribution
    assert capture.disclaimer_paragraphs == generated.disclaimer
    assert capture.warnings == []
