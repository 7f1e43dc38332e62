"""WebSub: tell the hub which feeds changed, after the publish that changed them committed.

A hub that fails or is down never fails the publish: each topic is tried twice, and what still
failed is reported (the next change pings again, and subscribers' readers poll anyway).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

log = logging.getLogger(__name__)
FEEDS = ("atom.xml", "rss.xml", "feed.json")
TRIES = 2
TIMEOUT = 10.0


def changed_feeds(paths: Iterable[str], base_url: str) -> list[str]:
    """The URLs (as their rel=self links say) of the feeds among written ``paths``."""
    return sorted(f"{base_url}{p}" for p in paths if p.rsplit("/", 1)[-1] in FEEDS)


def ping(hub: str, topics: Iterable[str]) -> list[str]:
    """``hub.mode=publish`` for each topic; the topics that could not be announced."""
    failed = []
    for topic in topics:
        body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": topic}).encode()
        for attempt in range(1, TRIES + 1):
            request = urllib.request.Request(hub, data=body, method="POST")  # noqa: S310
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310
                    if answer.status < 300:
                        break
            except (urllib.error.URLError, OSError) as exc:
                log.warning("WebSub hub %s, topic %s, try %d: %s", hub, topic, attempt, exc)
        else:
            failed.append(topic)
    return failed
