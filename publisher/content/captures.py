"""Plain-text captures of syndicated articles, classified by source profiles (data, not code).

A capture is paragraphs separated by blank lines: the title, a byline, the body mixed with site
boilerplate, then an author bio, credits, the attribution and the disclaimer. A profile in
``config/sources/*.toml`` says how to recognise each part; :func:`extract` applies it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from publisher.errors import ConfigError


@dataclass(frozen=True)
class Profile:
    """How one syndication source lays out its captures."""

    name: str
    detect: re.Pattern[str]
    byline: re.Pattern[str]
    published_format: str
    original_published_format: str
    list_separator: str
    author_bio: str
    image_credit: re.Pattern[str]
    attribution: re.Pattern[str]
    disclaimer: re.Pattern[str]
    ignore: tuple[re.Pattern[str], ...]
    boilerplate: tuple[re.Pattern[str], ...]
    keep_boilerplate: bool = False
    hyperlink_required: re.Pattern[str] | None = None


@dataclass
class Capture:
    """The fields a capture yields; names match the golden extraction files."""

    title: str
    author: str = ""
    site: str = ""
    published: date | None = None
    original_source: str = ""
    original_published: date | None = None
    regions: list[str] = field(default_factory=list)
    themes: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    body_paragraphs: list[str] = field(default_factory=list)
    author_bio: str = ""
    image_credit: str = ""
    attribution: str = ""
    disclaimer_paragraphs: list[str] = field(default_factory=list)
    boilerplate_removed_by_default: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class CaptureError(ValueError):
    """The capture does not have the shape its profile describes."""


def _compile(path: Path, key: str, pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{path}: {key}: invalid regular expression: {exc}") from exc


def load_profile(path: Path) -> Profile:
    """Read one profile file.

    :raises ConfigError: when the file is not TOML, lacks a key or holds a bad pattern.
    """
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        byline, markers = data["byline"], data["markers"]
        hyperlink = data.get("hyperlink_required")
        return Profile(
            name=data["name"],
            detect=_compile(path, "detect", data["detect"]),
            byline=_compile(path, "byline.pattern", byline["pattern"]),
            published_format=byline["published_format"],
            original_published_format=byline.get("original_published_format", ""),
            list_separator=byline.get("list_separator", ", "),
            author_bio=markers.get("author_bio", ""),
            image_credit=_compile(path, "markers.image_credit", markers["image_credit"]),
            attribution=_compile(path, "markers.attribution", markers["attribution"]),
            disclaimer=_compile(path, "markers.disclaimer", markers["disclaimer"]),
            ignore=tuple(_compile(path, "markers.ignore", p) for p in markers.get("ignore", [])),
            boilerplate=tuple(
                _compile(path, "markers.boilerplate", p) for p in markers.get("boilerplate", [])
            ),
            keep_boilerplate=bool(data.get("keep_boilerplate", False)),
            hyperlink_required=_compile(path, "hyperlink_required", hyperlink)
            if hyperlink
            else None,
        )
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except KeyError as exc:
        raise ConfigError(f"{path}: missing key {exc.args[0]!r} in the source profile") from exc


def load_profiles(folder: Path) -> list[Profile]:
    """Every profile in ``folder``, in file-name order (the first that detects a capture wins)."""
    return [load_profile(path) for path in sorted(folder.glob("*.toml"))] if folder.is_dir() else []


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, each folded onto one line."""
    return [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]


def _split_list(value: str | None, separator: str) -> list[str]:
    if not value:
        return []
    items = (re.sub(r"</?u>", "", item).strip() for item in value.split(separator))
    return [item for item in items if item]


def _parse_date(value: str | None, fmt: str) -> date | None:
    if not value or not fmt:
        return None
    try:
        return datetime.strptime(value, fmt).date()  # noqa: DTZ007 (a calendar date, no time)
    except ValueError as exc:
        raise CaptureError(f"byline date {value!r} does not match {fmt!r}") from exc


def _read_byline(capture: Capture, line: str, profile: Profile) -> None:
    match = profile.byline.match(line)
    if match is None:
        raise CaptureError(f"the second paragraph is not a {profile.name} byline: {line[:80]!r}")
    fields = match.groupdict()
    capture.author = (fields.get("author") or "").strip()
    capture.site = (fields.get("site") or "").strip()
    capture.published = _parse_date(fields.get("published"), profile.published_format)
    capture.original_source = (fields.get("original_source") or "").strip()
    capture.original_published = _parse_date(
        fields.get("original_published"), profile.original_published_format
    )
    for key in ("regions", "themes", "reports"):
        setattr(capture, key, _split_list(fields.get(key), profile.list_separator))


def _strip_boilerplate(paragraph: str, capture: Capture, profile: Profile) -> str:
    """The paragraph without boilerplate: all of it, a tail of it, or none."""
    for pattern in profile.boilerplate:
        match = pattern.search(paragraph)
        if match is None or (match.start() > 0 and match.end() < len(paragraph)):
            continue
        capture.boilerplate_removed_by_default.append(paragraph[match.start() :].strip())
        if profile.keep_boilerplate:
            return paragraph
        return paragraph[: match.start()].strip()
    return paragraph


def _classify_tail(paragraph: str, capture: Capture, profile: Profile) -> bool:
    """Put a credit or attribution paragraph in its field; ``False`` for anything else."""
    if profile.image_credit.search(paragraph):
        capture.image_credit = paragraph
    elif profile.attribution.search(paragraph):
        capture.attribution = paragraph
    else:
        return False
    return True


def _take_author_bio(capture: Capture, profile: Profile) -> None:
    if not (profile.author_bio and capture.author and capture.body_paragraphs):
        return
    pattern = profile.author_bio.replace("{author}", re.escape(capture.author))
    if re.search(pattern, capture.body_paragraphs[-1]):
        capture.author_bio = capture.body_paragraphs.pop()


def extract(text: str, profile: Profile) -> Capture:
    """Split a capture into its fields following ``profile``.

    :raises CaptureError: when the title or byline is missing.
    """
    parts = paragraphs(text)
    if len(parts) < 2:
        raise CaptureError("only a title: no byline and no body")
    capture = Capture(title=parts[0])
    _read_byline(capture, parts[1], profile)
    section = "body"
    for paragraph in parts[2:]:
        if any(p.search(paragraph) for p in profile.ignore):
            continue
        paragraph = _strip_boilerplate(paragraph, capture, profile)
        if not paragraph:
            continue
        if section != "disclaimer" and profile.disclaimer.search(paragraph):
            section = "disclaimer"
        if section == "disclaimer":
            capture.disclaimer_paragraphs.append(paragraph)
        elif _classify_tail(paragraph, capture, profile):
            if section == "body":
                _take_author_bio(capture, profile)
            section = "tail"
        elif section == "body":
            capture.body_paragraphs.append(paragraph)
        else:
            capture.warnings.append(f"unclassified paragraph after the body: {paragraph[:60]!r}")
    return capture
