"""The fidelity gate: every output carries each of its articles' attribution and disclaimer.

Text is compared as a reader sees it (markup reduced to text, entities decoded, whitespace
normalised), per entry for feeds, so an attribution that drifted into the wrong entry fails too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache

from lxml import etree

from publisher.errors import FidelityError
from publisher.models import Article, Output
from publisher.text import page_text, visible_text, xml_safe

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
WHOLE = ""  # key of a text that stands for every article of the output (a page)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _page(body: bytes) -> dict[str, str]:
    return {WHOLE: page_text(body)}


# The same entry content stands in the site feed and in each of its tags' feeds, in three
# formats: reduce each distinct content to text once.
_entry_text = lru_cache(maxsize=512)(visible_text)


def _atom(body: bytes) -> dict[str, str]:
    root = etree.fromstring(body, _PARSER)
    return {
        entry.findtext(f"{ATOM}id", ""): _entry_text(entry.findtext(f"{ATOM}content", ""))
        for entry in root.iter(f"{ATOM}entry")
    }


def _rss(body: bytes) -> dict[str, str]:
    root = etree.fromstring(body, _PARSER)
    return {
        item.findtext("guid", ""): _entry_text(
            item.findtext(CONTENT_ENCODED) or item.findtext("description", "")
        )
        for item in root.iter("item")
    }


def _json_feed(body: bytes) -> dict[str, str]:
    items = json.loads(body)["items"]
    return {item["id"]: _entry_text(item.get("content_html", "")) for item in items}


def _plain(body: bytes) -> dict[str, str]:
    return {WHOLE: " ".join(body.decode().split())}


EXTRACTORS: dict[str, Callable[[bytes], dict[str, str]]] = {
    "text/html": _page,
    "text/plain": _plain,
    "application/atom+xml": _atom,
    "application/rss+xml": _rss,
    "application/feed+json": _json_feed,
}


def required_texts(article: Article) -> list[tuple[str, str]]:
    """``(what, text)`` pairs an output must contain for ``article``, as a reader sees them."""
    return _required(article.attribution, article.disclaimer)


@lru_cache(maxsize=4096)  # an article's texts are checked in its page and in several feeds
def _required(attribution: str, disclaimer: tuple[str, ...]) -> list[tuple[str, str]]:
    # Outputs cannot carry what XML forbids: ingestion strips it, so the comparison does too.
    required = [("attribution", visible_text(xml_safe(attribution)))]
    required += [("disclaimer", visible_text(xml_safe(p))) for p in disclaimer]
    return [(what, text) for what, text in required if text]


def check(output: Output) -> list[FidelityError]:
    """Every lost attribution or disclaimer of ``output``, one error per article and part."""
    if not output.articles:
        return []
    extract = EXTRACTORS[output.media_type.split(";")[0].strip()]
    try:
        texts = extract(output.body)
    except (etree.XMLSyntaxError, ValueError, KeyError) as exc:
        return [
            FidelityError(a.title, output.path, f"text (unparseable output: {exc})")
            for a in output.articles
        ]
    errors = []
    for article in output.articles:
        text = texts.get(WHOLE, texts.get(article.uid))
        if text is None:
            errors.append(FidelityError(article.title, output.path, "entry"))
            continue
        errors += [
            FidelityError(article.title, output.path, what)
            for what, needed in required_texts(article)
            if needed not in text
        ]
    return errors
