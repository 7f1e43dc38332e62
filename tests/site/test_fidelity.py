"""The fidelity gate on hand-made outputs: verbatim text per article, per feed entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from publisher.models import Article, Output
from publisher.site.fidelity import check, required_texts

A = Article(
    slug="a",
    title="A",
    author="",
    published=datetime(2024, 1, 1, tzinfo=UTC),
    body_html="<p>x</p>",
    attribution="The original source is <u>Example</u> © 2024",
    source_path="a.md",
    disclaimer=("First   paragraph.", "Second & last."),
    uid="tag:x,2024-01-01:a",
)
B = Article(
    **{**A.__dict__, "slug": "b", "title": "B", "attribution": "© B", "uid": "tag:x,2024-01-01:b"}
)


def _page(body: str) -> Output:
    return Output(
        "articles/a.html",
        "text/html; charset=utf-8",
        f"<html><body>{body}</body></html>".encode(),
        (A,),
    )


def test_markup_and_whitespace_are_reduced_before_comparing() -> None:
    assert required_texts(A) == [
        ("attribution", "The original source is Example © 2024"),
        ("disclaimer", "First paragraph."),
        ("disclaimer", "Second & last."),
    ]
    page = "<p>The original source is <b>Example</b>\n© 2024</p>"
    page += "<p>First paragraph.</p><p>Second &amp; last.</p>"
    assert check(_page(page)) == []


def test_a_page_without_the_disclaimer_is_refused_naming_article_and_output() -> None:
    [error] = check(_page("<p>The original source is Example © 2024</p><p>First paragraph.</p>"))
    assert (error.article, error.output, error.missing) == ("A", "articles/a.html", "disclaimer")
    assert "articles/a.html" in str(error) and "'A'" in str(error)


def test_an_attribution_in_the_wrong_feed_entry_does_not_count() -> None:
    items = [
        {"id": A.uid, "content_html": "<p>© B</p><p>First paragraph.</p><p>Second &amp; last.</p>"},
        {
            "id": B.uid,
            "content_html": "<p>The original source is Example © 2024 © B</p>"
            "<p>First paragraph. Second & last.</p>",
        },
    ]
    body = json.dumps({"items": items}).encode()
    errors = check(Output("feed.json", "application/feed+json", body, (A, B)))
    assert [(e.article, e.missing) for e in errors] == [("A", "attribution")]


def test_an_entry_missing_from_a_feed_is_refused() -> None:
    atom = b'<feed xmlns="http://www.w3.org/2005/Atom"></feed>'
    [error] = check(Output("atom.xml", "application/atom+xml", atom, (A,)))
    assert error.missing == "entry"


def test_an_unparseable_feed_is_refused() -> None:
    [error] = check(Output("rss.xml", "application/rss+xml", b"<rss><channel>", (A,)))
    assert "unparseable" in error.missing


def test_outputs_without_articles_need_nothing() -> None:
    assert check(Output("index.html", "text/html", b"<html></html>")) == []
