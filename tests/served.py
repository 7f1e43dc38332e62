"""The web process on a real socket for synchronous tests: the same uvicorn server and protocol
``publisher serve`` runs (:func:`publisher.cli.service.web_server`), in a thread, and raw HTTP
over a plain socket for what a well-behaved client never sends.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

from publisher.cli.service import web_server
from publisher.config.settings import Settings
from tests.smtpserver import free_port


@contextmanager
def served(settings: Settings, port: int = 0) -> Iterator[tuple[str, int]]:
    """``(base URL without a slash, port)`` of the web app until the block ends."""
    port = port or free_port()
    server = web_server(settings, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server never came up"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(15)


def connect(port: int, timeout: float = 10) -> socket.socket:
    """A plain TCP connection to the server (a loose timeout tells a hang from an answer)."""
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_all(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer."""
    return int(answer.split(b" ", 2)[1])


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request over a fresh connection, as given (no redirects followed, nothing added but
    ``Host`` and, with a body, ``Content-Length``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body, headers or {})
        answer = conn.getresponse()
        return Answer(answer.status, answer.headers, answer.read())
    finally:
        conn.close()


def form(fields: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """A urlencoded form body and its Content-Type."""
    body = urllib.parse.urlencode(fields, doseq=True).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def read_answer(conn: socket.socket) -> bytes:
    """One whole answer (its head and a ``Content-Length`` body) on a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed mid-answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    found = re.search(rb"(?im)^content-length: *(\d+)", head)
    length = int(found.group(1)) if found else 0
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, f"closed mid-body: {data!r}"
        body += chunk
    return head + b"\r\n\r\n" + body
