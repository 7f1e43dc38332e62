"""A feed checker stricter than feedparser, for the Atom, RSS and JSON feeds of one folder.

feedparser reads almost anything (that is its job), so ``bozo == 0`` says little. This checker
says what the W3C feed validator and the specifications would: Atom against the RELAX NG schema
of RFC 4287 (tests/data/feeds/atom.rng) plus the rules a schema cannot state (one alternate link
per type and language, registered link relations, self links that name the feed, unique ids,
RFC 3339 dates), RSS 2.0's required channel and item elements with RFC 822 dates and
descriptions that are HTML, JSON Feed 1.1's members and types. Then the three formats of a
folder are compared entry by entry: same ids in the same order, the same page of ours, the same
original and the same summary text as a reader sees it.

Each check returns a list of problems (empty when the feed is valid), so one run names them all.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from html.entities import html5
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
SCHEMA = etree.RelaxNG(etree.parse(Path(__file__).parent / "data" / "feeds" / "atom.rng"))
STRICT_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)

# RFC 3339 as the W3C validator reads it: seconds required, a zone required.
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
# RFC 822 as RFC 2822 writes it (four-digit year, numeric zone or UT/GMT), as the validator does.
RFC822 = re.compile(
    r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d\d:\d\d(:\d\d)? ([+-]\d{4}|UT|GMT)$"
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Ids that never change with the host or the scheme: tag: URIs (RFC 4151), urn:uuid:, http(s).
FEED_ID = re.compile(
    r"^(tag:[a-z0-9.-]+,\d{4}(-\d\d(-\d\d)?)?:\S+|urn:uuid:[0-9a-f-]{36}|https?://\S+)$"
)
MIME = re.compile(r'^[^\s()<>,;:\\"/\[\]?=]+/[^\s()<>,;:\\"/\[\]?=]+(\s*;.*)?$')
# Link relations of RFC 4287 and the IANA registry the validator knows; others must be URIs.
RELATIONS = {
    "alternate", "current", "describedby", "edit", "edit-media", "enclosure", "first", "hub",
    "last", "license", "next", "next-archive", "payment", "prev-archive", "previous", "related",
    "replies", "search", "self", "service", "up", "via",
}  # fmt: skip
JSON_FEED_KEYS = {
    "version", "title", "home_page_url", "feed_url", "description", "user_comment", "next_url",
    "icon", "favicon", "authors", "language", "expired", "hubs", "items",
}  # fmt: skip
JSON_ITEM_KEYS = {
    "id", "url", "external_url", "title", "content_html", "content_text", "summary", "image",
    "banner_image", "date_published", "date_modified", "authors", "tags", "language",
    "attachments",
}  # fmt: skip


@dataclass(frozen=True)
class Place:
    """Where a folder's feeds are served and which page of the site they mirror."""

    base_url: str  # every link of ours starts with it
    folder: str  # "" for the site's feeds, "tags/rivers/" for a tag's
    page: str  # "index.html", "tags/rivers.html"

    def url(self, filename: str) -> str:
        return f"{self.base_url}{self.folder}{filename}"

    @property
    def page_url(self) -> str:
        return f"{self.base_url}{self.page}"

    def ours(self, url: str) -> bool:
        return url.startswith(self.base_url)


@dataclass(frozen=True)
class Seen:
    """What one format says of one entry, to compare across the formats."""

    page: str  # the entry's page on our site
    original: str  # the original article, "" if none
    summary: str  # the summary as a reader sees it: plain text


Checked = tuple[list[str], dict[str, Seen]]


def check_folder(public: Path, place: Place) -> list[str]:
    """Every problem of the three feeds in ``place``'s folder under ``public``."""
    return check_feeds(
        {name: (public / place.folder / name).read_bytes() for name in CHECKS}, place
    )


def check_feeds(bodies: dict[str, bytes], place: Place) -> list[str]:
    """Every problem of one folder's feeds (by file name), each format's and between them."""
    problems: list[str] = []
    seen: dict[str, dict[str, Seen]] = {}
    for filename, check in CHECKS.items():
        found, entries = check(bodies[filename], place)
        problems += [f"{place.folder}{filename}: {problem}" for problem in found]
        seen[filename] = entries
    return problems + _compare(seen, place.folder)


def _compare(seen: dict[str, dict[str, Seen]], folder: str) -> list[str]:
    (first, reference), *others = seen.items()
    problems = []
    for name, entries in others:
        if list(entries) != list(reference):
            problems.append(f"{folder}{name}: ids {list(entries)} != {first}'s {list(reference)}")
        for uid, entry in entries.items():
            theirs = reference.get(uid, entry)
            problems += [
                f"{folder}{name}: {uid}: {field} {getattr(entry, field)!r}"
                f" != {first}'s {getattr(theirs, field)!r}"
                for field in ("page", "original", "summary")
                if getattr(entry, field) != getattr(theirs, field)
            ]
    return problems


# -- Atom ------------------------------------------------------------------------------------


def atom(body: bytes, place: Place) -> Checked:
    """RFC 4287: the schema, then what it cannot say."""
    try:
        root = etree.fromstring(body, STRICT_XML)
    except etree.XMLSyntaxError as exc:
        return [f"not XML: {exc}"], {}
    if root.tag != f"{ATOM}feed":
        return [f"root is {root.tag}, not atom:feed"], {}
    problems = [f"schema: line {e.line}: {e.message}" for e in _schema_errors(root)]
    problems += _atom_head(root, place)
    entries: dict[str, Seen] = {}
    feed_has_author = root.find(f"{ATOM}author/{ATOM}name") is not None
    for element in root.iterfind(f"{ATOM}entry"):
        uid = element.findtext(f"{ATOM}id", "")
        problems += [f"entry {uid!r}: {p}" for p in _atom_entry(element, place, feed_has_author)]
        problems += _unique(uid, entries)
        entries[uid] = Seen(
            _href(element, "alternate"),
            _href(element, "related"),
            element.findtext(f"{ATOM}summary", ""),
        )
    return problems, entries


def _schema_errors(root: etree._Element) -> Iterable[Any]:
    return [] if SCHEMA.validate(root) else list(SCHEMA.error_log)


def _atom_head(root: etree._Element, place: Place) -> list[str]:
    problems = _id(root.findtext(f"{ATOM}id", ""))
    problems += _blank("title", root.findtext(f"{ATOM}title"))
    problems += _rfc3339("updated", root.findtext(f"{ATOM}updated"))
    problems += _links(root, place)
    problems += _equal("self link", _href(root, "self"), place.url("atom.xml"))
    problems += _equal("alternate link", _href(root, "alternate"), place.page_url)
    updates = [_moment(e.findtext(f"{ATOM}updated")) for e in root.iterfind(f"{ATOM}entry")]
    newest = max((u for u in updates if u), default=None)
    if newest and _moment(root.findtext(f"{ATOM}updated")) != newest:
        problems.append("feed updated is not its newest entry's: the feed changes on every build")
    return problems


def _atom_entry(element: etree._Element, place: Place, feed_has_author: bool) -> list[str]:
    problems = _id(element.findtext(f"{ATOM}id", ""))
    problems += _blank("title", element.findtext(f"{ATOM}title"))
    problems += _rfc3339("updated", element.findtext(f"{ATOM}updated"))
    if element.find(f"{ATOM}published") is not None:
        problems += _rfc3339("published", element.findtext(f"{ATOM}published"))
    problems += _in_order(element.findtext(f"{ATOM}published"), element.findtext(f"{ATOM}updated"))
    problems += _links(element, place)
    links = element.findall(f"{ATOM}link")
    if not links or links[0].get("rel", "alternate") != "alternate":
        problems.append("the first link is not the alternate: readers that take it go elsewhere")
    if not place.ours(_href(element, "alternate")):
        problems.append(f"alternate {_href(element, 'alternate')!r} is not a page of the site")
    if not _href(element, "alternate") and element.find(f"{ATOM}content") is None:
        problems.append("neither an alternate link nor content (RFC 4287 4.1.2)")
    authors = (f"{ATOM}author/{ATOM}name", f"{ATOM}source/{ATOM}author/{ATOM}name")
    if not feed_has_author and all(element.find(path) is None for path in authors):
        problems.append("no author, and the feed has none (RFC 4287 4.1.2)")
    summary = element.find(f"{ATOM}summary")
    if summary is not None and summary.get("type", "text") != "text":
        problems.append(f"summary type {summary.get('type')!r}: a summary is plain text")
    source = element.find(f"{ATOM}source")
    if source is not None:
        problems += [f"source: {p}" for p in _links(source, place)]
        problems += [f"source: {p}" for p in _blank("title", source.findtext(f"{ATOM}title"))]
    return problems


def _links(parent: etree._Element, place: Place) -> list[str]:
    """RFC 4287 4.2.7 for the links of one feed, entry or source."""
    problems = []
    alternates: Counter[tuple[str, str]] = Counter()
    for link in parent.iterfind(f"{ATOM}link"):
        href, rel, kind = link.get("href", ""), link.get("rel", "alternate"), link.get("type")
        problems += _absolute(f"{rel} link", href)
        if rel not in RELATIONS and not urlsplit(rel).scheme:
            problems.append(f"link relation {rel!r} is neither registered nor a URI")
        if kind is not None and not MIME.match(kind):
            problems.append(f"{rel} link type {kind!r} is not a media type")
        if rel == "alternate":
            alternates[(kind or "", link.get("hreflang", ""))] += 1
    problems += [
        f"{count} alternate links of type {kind!r}, hreflang {lang!r} (W3C: DuplicateAtomLink)"
        for (kind, lang), count in alternates.items()
        if count > 1
    ]
    return problems


def _href(parent: etree._Element, rel: str) -> str:
    """The first link's href with relation ``rel`` (a link without rel is an alternate)."""
    for link in parent.iterfind(f"{ATOM}link"):
        if link.get("rel", "alternate") == rel:
            return link.get("href", "")
    return ""


# -- RSS 2.0 ---------------------------------------------------------------------------------


def rss(body: bytes, place: Place) -> Checked:
    """RSS 2.0 (rssboard.org) with the validator's rules for dates, guids and descriptions."""
    try:
        root = etree.fromstring(body, STRICT_XML)
    except etree.XMLSyntaxError as exc:
        return [f"not XML: {exc}"], {}
    channels = root.findall("channel")
    if root.tag != "rss" or root.get("version") != "2.0" or len(channels) != 1:
        return ["not an RSS 2.0 document with one channel"], {}
    channel = channels[0]
    problems = _rss_channel(channel, place)
    entries: dict[str, Seen] = {}
    for item in channel.iterfind("item"):
        uid = item.findtext("guid", "")
        found, seen = _rss_item(item, place)
        problems += [f"item {uid!r}: {p}" for p in found]
        problems += _unique(uid, entries)
        entries[uid] = seen
    return problems, entries


def _rss_channel(channel: etree._Element, place: Place) -> list[str]:
    problems = []
    for name in ("title", "link", "description"):
        problems += _blank(f"channel {name}", channel.findtext(name))
    problems += _equal("channel link", channel.findtext("link"), place.page_url)
    selves = [link.get("href") for link in channel.iterfind(f"{ATOM}link[@rel='self']")]
    problems += _equal("atom:link rel=self", selves, [place.url("rss.xml")])
    for name in ("pubDate", "lastBuildDate"):
        if channel.find(name) is not None:
            problems += _rfc822(name, channel.findtext(name, ""))
    return problems


def _rss_item(item: etree._Element, place: Place) -> tuple[list[str], Seen]:
    uid, link = item.findtext("guid"), item.findtext("link", "")
    problems = ["no guid"] if uid is None else _guid(item)
    if item.find("title") is None and item.find("description") is None:
        problems.append("neither title nor description")
    if item.find("title") is not None:
        problems += _blank("title", item.findtext("title"))
    if not place.ours(link):
        problems.append(f"link {link!r} is not a page of the site")
    problems += _rfc822("pubDate", item.findtext("pubDate"))
    names = [child.tag for child in item]
    if CONTENT_ENCODED in names and names.index(CONTENT_ENCODED) < _index(names, "description"):
        problems.append(
            "content:encoded without description before it (W3C: NeedDescriptionBeforeContent)"
        )
    found, summary = html_text(item.findtext("description", ""))
    problems += [f"description {p}" for p in found]
    source = item.find("source")
    original = "" if source is None else source.get("url", "")
    if source is not None:
        problems += _absolute("source url", original)
    problems += [p for c in item.iterfind("category") for p in _blank("category", c.text)]
    return problems, Seen(link, original, summary)


def _index(names: list[str], name: str) -> int:
    return names.index(name) if name in names else len(names)


def _guid(item: etree._Element) -> list[str]:
    guid = item.find("guid")
    assert guid is not None
    permalink = guid.get("isPermaLink", "true")
    if permalink not in ("true", "false"):
        return [f"guid isPermaLink={permalink!r}"]
    problems = _id(guid.text or "")
    if permalink == "true" and not (guid.text or "").startswith(("http://", "https://")):
        problems.append("a guid that is not a URL without isPermaLink=false (W3C: InvalidHttpGUID)")
    return problems


class _Text(HTMLParser):
    """The text of an HTML fragment and any markup in it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.markup: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.markup.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        self.markup.append(f"</{tag}>")

    def handle_comment(self, data: str) -> None:
        self.markup.append("<!--…-->")

    def handle_decl(self, decl: str) -> None:
        self.markup.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.markup.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.markup.append(f"<![{data}]>")


_AMPERSAND = re.compile(r"&(#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)?")


def html_text(fragment: str) -> tuple[list[str], str]:
    """Problems of ``fragment`` as HTML that carries a plain text, and that text as read.

    A plain text written as HTML has no markup and no ``<`` or ``&`` of its own: each is a
    character reference. A bare ``<`` is a parse error of HTML (html5lib, and so the W3C
    validator, report NotHtml) and a bare ``&`` may start one, whatever a lenient parser reads.
    """
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    problems = []
    if parser.markup:
        problems.append(f"is HTML markup {''.join(parser.markup)[:60]!r}, not a text (NotHtml)")
    elif "<" in fragment:
        problems.append(f"has a bare '<' in {fragment[:60]!r} (NotHtml: invalid HTML)")
    for match in _AMPERSAND.finditer(fragment):
        reference = match.group(1)
        if reference is None or (not reference.startswith("#") and reference not in html5):
            problems.append(f"has a bare '&' at {fragment[match.start() :][:30]!r}")
    return problems, "".join(parser.text)


# -- JSON Feed 1.1 ---------------------------------------------------------------------------


def json_feed(body: bytes, place: Place) -> Checked:
    """JSON Feed 1.1 (jsonfeed.org/version/1.1): members, their types, RFC 3339 dates."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        return [f"not JSON: {exc}"], {}
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        return ["not a JSON object with a list of items"], {}
    problems = _equal("version", document.get("version"), JSON_FEED_VERSION)
    problems += _string("title", document.get("title"))
    problems += _equal("home_page_url", document.get("home_page_url"), place.page_url)
    problems += _equal("feed_url", document.get("feed_url"), place.url("feed.json"))
    problems += _members("feed", document, JSON_FEED_KEYS)
    problems += _authors("feed", document.get("authors", []))
    for hub in document.get("hubs", []):
        if not (isinstance(hub, dict) and _string("", hub.get("type")) == []):
            problems.append(f"hub {hub!r} has no type")
    entries: dict[str, Seen] = {}
    for item in document["items"]:
        uid = item.get("id") if isinstance(item, dict) else None
        if not isinstance(uid, str) or not isinstance(item, dict):
            problems.append(f"item {item!r:.60} has no string id")
            continue
        problems += [f"item {uid!r}: {p}" for p in _json_item(item, place)]
        problems += _unique(uid, entries)
        entries[uid] = Seen(
            item.get("url", ""), item.get("external_url", ""), item.get("summary", "")
        )
    return problems, entries


def _json_item(item: dict[str, Any], place: Place) -> list[str]:
    problems = _id(item["id"]) + _members("item", item, JSON_ITEM_KEYS)
    url, external = item.get("url", ""), item.get("external_url")
    if not place.ours(url):
        problems.append(f"url {url!r} is not a page of the site")
    if external is not None:
        problems += _absolute("external_url", external)
        if external == url:
            problems.append("external_url is the item's own url")
    if not any(isinstance(item.get(key), str) for key in ("content_html", "content_text")):
        problems.append("neither content_html nor content_text")
    for key in ("title", "summary", "content_html", "content_text"):
        if key in item:
            problems += _string(key, item[key], blank_ok=key != "title")
    for key in ("date_published", "date_modified"):
        if key in item:
            problems += _rfc3339(key, item[key])
    problems += _in_order(item.get("date_published"), item.get("date_modified"))
    problems += _authors("item", item.get("authors", []))
    tags = item.get("tags", [])
    if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        problems.append(f"tags {tags!r} are not a list of strings")
    return problems


def _members(what: str, value: dict[str, Any], known: set[str]) -> list[str]:
    """JSON Feed allows its own members and extensions, whose names start with ``_``."""
    unknown = sorted(key for key in value if key not in known and not key.startswith("_"))
    return [f"{what} has unknown members {unknown}"] if unknown else []


def _authors(what: str, authors: Any) -> list[str]:
    if not isinstance(authors, list) or not all(
        isinstance(a, dict) and any(isinstance(a.get(k), str) for k in ("name", "url", "avatar"))
        for a in authors
    ):
        return [f"{what} authors {authors!r} are not objects with a name, url or avatar"]
    return []


# -- values ----------------------------------------------------------------------------------


def _id(value: str) -> list[str]:
    if FEED_ID.match(value):
        return []
    return [f"id {value!r} is not a tag:, urn:uuid: or http(s) URI (W3C: InvalidFullLink)"]


def _unique(uid: str, seen: dict[str, Seen]) -> list[str]:
    return [f"id {uid!r} given twice"] if uid in seen else []


def _blank(what: str, value: str | None) -> list[str]:
    return [f"{what} missing or blank"] if not (value or "").strip() else []


def _string(what: str, value: Any, blank_ok: bool = False) -> list[str]:
    if isinstance(value, str) and (blank_ok or value.strip()):
        return []
    return [f"{what} {value!r} is not a non-blank string"]


def _equal(what: str, value: Any, expected: Any) -> list[str]:
    return [] if value == expected else [f"{what} is {value!r}, not {expected!r}"]


def _absolute(what: str, url: str) -> list[str]:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return []
    return [f"{what} {url!r} is not an absolute http(s) URL"]


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 date-time, or None."""
    if isinstance(value, str) and RFC3339.match(value):
        return datetime.fromisoformat(value)
    return None


def _rfc3339(what: str, value: Any) -> list[str]:
    return [] if _moment(value) else [f"{what} {value!r} is not an RFC 3339 date-time"]


def _in_order(published: Any, updated: Any) -> list[str]:
    first, last = _moment(published), _moment(updated)
    if first and last and first > last:
        return [f"published {published} after updated {updated} (RFC 4287 4.2.9)"]
    return []


def _rfc822(what: str, value: str | None) -> list[str]:
    if value is None or not RFC822.match(value):
        return [f"{what} {value!r} is not an RFC 822 date"]
    moment = parsedate_to_datetime(value)
    if "," in value and WEEKDAYS[moment.weekday()] != value[:3]:
        return [f"{what} {value!r} names the wrong day of the week (W3C: IncorrectDOW)"]
    return []


CHECKS: dict[str, Callable[[bytes, Place], Checked]] = {
    "atom.xml": atom,
    "rss.xml": rss,
    "feed.json": json_feed,
}
