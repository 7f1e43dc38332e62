"""The one Jinja2 environment: autoescape for all but ``.txt`` templates, undefined is an error.

Templates come from the project's own ``templates/`` first, then from the default theme, so an
operator overrides one file by copying it. Article HTML reaches a template only through the
``clean`` filter, which sanitises right before marking the text safe.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)
from markupsafe import Markup

from publisher.config.settings import Settings
from publisher.errors import RenderError
from publisher.text import plural, sanitize_html, tag_slug

UTC_ZONE = ZoneInfo("UTC")


def theme_dir() -> Path:
    """The default theme: packaged in the wheel, or the checkout's top-level ``templates/``."""
    packaged = Path(__file__).parents[1] / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parents[2] / "templates"


# Disclaimers, attributions and credits repeat across a source's articles: sanitise each once.
_clean_short = lru_cache(maxsize=2048)(sanitize_html)


def clean(html: str) -> Markup:
    """Sanitise article HTML with the allow-list, then mark it safe for the template."""
    cleaned = _clean_short(html) if len(html) < 4096 else sanitize_html(html)
    return Markup(cleaned)  # noqa: S704 (sanitised on the line above)


def longdate(value: date, zone: ZoneInfo) -> str:
    """A date for people, on the site's calendar: ``24 January 2023``."""
    if isinstance(value, datetime):
        value = value.astimezone(zone)
    return f"{value.day} {value:%B %Y}"


def make_environment(
    project_templates: Path, zone: ZoneInfo = UTC_ZONE, cache_dir: Path | None = None
) -> Environment:
    """The environment every HTML and XML output is rendered with; dates shown in ``zone``.

    With ``cache_dir``, compiled templates are kept there between runs (Jinja checks that each
    source is unchanged), which saves a small publish most of its template compiling.
    """
    cache = None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache = FileSystemBytecodeCache(str(cache_dir))
    env = Environment(
        bytecode_cache=cache,
        loader=ChoiceLoader([FileSystemLoader(project_templates), FileSystemLoader(theme_dir())]),
        # Everything is escaped but plain-text templates (*.txt: the text part of digests).
        autoescape=select_autoescape(
            disabled_extensions=("txt",), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clean"] = clean
    env.filters["longdate"] = lambda value: longdate(value, zone)
    env.filters["tagslug"] = tag_slug
    env.filters["plural"] = plural
    return env


def environment_for(settings: Settings) -> Environment:
    """The project's environment: its own templates over the theme, compiled ones cached
    under ``var/``."""
    cache = settings.path(settings.output.var_dir) / "templates"
    env = make_environment(settings.path("templates"), settings.zone, cache)
    env.globals["subscribe"] = bool(settings.digests)  # pages offer the subscribe block
    return env


def render(env: Environment, name: str, **context: Any) -> str:
    """Render one template.

    :raises RenderError: naming the template, when it is missing or fails.
    """
    try:
        return env.get_template(name).render(**context)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise RenderError(f"template {name}{where}: {exc}") from exc


def templates_signature(env: Environment) -> str:
    """A hash of every template the environment can see: a change means a full rebuild."""
    digest = hashlib.sha256()
    for name in sorted(env.list_templates()):
        source, _filename, _uptodate = env.loader.get_source(env, name)  # type: ignore[union-attr]
        digest.update(name.encode() + b"\0" + source.encode() + b"\0")
    return digest.hexdigest()
