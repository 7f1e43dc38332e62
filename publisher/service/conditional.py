"""Conditional GET (RFC 9110): strong ETags compared weakly, ``If-Modified-Since`` as the
fallback, and the bodies of recently served outputs kept by content hash."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from email.utils import parsedate_to_datetime

from starlette.requests import Request


def etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` against a strong ETag with the weak comparison of RFC 9110: proxies
    that compress (nginx) turn ``"x"`` into ``W/"x"``, which must still match."""
    if header.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in header.split(","))


def not_modified(request: Request, etag: str, updated: datetime) -> bool:
    """Whether the client's copy is current: ``If-None-Match`` decides when present, else
    ``If-Modified-Since`` (second precision, as HTTP dates have)."""
    if "if-none-match" in request.headers:
        return etag_matches(request.headers["if-none-match"], etag)
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        return updated.replace(microsecond=0) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


class Bodies:
    """The bytes of recently served outputs by (path, sha256): a hit needs no body from the
    store, and a changed output has a new hash, so nothing stale is ever served."""

    def __init__(self, most: int = 256) -> None:
        self.most = most
        self.items: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def get(self, key: tuple[str, str]) -> bytes | None:
        body = self.items.get(key)
        if body is not None:
            self.items.move_to_end(key)
        return body

    def put(self, key: tuple[str, str], body: bytes) -> None:
        self.items[key] = body
        self.items.move_to_end(key)
        while len(self.items) > self.most:
            self.items.popitem(last=False)
