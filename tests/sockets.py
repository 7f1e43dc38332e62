"""The web process on a real socket, inside the test's process: the uvicorn server
``publisher serve`` runs (:func:`publisher.cli.service.web_server`) on a free port, in a thread of
its own, and a keep-alive HTTP client that can connect from any loopback address (127.0.0.2 is
another client than 127.0.0.1) and posts the subscribe form as a browser on the site would: with
the form's hidden fields and cookies, and the site's own ``Origin``.
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from publisher.cli.service import web_server
from publisher.config.settings import Settings
from tests.smtpserver import free_port

HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@contextmanager
def served(settings: Settings) -> Iterator[int]:
    """The web app listening on 127.0.0.1 until the block ends; its port."""
    port = free_port()
    server = web_server(settings, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # a loose bound: tells a server that never came up
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server never came up"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Client:
    """One HTTP/1.1 connection from ``source`` (a loopback address) to the server on ``port``."""

    port: int
    source: str = "127.0.0.1"
    origin: str = ""  # the site's origin, sent with each post as a browser would
    cookies: dict[str, str] = field(default_factory=dict)
    hidden: dict[str, dict[str, str]] = field(default_factory=dict)  # by the form's path

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=30, source_address=(self.source, 0)
        )

    def close(self) -> None:
        self.connection.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.connection.request(method, path, body, sent)
        answer = self.connection.getresponse()
        data = answer.read()
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key.strip()] = rest.split(";", 1)[0]
        return Answer(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)

    def form(
        self,
        path: str,
        fields: dict[str, str],
        forwarded: str | None = None,
        method: str = "POST",
    ) -> Answer:
        """Post ``fields`` to the form at ``path`` (with ``X-Forwarded-For: forwarded``), with
        whatever hidden fields its page carries besides (read once per path)."""
        if path not in self.hidden:
            self.hidden[path] = dict(HIDDEN_INPUT.findall(self.request("GET", path).text))
        body = urlencode({**self.hidden[path], **fields}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.origin:
            headers["Origin"] = self.origin
        if forwarded is not None:
            headers["X-Forwarded-For"] = forwarded
        return self.request(method, path, body, headers)

    def subscribe(
        self, email: str, forwarded: str | None = None, method: str = "POST", **fields: str
    ) -> Answer:
        """Post the subscribe form for ``email``."""
        return self.form("/subscribe", {"email": email, **fields}, forwarded, method)


@contextmanager
def client(port: int, settings: Settings, source: str = "127.0.0.1") -> Iterator[Client]:
    """A :class:`Client` posting as a page of ``settings``' site would."""
    base = urlsplit(settings.site.base_url)
    made = Client(port, source, origin=f"{base.scheme}://{base.netloc}")
    try:
        yield made
    finally:
        made.close()
