"""Articles → Atom 1.0 and RSS 2.0 (feedgen) and JSON Feed 1.1 bytes; the kinds are a table.

Every value is deterministic: feed ``updated`` is the newest entry's, never the clock, so a
rebuild of unchanged content yields the same bytes (DESIGN invariant 3).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from feedgen.feed import FeedGenerator
from lxml import etree

from publisher.config.settings import SiteSettings
from publisher.models import Article, Output
from publisher.text import summary_of, visible_text, xml_safe

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
ATOM_NS = "{http://www.w3.org/2005/Atom}"
# Our own serialisation read back: no entities, no network, no cap on an article's size.
_OWN_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@dataclass(frozen=True)
class Entry:
    """An article as a feed carries it: with its rendered content and its page's URL."""

    article: Article
    content_html: str
    url: str

    @cached_property
    def summary(self) -> str:
        """Computed once, though Atom, RSS and JSON each carry it."""
        return summary_of(self.article)

    @cached_property
    def rights(self) -> str:
        """The attribution as text, computed once for every feed and format that carry it."""
        return xml_safe(visible_text(self.article.attribution))

    @cached_property
    def xml_content(self) -> str:
        """The content as XML can carry it, scanned once for every feed that carries it."""
        return xml_safe(self.content_html)

    @property
    def links(self) -> tuple[dict[str, str], ...]:
        """Our page is the one alternate (and comes first); the original, if any, is related."""
        ours = {"href": self.url, "rel": "alternate", "type": "text/html"}
        if not self.article.source_url:
            return (ours,)
        return ours, {"href": self.article.source_url, "rel": "related", "type": "text/html"}


@dataclass(frozen=True)
class Feed:
    """One feed's channel data and entries (newest first); formats are rendered from it."""

    site: SiteSettings
    title: str
    prefix: str
    page: str
    entries: tuple[Entry, ...]
    hub: str = ""  # a WebSub hub, named by every format

    def url(self, filename: str) -> str:
        """The absolute URL of one format of this feed."""
        return f"{self.site.base_url}{self.prefix}{filename}"

    @property
    def page_url(self) -> str:
        """The HTML page this feed mirrors."""
        return f"{self.site.base_url}{self.page}"

    @property
    def updated(self) -> datetime:
        """The newest entry's update time: never the clock."""
        return max((e.article.updated or e.article.published for e in self.entries), default=EPOCH)

    @cached_property
    def generator(self) -> FeedGenerator:
        """The feedgen model of this feed, shared by Atom and RSS: see :meth:`serialised`."""
        fg = FeedGenerator()
        fg.load_extension("dc", atom=False, rss=True)
        fg.id(self.page_url)
        fg.title(xml_safe(self.title))
        fg.subtitle(xml_safe(self.site.description) or xml_safe(self.title))
        fg.language(self.site.language)
        fg.author({"name": xml_safe(self.site.author)})
        fg.generator("publisher")
        fg.updated(self.updated)
        for entry in self.entries:
            _add_entry(fg, entry)
        return fg


def _add_entry(fg: FeedGenerator, entry: Entry) -> None:
    article = entry.article
    fe = fg.add_entry(order="append")
    fe.id(article.uid)
    fe.title(xml_safe(article.title))
    if article.author:
        fe.author({"name": xml_safe(article.author)})
        fe.dc.dc_creator(xml_safe(article.author))
    fe.published(article.published)
    fe.updated(article.updated or article.published)
    fe.link(list(entry.links))  # RSS's <link> is the alternate: ours
    if article.source_url:
        fe.source(
            url=article.source_url,
            title=xml_safe(article.original_source or article.site or article.source_url),
        )
    for tag in article.tags:
        fe.category(term=xml_safe(tag))
    fe.rights(entry.rights)
    fe.dc.dc_rights(entry.rights)
    fe.summary(entry.summary, type="text")
    # RSS descriptions are HTML: the plain-text summary is escaped as HTML here, and feedgen then
    # escapes that as XML, so a reader sees the summary's "<" and "&" as text, not as markup.
    fe.description(html.escape(entry.summary, quote=False))
    fe.content(entry.xml_content, type="html")


def _links(feed: Feed, filename: str) -> FeedGenerator:
    """The shared generator with its self link set to ``filename`` (links are replaced whole).

    feedgen takes the RSS channel link from the last link added, so alternate comes last.
    """
    fg = feed.generator
    links = [{"href": feed.url(filename), "rel": "self"}]
    if feed.hub:
        links.append({"href": feed.hub, "rel": "hub"})
    links.append({"href": feed.page_url, "rel": "alternate", "type": "text/html"})
    fg.link(links, replace=True)
    return fg


def _xml(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True))


def _atom(feed: Feed) -> bytes:
    """Atom, with each entry's links as given.

    feedgen 1.0 writes an entry's links with their ``href`` alone (lkiesow/python-feedgen#135:
    ``atom_entry`` reads rel, type, hreflang, title and length from the element it has just made
    instead of from the link), so the link to the original became a second alternate: invalid
    Atom, and readers that take the first link opened the original site instead of ours. The
    links come out in the order given, so their attributes are put back here. The ``<source>``
    element's own link (an alternate, as it should be) is not the entry's and is left alone.
    """
    root = etree.fromstring(bytes(_links(feed, "atom.xml").atom_str(pretty=True)), _OWN_XML)
    for element, entry in zip(root.iterfind(f"{ATOM_NS}entry"), feed.entries, strict=True):
        links = element.findall(f"{ATOM_NS}link")
        for link, attributes in zip(links, entry.links, strict=True):
            link.attrib.update(attributes)
    return _xml(root)


def _rss(feed: Feed) -> bytes:
    body = bytes(_links(feed, "rss.xml").rss_str(pretty=True))
    if not feed.hub:
        return body
    # feedgen writes only the self link into RSS; WebSub wants the hub beside it.
    root = etree.fromstring(body, _OWN_XML)
    channel = root.find("channel")
    assert channel is not None
    hub = etree.Element(f"{ATOM_NS}link", href=feed.hub, rel="hub")
    channel.insert(list(channel).index(channel.find(f"{ATOM_NS}link")) + 1, hub)
    return _xml(root)


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_item(entry: Entry) -> dict[str, object]:
    article = entry.article
    item: dict[str, object] = {"id": article.uid, "url": entry.url, "title": article.title}
    if article.source_url:
        item["external_url"] = article.source_url
    item["content_html"] = entry.content_html
    item["summary"] = entry.summary
    item["date_published"] = _rfc3339(article.published)
    item["date_modified"] = _rfc3339(article.updated or article.published)
    if article.author:
        item["authors"] = [{"name": article.author}]
    if article.tags:
        item["tags"] = list(article.tags)
    item["_attribution"] = {
        "attribution": article.attribution,
        "disclaimer": list(article.disclaimer),
        "original_source": article.original_source,
    }
    return item


def _json(feed: Feed) -> bytes:
    document = {
        "version": JSON_FEED_VERSION,
        "title": feed.title,
        "home_page_url": feed.page_url,
        "feed_url": feed.url("feed.json"),
        "description": feed.site.description,
        "language": feed.site.language,
        "authors": [{"name": feed.site.author}],
        "items": [_json_item(entry) for entry in feed.entries],
    }
    if feed.hub:
        document["hubs"] = [{"type": "WebSub", "url": feed.hub}]
    return json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class FeedKind:
    """One feed format: its file name, media type and serialiser."""

    name: str
    filename: str
    media_type: str
    serialise: Callable[[Feed], bytes]


FEED_KINDS = (
    FeedKind("atom", "atom.xml", "application/atom+xml; charset=utf-8", _atom),
    FeedKind("rss", "rss.xml", "application/rss+xml; charset=utf-8", _rss),
    FeedKind("json", "feed.json", "application/feed+json; charset=utf-8", _json),
)


def build_feeds(feed: Feed) -> list[Output]:
    """Every format of one feed, each carrying all of its entries' articles."""
    carried = tuple(entry.article for entry in feed.entries)
    return [
        Output(f"{feed.prefix}{kind.filename}", kind.media_type, kind.serialise(feed), carried)
        for kind in FEED_KINDS
    ]
