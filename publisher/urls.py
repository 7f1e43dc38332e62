"""What a URL or an id typed by a person may be: checked once, where text enters (front
matter, settings), so no output ever carries a link a browser would run or read differently.

No imports beyond the standard library: settings are checked with it by every command.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit


def is_visible_token(text: str) -> bool:
    """Non-empty text without whitespace and without control, format, private or unassigned
    characters (Unicode category C): what a URL or an id may be, so that none is shown one way
    and read another (a bidi override, a zero-width space, a newline in a header)."""
    return bool(text) and not any(c.isspace() or unicodedata.category(c)[0] == "C" for c in text)


def is_web_url(url: str) -> bool:
    """An absolute ``http``/``https`` URL with a host (the scheme in any case) and a valid port,
    and nothing a browser or feed reader would run or read differently: no ``javascript:`` or
    ``data:``, no whitespace, control characters or backslashes (which browsers take for
    ``/``)."""
    if not is_visible_token(url) or "\\" in url:
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:  # e.g. an unbalanced "[" of an IPv6 host, or port 99999
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
