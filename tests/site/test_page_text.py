"""The gate's one-parse page text equals the general ``visible_text`` on every page.

The fidelity gate reads each page with :func:`publisher.text.page_text` (bytes, parsed once)
instead of :func:`publisher.text.visible_text` (decoded, scanned, parsed as a fragment); the
gate's verdicts stay the same only if the two texts are equal, so that is what is held here, on
generated pages full of what breaks parsers: scripts, styles, comments, entities, stray tags,
XML-illegal characters, text outside the body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.text import page_text, visible_text

PIECES = [*"ab <>&;#\n\t\r\x00\x0b\x1f\ufffe\u00e9\u202e", "&amp;", "&lt;", "&#169;", "&nbsp;"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
T = TypeVar("T", str, bytes)
TAGS = ("p", "div", "span", "u", "em", "li", "ul", "pre", "table", "td", "title", "body", "head")


@st.composite
def markup(draw: st.DrawFn) -> str:
    """A run of text, elements, scripts, styles and comments, not always well nested."""
    parts = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["text", "open", "close", "element", "script", "comment"]))
        tag = draw(st.sampled_from(TAGS))
        if kind == "text":
            parts.append(draw(TEXT))
        elif kind == "open":
            parts.append(f"<{tag}>")
        elif kind == "close":
            parts.append(f"</{tag}>")
        elif kind == "element":
            parts.append(f"<{tag} class='x'>{draw(TEXT)}</{tag}>")
        elif kind == "script":
            name = draw(st.sampled_from(["script", "style"]))
            parts.append(f"<{name}>{draw(TEXT)}</{name}>{draw(TEXT)}")
        else:
            parts.append(f"<!--{draw(TEXT)}-->")
    return "".join(parts)


@st.composite
def pages(draw: st.DrawFn) -> str:
    """Pages as templates make them, and not quite."""
    start = draw(st.sampled_from(["<!doctype html>\n", "<!DOCTYPE html>", "  ", "", "x"]))
    head = f"<head><title>{draw(TEXT)}</title>{draw(markup())}</head>"
    body = f"<body>{draw(markup())}</body>"
    return f"{start}<html>{draw(st.sampled_from([head, '']))}{body}{draw(markup())}</html>"


def _read(reader: Callable[[T], str], page: T) -> str:
    """The text, or the refusal: a page the gate cannot read must be refused by both."""
    try:
        return reader(page)
    except ValueError as exc:
        return f"refused: {exc}"


@settings(max_examples=400, deadline=None)
@given(pages())
def test_page_text_is_visible_text(page: str) -> None:
    assert _read(page_text, page.encode()) == _read(visible_text, page)


@settings(max_examples=200, deadline=None)
@given(markup())
def test_a_fragment_without_a_document_reads_the_same(fragment: str) -> None:
    assert _read(page_text, fragment.encode()) == _read(visible_text, fragment)


def test_a_rendered_page_reads_the_same() -> None:
    page = (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>T · Site</title>"
        "<style>p{color:red}</style></head><body><nav>Home · Archive</nav><article>"
        "<p>Body &amp; more<script>alert(1)</script> tail</p>"
        "<p class='attribution'>© 2024 <u>Example</u></p></article></body></html>"
    )
    assert (
        page_text(page.encode())
        == visible_text(page)
        == ("Home · ArchiveBody & more tail© 2024 Example")
    )
