"""Content files → :class:`Article` values, or problems naming the file and what to do.

Reading never raises, whatever the bytes: :func:`read_article` returns the problems it found,
so one broken file is reported while the rest of the batch is published (DESIGN invariant 5).
Which files to read, and reading their bytes safely, is :mod:`publisher.content.scan`'s part.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from markdown_it_pyrs import MarkdownIt
from yaml.constructor import SafeConstructor

from publisher.config.settings import ContentSettings
from publisher.content.captures import Capture, CaptureError, Profile, extract
from publisher.content.scan import Refused, read_bounded
from publisher.models import Article, Problem
from publisher.text import one_line, slugify, xml_safe
from publisher.urls import is_visible_token, is_web_url

log = logging.getLogger(__name__)

_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
FRONT_MATTER_FIELDS = frozenset(
    {
        "title", "author", "date", "updated", "site", "source", "source_url", "tags",
        "attribution", "disclaimer", "credits", "author_bio", "slug", "summary",
        "original_published", "id",
    }
)  # fmt: skip
# Four-digit years, far enough from datetime's limits that no zone shift, listing or digest
# arithmetic on a date can overflow later (a year-1 or year-9999 date crashed the publish).
YEARS = (1000, 9000)
DATE_HINT = "write it as 2024-03-01, or 2024-03-01T09:30:00+01:00"
# An article's own permanent id (RFC 4151 tag: or RFC 8141 urn:; http(s) URLs are checked apart).
_TAG_URI = re.compile(r"tag:[^\s,:/]+,[0-9]{4}(-[0-9]{2}){0,2}:.*", re.IGNORECASE)
_URN = re.compile(r"urn:[a-z0-9][a-z0-9-]{0,30}[a-z0-9]:.+", re.IGNORECASE)
ID_HINT = "use a tag: URI (tag:example.org,2024:my-article), a urn: (urn:uuid:…) or an http(s) URL"
MAX_ID_LENGTH = 500  # what the store keeps of an id
_MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader — libyaml's when present: the pure-Python one dominates reading a large
    batch — except that a timestamp or an integer Python cannot make stays text.

    ``date: 2024-13-45`` matches YAML's timestamp pattern, and the stock loader raises
    ``ValueError`` from inside ``yaml.load`` (PITFALLS 64), as it does for an integer of more
    than 4,300 digits: the file could not even say which field is wrong. As text, the value
    reaches the field's own check, which names the field.
    """


def _or_text(
    construct: Callable[[Any, yaml.ScalarNode], Any],
) -> Callable[[Any, yaml.ScalarNode], Any]:
    """A constructor that gives the scalar's text where ``construct`` raises."""

    def load(loader: Any, node: yaml.ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError):
            return loader.construct_scalar(node)

    return load


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp", _or_text(SafeConstructor.construct_yaml_timestamp)
)
_Loader.add_constructor("tag:yaml.org,2002:int", _or_text(SafeConstructor.construct_yaml_int))


@dataclass(frozen=True)
class Limits:
    """What one file may hold before it is refused: bytes read, and tags (each tag is a page
    and a feed, so a thousand of them make one article cost minutes)."""

    max_bytes: int
    max_tags: int

    @classmethod
    def from_settings(cls, content: ContentSettings) -> Limits:
        return cls(content.max_file_bytes, content.max_tags)


DEFAULT_LIMITS = Limits.from_settings(ContentSettings())


@dataclass
class ReadResult:
    """An article, or ``None`` with the errors that kept it out; warnings either way."""

    article: Article | None
    problems: list[Problem] = field(default_factory=list)


def render_markdown(text: str) -> str:
    """CommonMark with tables and strikethrough, via markdown-it's Rust port (~10x the Python one).

    Raw HTML is kept here; it is sanitised on output like any article HTML. (cmark-gfm was as
    fast but leaked about 50 KB per call, which a batch of thousands of files cannot afford.)
    """
    return str(_MARKDOWN.render(text))


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: its repr, cut short (a 5 MB title is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def looks_binary(raw: bytes) -> bool:
    """NUL bytes in what is not UTF-8, or many control bytes: an image, an archive, a PDF…

    A stray NUL or form feed in real text is removed with a warning instead.
    """
    head = raw[:8192]
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > len(head) // 10:
        return True
    if b"\x00" not in head:
        return False
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return True
    return False


def decode(raw: bytes) -> tuple[str, list[str]]:
    """Bytes → text with LF newlines; UTF-8 (BOM or not), else Windows-1252 with a warning."""
    if not raw.strip():
        raise Refused("empty file", "write the article, or remove the file")
    if looks_binary(raw):
        raise Refused("binary file, not text", "content/ takes .md, .html and .txt articles")
    warnings = []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
        warnings.append("not UTF-8: decoded as Windows-1252; save the file as UTF-8")
    if _CONTROL.search(text):
        warnings.append("control characters removed (XML cannot carry them)")
    return xml_safe(text.replace("\r\n", "\n").replace("\r", "\n")), warnings


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A leading ``---`` YAML block as a dict, and the rest of the text."""
    if not text.startswith("---\n"):
        return {}, text
    end = text.find("\n---", 3)
    if end < 0:
        raise Refused("front matter has no closing '---' line")
    try:
        meta = yaml.load(text[4:end], Loader=_Loader) or {}  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise Refused(f"front matter is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(meta, dict):
        raise Refused("front matter must be a mapping of field: value")
    rest = text[end + 4 :]
    return meta, rest.split("\n", 1)[1] if "\n" in rest else ""


def _as_datetime(value: Any, key: str, zone: ZoneInfo) -> datetime:
    """A front-matter or byline date as an aware UTC datetime; naive ones are in the site zone."""
    try:
        when = datetime.fromisoformat(value.strip()) if isinstance(value, str) else value
        if isinstance(when, date) and not isinstance(when, datetime):
            when = datetime.combine(when, clock_time(), zone)
        if not isinstance(when, datetime):
            raise Refused(f"{key}: expected a date, got {shown(value)}", DATE_HINT, key)
        utc = (when if when.tzinfo else when.replace(tzinfo=zone)).astimezone(ZoneInfo("UTC"))
    except (ValueError, OverflowError) as exc:  # not a date, or one UTC cannot hold (year 1)
        raise Refused(f"{key}: {shown(_written(value))} is not a date", DATE_HINT, key) from exc
    if not YEARS[0] <= utc.year <= YEARS[1]:
        reason = f"{key}: {shown(_written(value))} is out of range"
        raise Refused(reason, f"a year from {YEARS[0]} to {YEARS[1]}", key)
    return utc


def _written(value: Any) -> Any:
    """A date as the file wrote it, not as Python prints it."""
    return value.isoformat() if isinstance(value, date) else value


def _as_date(value: Any, key: str, zone: ZoneInfo) -> date:
    """A calendar date in the site's time zone."""
    return _as_datetime(value, key, zone).astimezone(zone).date()


def _text_list(value: Any, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if key == "tags" and isinstance(value, str) else value
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(i, str | int | float) for i in items):
        raise Refused(f"{key}: expected text or a list of text", field=key)
    return tuple(s for s in (" ".join(_as_str(i, key).split()) for i in items) if s)


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key, "")
    if not isinstance(value, str | int | float):
        raise Refused(f"{key}: expected text, got {type(value).__name__}", field=key)
    return _as_str(value, key).strip()


def _as_str(value: str | float, key: str) -> str:
    """A scalar as XML-safe text; an integer too long to print is refused, not a crash."""
    try:
        return xml_safe(str(value))
    except ValueError as exc:  # int has more digits than sys.get_int_max_str_digits()
        raise Refused(f"{key}: a number too long to be text", "quote it", key) from exc


def _capture_fields(capture: Capture, zone: ZoneInfo) -> dict[str, Any]:
    """A capture's fields in front-matter vocabulary, so one builder serves every format."""
    return {
        "title": capture.title,
        "author": capture.author,
        "date": capture.published,
        "site": capture.site,
        "source": capture.original_source,
        "original_published": capture.original_published,
        "tags": [*capture.regions, *capture.themes, *capture.reports],
        "attribution": capture.attribution,
        "disclaimer": capture.disclaimer_paragraphs,
        "credits": [capture.image_credit] if capture.image_credit else [],
        "author_bio": capture.author_bio,
    }


def _tags(meta: dict[str, Any], limits: Limits) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(_text_list(meta.get("tags"), "tags")))
    if len(tags) > limits.max_tags:
        reason = f"tags: {len(tags)} tags, more than the limit of {limits.max_tags}"
        raise Refused(reason, "keep the telling ones, or raise content.max_tags", "tags")
    return tags


def _verbatim(meta: dict[str, Any], key: str) -> str:
    """Text as written, for a value to check: a URL with a control character is refused, not
    quietly changed into another URL by :func:`xml_safe`."""
    value = meta.get(key, "")
    return value.strip() if isinstance(value, str) else _text(meta, key)


def _source_url(meta: dict[str, Any]) -> str:
    url = _verbatim(meta, "source_url")
    if url and not is_web_url(url):
        hint = "give the original's full address, e.g. https://example.org/article"
        raise Refused(f"source_url: {shown(url)} is not an http(s) URL", hint, "source_url")
    return url


def _uid(meta: dict[str, Any]) -> str:
    """The article's own permanent id (``id:``), or "" for the store to mint one."""
    uid = _verbatim(meta, "id")
    if not uid:
        return ""
    if len(uid) > MAX_ID_LENGTH:
        raise Refused(f"id: longer than {MAX_ID_LENGTH} characters", ID_HINT, "id")
    uri = is_visible_token(uid) and (_TAG_URI.fullmatch(uid) or _URN.fullmatch(uid))
    if not (uri or is_web_url(uid)):
        raise Refused(f"id: {shown(uid)} is not a tag:, urn: or http(s) URI", ID_HINT, "id")
    return uid


def _build(
    meta: dict[str, Any], body_html: str, relative: str, zone: ZoneInfo, limits: Limits
) -> Article:
    title = one_line(_text(meta, "title"))
    if not title:
        raise Refused("no title", "set `title:` in the front matter", "title")
    if not body_html.strip():
        raise Refused("title only: the article has no body")
    attribution = " ".join(_text(meta, "attribution").split())
    if not attribution:
        hint = "set `attribution:` (who wrote it, where it first ran)"
        raise Refused("no attribution", hint, "attribution")
    if meta.get("date") is None:
        raise Refused("no date", "set `date:` in the front matter, e.g. 2024-03-01", "date")
    published = _as_datetime(meta["date"], "date", zone)
    updated = _as_datetime(meta["updated"], "updated", zone) if meta.get("updated") else None
    original = meta.get("original_published")
    return Article(
        # Empty without `slug:`: the store names a new article after its title, and an edited
        # title does not move the page of an article it knows.
        slug=slugify(explicit) if (explicit := _text(meta, "slug")) else "",
        title=title,
        author=one_line(_text(meta, "author")),
        published=published,
        updated=max(updated, published) if updated else None,
        body_html=body_html,
        attribution=attribution,
        disclaimer=_text_list(meta.get("disclaimer"), "disclaimer"),
        credits=_text_list(meta.get("credits"), "credits"),
        author_bio=_text(meta, "author_bio"),
        tags=_tags(meta, limits),
        site=one_line(_text(meta, "site")),
        original_source=one_line(_text(meta, "source")),
        original_published=_as_date(original, "original_published", zone) if original else None,
        source_url=_source_url(meta),
        summary=one_line(_text(meta, "summary")),
        source_path=relative,
        uid=_uid(meta),
    )


def _read_capture(
    meta: dict[str, Any], text: str, profiles: list[Profile], zone: ZoneInfo
) -> tuple[dict[str, Any], str, list[Problem]]:
    profile = next((p for p in profiles if p.detect.search(text)), None)
    if profile is None:
        raise Refused("no source profile recognises this capture", "add one in config/sources/")
    try:
        capture = extract(text, profile)
    except CaptureError as exc:
        raise Refused(str(exc), f"see the {profile.name} profile in config/sources/") from exc
    fields = {**_capture_fields(capture, zone), **meta}
    if not fields.get("date"):
        fields.pop("date", None)
    warnings = [Problem("", w, "", "warning") for w in capture.warnings]
    disclaimer = " ".join(capture.disclaimer_paragraphs)
    wants_link = profile.hyperlink_required and profile.hyperlink_required.search(disclaimer)
    if wants_link and not fields.get("source_url"):
        reason = "the disclaimer asks for a hyperlink to the original; no source_url is known"
        hint = "add a front-matter block with `source_url:` at the top of the capture"
        warnings.append(Problem("", reason, hint, "warning"))
    body = "".join(f"<p>{p}</p>\n" for p in capture.body_paragraphs)
    return fields, body, warnings


def read_article(
    path: Path | str,
    relative: str,
    profiles: list[Profile],
    zone: ZoneInfo,
    limits: Limits = DEFAULT_LIMITS,
) -> ReadResult:
    """Read one content file; errors and warnings name the file. Never raises.

    ``path`` is what to open, ``relative`` the name the operator sees (its suffix says the
    format). Anything unforeseen becomes this file's problem too, its traceback logged at DEBUG:
    one file's surprise never stops the batch.
    """
    problems: list[Problem] = []
    try:
        article = _read(str(path), relative, profiles, zone, limits, problems)
    except Refused as refused:
        problems.append(Problem(relative, refused.reason, refused.hint, field=refused.field))
        return ReadResult(None, problems)
    except OSError as exc:
        reason = f"cannot read: {exc.strerror or exc}"
        problems.append(Problem(relative, reason, "check the file and its permissions"))
        return ReadResult(None, problems)
    except Exception as exc:  # the last resort that keeps the batch going
        log.debug("reading %s failed", relative, exc_info=True)
        reason = f"could not be read: {type(exc).__name__}: {one_line(str(exc))[:200]}"
        hint = "an unexpected error; the debug log has its traceback"
        problems.append(Problem(relative, reason, hint))
        return ReadResult(None, problems)
    return ReadResult(article, problems)


def _read(
    path: str,
    relative: str,
    profiles: list[Profile],
    zone: ZoneInfo,
    limits: Limits,
    problems: list[Problem],
) -> Article:
    """The article of one file, adding its warnings to ``problems``."""
    text, warnings = decode(read_bounded(path, limits.max_bytes))
    problems += [Problem(relative, w, "", "warning") for w in warnings]
    meta, body = split_front_matter(text)
    unknown = ", ".join(sorted(one_line(str(key))[:40] for key in set(meta) - FRONT_MATTER_FIELDS))
    if unknown:
        reason = f"unknown front-matter fields ignored: {unknown}"
        hint = f"known: {', '.join(sorted(FRONT_MATTER_FIELDS))}"
        problems.append(Problem(relative, reason, hint, "warning"))
    meta = {k: v for k, v in meta.items() if k in FRONT_MATTER_FIELDS}
    suffix = Path(relative).suffix.lower()
    if suffix == ".txt":
        meta, body, found = _read_capture(meta, body, profiles, zone)
        problems += [Problem(relative, p.reason, p.hint, p.severity) for p in found]
    elif suffix in (".md", ".markdown"):
        body = render_markdown(body)
    return _build(meta, body, relative, zone, limits)
