"""Content files → :class:`Article` values, or problems naming the file and what to do.

Reading never raises for a bad file: :func:`read_article` returns the problems it found, so one
broken file is reported while the rest of the batch is published (DESIGN invariant 5).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from markdown_it_pyrs import MarkdownIt

from publisher.capture import Capture, CaptureError, Profile, extract
from publisher.models import Article, Problem
from publisher.text import one_line, slugify, xml_safe

CONTENT_SUFFIXES = frozenset({".md", ".markdown", ".html", ".htm", ".txt"})
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
TEMPORARY_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".swp", ".swx", ".crdownload", "~")
FRONT_MATTER_FIELDS = frozenset(
    {
        "title", "author", "date", "updated", "site", "source", "source_url", "tags",
        "attribution", "disclaimer", "credits", "author_bio", "slug", "summary",
        "original_published",
    }
)  # fmt: skip
_MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")
# libyaml's loader when present: the pure-Python one dominates reading a large batch.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class ReadResult:
    """An article, or ``None`` with the errors that kept it out; warnings either way."""

    article: Article | None
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class ContentFile:
    """A file under ``content/`` that looks settled enough to read."""

    path: str
    relative: str
    mtime_ns: int
    size: int


class _Refused(Exception):
    """Internal: stop reading this file with an error reason and hint."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def render_markdown(text: str) -> str:
    """CommonMark with tables and strikethrough, via markdown-it's Rust port (~10x the Python one).

    Raw HTML is kept here; it is sanitised on output like any article HTML. (cmark-gfm was as
    fast but leaked about 50 KB per call, which a batch of thousands of files cannot afford.)
    """
    return str(_MARKDOWN.render(text))


def is_temporary(name: str) -> bool:
    """Editor swap files, partial downloads and hidden files are never content."""
    return name.startswith((".", "#", "~")) or name.endswith(TEMPORARY_SUFFIXES)


def scan(content_dir: Path, settle_seconds: float) -> Iterator[ContentFile | Problem]:
    """Every content file under ``content_dir``, or a problem for files not to read this run.

    Settling compares modification times with the file system's own clock, not the run's
    (possibly fixed) clock: both sides of the comparison must come from the same source.
    Plain strings and ``scandir`` keep a scan of ten thousand files to a few tens of ms.
    """
    yield from _scan_folder(str(content_dir), "", time.time() - settle_seconds)


def _scan_folder(
    folder: str, prefix: str, settled_before: float
) -> Iterator[ContentFile | Problem]:
    with os.scandir(folder) as found:
        entries = sorted(found, key=lambda entry: entry.name)
    for entry in entries:
        relative = prefix + entry.name
        if is_temporary(entry.name):
            continue
        if entry.is_dir():
            yield from _scan_folder(entry.path, relative + "/", settled_before)
        elif os.path.splitext(entry.name)[1].lower() not in CONTENT_SUFFIXES:
            yield Problem(relative, "unsupported file type", "use .md, .html or .txt", "warning")
        else:
            stat = entry.stat()
            if stat.st_mtime > settled_before:
                reason = "still being written; skipped until it settles"
                yield Problem(relative, reason, "", "warning")
            else:
                yield ContentFile(entry.path, relative, stat.st_mtime_ns, stat.st_size)


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
        raise _Refused("empty file", "write the article, or remove the file")
    if looks_binary(raw):
        raise _Refused("binary file, not text", "content/ takes .md, .html and .txt articles")
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
        raise _Refused("front matter has no closing '---' line")
    try:
        meta = yaml.load(text[4:end], Loader=SafeLoader) or {}  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise _Refused(f"front matter is not valid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(meta, dict):
        raise _Refused("front matter must be a mapping of field: value")
    rest = text[end + 4 :]
    return meta, rest.split("\n", 1)[1] if "\n" in rest else ""


def _as_datetime(value: Any, key: str, zone: ZoneInfo) -> datetime:
    """A front-matter or byline date as an aware UTC datetime; naive ones are in the site zone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise _Refused(f"{key}: {value!r} is not a date", "write it as 2024-03-01") from exc
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, clock_time(), zone)
    if not isinstance(value, datetime):
        raise _Refused(f"{key}: expected a date, got {value!r}", "write it as 2024-03-01")
    aware: datetime = value if value.tzinfo else value.replace(tzinfo=zone)
    return aware.astimezone(ZoneInfo("UTC"))


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
        raise _Refused(f"{key}: expected text or a list of text")
    return tuple(s for s in (" ".join(xml_safe(str(i)).split()) for i in items) if s)


def _text(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key, "")
    if not isinstance(value, str | int | float):
        raise _Refused(f"{key}: expected text, got {type(value).__name__}")
    return xml_safe(str(value)).strip()


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


def _build(meta: dict[str, Any], body_html: str, relative: str, zone: ZoneInfo) -> Article:
    title = one_line(_text(meta, "title"))
    if not title:
        raise _Refused("no title", "set `title:` in the front matter")
    if not body_html.strip():
        raise _Refused("title only: the article has no body")
    attribution = " ".join(_text(meta, "attribution").split())
    if not attribution:
        raise _Refused("no attribution", "set `attribution:` (who wrote it, where it first ran)")
    if meta.get("date") is None:
        raise _Refused("no date", "set `date:` in the front matter, e.g. 2024-03-01")
    published = _as_datetime(meta["date"], "date", zone)
    updated = _as_datetime(meta["updated"], "updated", zone) if meta.get("updated") else None
    original = meta.get("original_published")
    return Article(
        slug=slugify(_text(meta, "slug") or title),
        title=title,
        author=one_line(_text(meta, "author")),
        published=published,
        updated=max(updated, published) if updated else None,
        body_html=body_html,
        attribution=attribution,
        disclaimer=_text_list(meta.get("disclaimer"), "disclaimer"),
        credits=_text_list(meta.get("credits"), "credits"),
        author_bio=_text(meta, "author_bio"),
        tags=tuple(dict.fromkeys(_text_list(meta.get("tags"), "tags"))),
        site=one_line(_text(meta, "site")),
        original_source=one_line(_text(meta, "source")),
        original_published=_as_date(original, "original_published", zone) if original else None,
        source_url=_text(meta, "source_url"),
        summary=one_line(_text(meta, "summary")),
        source_path=relative,
    )


def _read_capture(
    meta: dict[str, Any], text: str, profiles: list[Profile], zone: ZoneInfo
) -> tuple[dict[str, Any], str, list[Problem]]:
    profile = next((p for p in profiles if p.detect.search(text)), None)
    if profile is None:
        raise _Refused("no source profile recognises this capture", "add one in config/sources/")
    try:
        capture = extract(text, profile)
    except CaptureError as exc:
        raise _Refused(str(exc), f"see the {profile.name} profile in config/sources/") from exc
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
    path: Path | str, relative: str, profiles: list[Profile], zone: ZoneInfo
) -> ReadResult:
    """Read one content file; errors and warnings name the file."""
    path = Path(path)
    problems: list[Problem] = []
    try:
        text, warnings = decode(path.read_bytes())
        problems += [Problem(relative, w, "", "warning") for w in warnings]
        meta, body = split_front_matter(text)
        unknown = ", ".join(sorted(str(key) for key in set(meta) - FRONT_MATTER_FIELDS))
        if unknown:
            hint = f"known: {', '.join(sorted(FRONT_MATTER_FIELDS))}"
            problems.append(
                Problem(
                    relative, f"unknown front-matter fields ignored: {unknown}", hint, "warning"
                )
            )
        meta = {k: v for k, v in meta.items() if k in FRONT_MATTER_FIELDS}
        suffix = path.suffix.lower()
        if suffix == ".txt":
            meta, body, found = _read_capture(meta, body, profiles, zone)
            problems += [Problem(relative, p.reason, p.hint, p.severity) for p in found]
        elif suffix in (".md", ".markdown"):
            body = render_markdown(body)
        article = _build(meta, body, relative, zone)
    except _Refused as refused:
        problems.append(Problem(relative, refused.reason, refused.hint))
        return ReadResult(None, problems)
    except OSError as exc:
        problems.append(Problem(relative, f"cannot read: {exc.strerror}"))
        return ReadResult(None, problems)
    return ReadResult(article, problems)
