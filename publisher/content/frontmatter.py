"""Front matter: the YAML block at the top of a file, its fields checked one by one, and the
:class:`Article` built from them.

The fields are the one vocabulary every format is read into (a ``.txt`` capture's extracted
parts are renamed into it by :mod:`publisher.content.reading`), so one builder checks titles,
dates, tags and ids the same way for every file, and a wrong value is refused naming its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from yaml.constructor import SafeConstructor

from publisher.content.scan import Refused
from publisher.models import Article
from publisher.text import one_line, slugify, xml_safe
from publisher.urls import is_visible_token, is_web_url

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


def shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: its repr, cut short (a 5 MB title is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def _tags(meta: dict[str, Any], max_tags: int) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(_text_list(meta.get("tags"), "tags")))
    if len(tags) > max_tags:
        reason = f"tags: {len(tags)} tags, more than the limit of {max_tags}"
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


def build_article(
    meta: dict[str, Any], body_html: str, relative: str, zone: ZoneInfo, max_tags: int
) -> Article:
    """The article of one file from its fields and its body as HTML, whatever its format.

    :raises Refused: naming the field that is missing or wrong, and what to write instead.
    """
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
        tags=_tags(meta, max_tags),
        site=one_line(_text(meta, "site")),
        original_source=one_line(_text(meta, "source")),
        original_published=_as_date(original, "original_published", zone) if original else None,
        source_url=_source_url(meta),
        summary=one_line(_text(meta, "summary")),
        source_path=relative,
        uid=_uid(meta),
    )
