"""Content files → :class:`Article` values, or problems naming the file and what to do.

Reading never raises, whatever the bytes: :func:`read_article` returns the problems it found,
so one broken file is reported while the rest of the batch is published (DESIGN invariant 5).
This module decodes the bytes and reads each format (Markdown, HTML, a ``.txt`` capture through
its source profile) into front-matter fields and an HTML body; checking those fields and
building the article is :mod:`publisher.content.frontmatter`'s part, and which files to read,
and reading their bytes safely, is :mod:`publisher.content.scan`'s.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from markdown_it_pyrs import MarkdownIt

from publisher.config.settings import ContentSettings
from publisher.content.captures import Capture, CaptureError, Profile, extract
from publisher.content.frontmatter import FRONT_MATTER_FIELDS, build_article, split_front_matter
from publisher.content.scan import Refused, read_bounded
from publisher.models import Article, Problem
from publisher.text import one_line, xml_safe

log = logging.getLogger(__name__)

_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MARKDOWN = MarkdownIt("commonmark").enable("table").enable("strikethrough")


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


def _capture_fields(capture: Capture) -> dict[str, Any]:
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


def _read_capture(
    meta: dict[str, Any], text: str, profiles: list[Profile]
) -> tuple[dict[str, Any], str, list[Problem]]:
    profile = next((p for p in profiles if p.detect.search(text)), None)
    if profile is None:
        raise Refused("no source profile recognises this capture", "add one in config/sources/")
    try:
        capture = extract(text, profile)
    except CaptureError as exc:
        raise Refused(str(exc), f"see the {profile.name} profile in config/sources/") from exc
    fields = {**_capture_fields(capture), **meta}
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
        meta, body, found = _read_capture(meta, body, profiles)
        problems += [Problem(relative, p.reason, p.hint, p.severity) for p in found]
    elif suffix in (".md", ".markdown"):
        body = render_markdown(body)
    return build_article(meta, body, relative, zone, limits.max_tags)
