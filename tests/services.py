"""The service for tests, on real sockets: ``publisher run`` inside the test's own event loop
(the same worker, web app and uvicorn server, with the supervisor at hand so a test can shorten
its backoff), ``publisher serve`` as a subprocess, and plain HTTP requests.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO

from publisher.cli.service import serve_and_work, web_server
from publisher.config.settings import Settings
from publisher.service.worker import Worker
from tests.conftest import Project, clean_environ
from tests.smtpserver import free_port


@dataclass
class Running:
    base: str
    worker: Worker

    async def get(self, path: str, token: str = "", method: str = "GET") -> tuple[int, bytes]:
        """Status and body of a request over the socket; errors are answers too."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await asyncio.to_thread(fetch, f"{self.base}{path}", headers, method)


def fetch(
    url: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    data: bytes | None = None,
    timeout: float = 10,
) -> tuple[int, bytes]:
    """Status and body of one request; an error status is an answer, a timeout raises."""
    request = urllib.request.Request(url, data, headers or {}, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (loopback)
            return answer.status, bytes(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> float:
    """Wait until ``check()`` holds, for what another process does; the seconds it took."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)
    return time.monotonic() - began


async def until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> float:
    """Wait until ``check()`` holds (something the test does not drive itself); the seconds
    it took."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def fast(worker: Worker) -> Worker:
    """Restarts within a fraction of a second, and well again soon after, for tests."""
    worker.supervisor.backoff = (0.05, 0.2)
    worker.supervisor.steady = 0.5
    return worker


@asynccontextmanager
async def running(settings: Settings, worker: Worker | None = None) -> AsyncIterator[Running]:
    """``publisher run`` on a free port until the block ends."""
    worker = worker or fast(Worker(settings))
    port = free_port()
    server = web_server(settings, "127.0.0.1", port, worker.supervisor)
    stop = asyncio.Event()
    service = asyncio.create_task(serve_and_work(worker, server, stop))
    try:
        while not server.started:
            if service.done():
                service.result()
            await asyncio.sleep(0.02)
        yield Running(f"http://127.0.0.1:{port}", worker)
    finally:
        server.should_exit = True
        await service


def serve(project: Project, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """``publisher serve``; its log goes to a file (a pipe nobody reads fills up and blocks)."""
    command = [sys.executable, "-c", "from publisher.cli.main import main; main()"]
    command += ["--root", str(project.root), "serve", "--port", str(port)]
    environ = clean_environ(project.environ)
    return subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=log)


def wait_until_up(base: str, service: subprocess.Popen[bytes]) -> None:
    """Until ``/healthz`` answers (with any status) or the server exits."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            fetch(f"{base}/healthz", timeout=2)
            return
        except OSError:
            assert service.poll() is None, "the server exited"
            time.sleep(0.1)
    raise AssertionError("the server never came up")
