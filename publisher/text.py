"""Text helpers shared by every stage: XML-safe text, slugs, the HTML allow-list, visible text.

Article text is kept verbatim, so these helpers only remove what no output can carry (characters
XML 1.0 forbids) or what a browser must never run (the sanitiser's allow-list).
"""

from __future__ import annotations

import hashlib
import re
import textwrap
import unicodedata

import lxml.html
import nh3
from lxml import etree

from publisher.models import Article

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_SYMBOLS = re.compile(r"[\s\-_.,:;'’/]+")  # separators a slug may drop without losing meaning

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "dl", "dt",
        "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins",
        "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def xml_safe(text: str) -> str:
    """``text`` without the code points XML 1.0 forbids (C0 controls but TAB/LF/CR, surrogates)."""
    return _XML_ILLEGAL.sub("", text)


def summary_of(article: Article, limit: int = 280) -> str:
    """The article's summary, or the start of its body as plain text: what feeds and listing
    pages show of it (stored with the article, so a listing needs no body)."""
    text = article.summary or visible_text(article.body_html) or article.title
    return xml_safe(text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…")


def one_line(text: str) -> str:
    """Whitespace (CR/LF included) folded to single spaces: for titles, names, header-like text."""
    return " ".join(xml_safe(text).split())


def slugify(text: str, limit: int = 80) -> str:
    """A URL-safe ASCII slug; ``"article"`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:limit].rstrip("-")
    if slug:
        return slug
    # Nothing transliterates (中文, 日本語): a short stable hash keeps such slugs apart.
    return f"u-{_short_hash(text)}" if text.strip() else "article"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.strip().casefold().encode("utf-8", "replace")).hexdigest()[:10]


def tag_slug(tag: str) -> str:
    """A tag's URL name. Case, spaces and separators do not count ("US NATO" = "us-nato"), but
    symbols do: "C++" gets a hash suffix so it never shares "C"'s page."""
    slug = slugify(tag)
    if _SYMBOLS.sub("", tag).isalnum() or slug.startswith("u-"):
        return slug
    return f"{slug}-{_short_hash(tag)}"


def sanitize_html(html: str) -> str:
    """Article HTML reduced to the allow-list: no scripts, handlers, styles or foreign schemes."""
    return str(
        nh3.clean(
            xml_safe(html),
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
            url_schemes=set(URL_SCHEMES),
            link_rel="noopener noreferrer nofollow",
        )
    )


def visible_text(html: str) -> str:
    """The text a reader sees in an HTML fragment or document, whitespace normalised.

    Used on both sides of the fidelity check, so ``<u>x</u>`` and ``x`` compare equal and
    entities compare equal to the characters they stand for.

    :raises ValueError: for a document of more than one ``<body>``.
    """
    root = _fragment(html)
    return "" if root is None else " ".join(root.text_content().split())


# C0 controls XML 1.0 forbids, as UTF-8 bytes (U+FFFE and U+FFFF are looked for apart).
_XML_ILLEGAL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_FULL_DOCUMENT = re.compile(rb"\s*<(?:html|!doctype)", re.IGNORECASE)
_PAGE_PARSER = etree.HTMLParser(encoding="utf-8")


def page_text(body: bytes) -> str:
    """:func:`visible_text` of a whole UTF-8 page, parsed once from its bytes.

    The fidelity gate reads every page it checks; the general path decodes the page, scans it
    for XML-illegal characters with a regex and parses it as a fragment, which costs about twice
    as much. This path takes the page's ``<body>`` as :func:`visible_text` does, and hands
    anything unusual (such characters, no ``<html>`` or doctype first, no ``<body>``) to
    :func:`visible_text` itself; a property test holds the two equal.

    :raises ValueError: when ``body`` is not UTF-8 or has several bodies, as
        :func:`visible_text` would.
    """
    text = body.decode()
    unusual = len(body.translate(None, _XML_ILLEGAL_BYTES)) != len(body)
    if unusual or "\ufffe" in text or "\uffff" in text or not _FULL_DOCUMENT.match(body):
        return visible_text(text)
    page = etree.fromstring(body, _PAGE_PARSER)
    bodies = [] if page is None else page.findall("body")
    if len(bodies) != 1:
        return visible_text(text)
    found = bodies[0]
    etree.strip_elements(found, "script", "style", with_tail=False)
    reduced = etree.tostring(found, method="text", encoding="unicode", with_tail=False)
    return " ".join(reduced.split())


def _fragment(html: str) -> lxml.html.HtmlElement | None:
    """An HTML fragment parsed under one ``<div>``, scripts and styles dropped; ``None`` when
    there is nothing to parse."""
    html = xml_safe(html)
    if not html.strip():
        return None
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except AssertionError as exc:  # lxml asserts a single <body>: say so, as a parse error
        raise ValueError("unparseable HTML: more than one <body>") from exc
    for element in root.iter("script", "style"):
        element.drop_tree()
    return root


BLOCKS = frozenset(
    {"p", "div", "li", "blockquote", "pre", "ul", "ol", "table", "tr", "figure", "figcaption"}
    | {"h1", "h2", "h3", "h4", "h5", "h6"}
)


def plain_text(html: str, width: int = 72) -> str:
    """Article HTML as plain-text paragraphs wrapped at ``width``, words never split.

    Block elements end paragraphs; everything else is reduced to its text, so the words and
    their order are exactly those :func:`visible_text` sees.
    """
    root = _fragment(html)
    if root is None:
        return ""
    for element in root.iter():
        if element.tag in BLOCKS:
            element.tail = "\n\n" + (element.tail or "")
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", root.text_content()))
    return "\n\n".join(wrap(p, width) for p in paragraphs if p)


def wrap(text: str, width: int = 72) -> str:
    """One paragraph wrapped at ``width`` without splitting words or hyphenated names."""
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def excerpt(text: str, words: int = 60) -> str:
    """The first ``words`` words of a text, with an ellipsis when there are more."""
    found = text.split()
    return " ".join(found[:words]) + (" …" if len(found) > words else "")


# Control and format characters (bidi overrides, zero-width ones), surrogates, private-use and
# unassigned code points, line and paragraph separators: what can move the cursor, start a new
# line, recolour the terminal or reorder what is shown. Spaces of any width stay as they are.
HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(value: object) -> str:
    """``value`` as text that prints as what it is: each character of :data:`HIDDEN` escaped the
    way Python writes it (``\\n``, ``\\x1b``, ``\\u202e``), so a file name holding a newline
    cannot add a line of its own (a fake ``refused:``), nor an address recolour the terminal.
    Every user-supplied text a command prints or the service logs goes through this."""
    text = str(value)
    if text.isprintable():  # nothing hidden (the common case, checked in C)
        return text
    return "".join(_escaped(c) if unicodedata.category(c) in HIDDEN else c for c in text)


def _escaped(char: str) -> str:
    if char in SHORT:
        return SHORT[char]
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 new story``, ``2 new stories``, ``1,204 subscribers``: a count with its noun, the one
    place every subject, page and command line makes one (the ``plural`` filter of templates).
    ``many`` defaults to ``one`` with an ``s``."""
    return f"{count:,} {one if count == 1 else many or one + 's'}"
