"""WebSub against a local hub stub: feeds name the hub, and the hub hears once about each feed a
publish changed, after the commit; a failing hub never fails the publish."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lxml import etree

from tests.conftest import NOW, Project

ATOM = "{http://www.w3.org/2005/Atom}"


class Hub:
    """Records the form posts it receives; answers ``status``."""

    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []
        self.status = 204
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                hub.posts.append({key: values[0] for key, values in form.items()})
                self.send_response(hub.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hub"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def topics(self) -> list[str]:
        return sorted(post["hub.url"] for post in self.posts if post["hub.mode"] == "publish")


@pytest.fixture
def hub() -> Iterator[Hub]:
    stub = Hub()
    stub.thread.start()
    try:
        yield stub
    finally:
        stub.server.shutdown()
        stub.server.server_close()


def test_feeds_name_the_hub_and_it_hears_of_each_changed_feed_once(
    project: Project, hub: Hub
) -> None:
    project.environ["PUBLISHER_FEEDS__HUB"] = hub.url
    report = project.publish()
    public = project.public
    atom = etree.parse(str(public / "atom.xml")).getroot()
    assert [link.get("href") for link in atom.findall(f"{ATOM}link[@rel='hub']")] == [hub.url]
    rss = etree.parse(str(public / "rss.xml")).getroot()
    assert rss.find(f"channel/{ATOM}link[@rel='hub']").get("href") == hub.url  # type: ignore[union-attr]
    feed = json.loads((public / "feed.json").read_text())
    assert feed["hubs"] == [{"type": "WebSub", "url": hub.url}]
    # Each changed feed once, named as its rel=self link names it.
    assert hub.topics() == sorted(report.pinged)
    assert "http://localhost:8000/atom.xml" in hub.topics()
    self_link = atom.find(f"{ATOM}link[@rel='self']").get("href")  # type: ignore[union-attr]
    assert self_link in hub.topics()
    assert len(hub.topics()) == len(set(hub.topics()))
    hub.posts.clear()
    assert project.publish(NOW + timedelta(hours=1)).pinged == []  # nothing changed
    assert hub.posts == []


def test_a_failing_hub_does_not_fail_the_publish(project: Project, hub: Hub) -> None:
    project.environ["PUBLISHER_FEEDS__HUB"] = hub.url
    hub.status = 503
    report = project.publish()
    assert report.refused == [] and report.written
    assert report.pinged == [] and "http://localhost:8000/atom.xml" in report.unpinged
    assert len(hub.posts) == 2 * len(report.unpinged)  # tried twice each
    assert (project.public / "atom.xml").exists()


def test_without_a_hub_feeds_do_not_change(project: Project) -> None:
    report = project.publish()
    assert report.pinged == []
    assert b'rel="hub"' not in (project.public / "atom.xml").read_bytes()
