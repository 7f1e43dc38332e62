"""Commands that run the service: ``serve`` (web), ``worker`` (scheduler + delivery), ``run``
(both in one process) and ``schedule`` (when each job runs next).

SIGTERM and SIGINT stop them gracefully: the web server finishes its requests, the worker's
in-flight sends finish or their claims are released, and nothing is marked sent that was not.
They log to stderr, one line per event (:mod:`publisher.service.logs`); uvicorn's loggers, its
access log among them, go through the same handler.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import click

from publisher.cli.console import Context
from publisher.config.settings import Settings

if TYPE_CHECKING:
    import asyncio

    import uvicorn

    from publisher.service.supervisor import Supervisor
    from publisher.service.worker import Worker

LONG_RUNNING = frozenset({"serve", "worker", "run"})  # their log level defaults to INFO
# The largest request head (request line and headers) read: our routes take short URLs and no
# cookies; h11's own default, set here so that it is a decision.
MAX_HEAD_BYTES = 16 * 1024


def web_server(
    settings: Settings, host: str, port: int, health: Supervisor | None = None
) -> uvicorn.Server:
    """A uvicorn server for the web app that leaves signals and logging to us."""
    import uvicorn

    from publisher.service.guard import HeaderDeadline
    from publisher.service.web import create_app

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # Ours set should_exit; uvicorn's would re-raise SIGTERM at exit and kill the worker.
            yield

    web = settings.web

    class Protocol(HeaderDeadline):
        header_seconds = web.header_timeout

    config = uvicorn.Config(
        create_app(settings, health),
        host=host,
        port=port,
        http=Protocol,
        # uvicorn types it as int; it is a delay for call_later, and fractions work.
        timeout_keep_alive=web.timeout_keep_alive,  # type: ignore[arg-type]
        limit_concurrency=web.limit_concurrency,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        # Off: X-Forwarded-* is believed only from web.trusted_proxies, by the app itself
        # (publisher.store.limits, from the right); uvicorn's own handling would believe it from
        # 127.0.0.1 whatever the setting says, and take the leftmost entry, which clients write.
        proxy_headers=False,
        server_header=False,
        log_config=None,  # its default config prints access lines to stdout, past our handler
        access_log=settings.log.access,
    )
    return Server(config)


def _on_signals(stop: asyncio.Event, server: uvicorn.Server | None = None) -> None:
    import asyncio

    def handle() -> None:
        stop.set()
        if server is not None:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, handle)


def _announce(settings: Settings, host: str, port: int) -> None:
    base = settings.site.base_url
    click.echo(f"site:      http://{host}:{port}/  (canonical {base})")
    click.echo(f"feeds:     http://{host}:{port}/atom.xml  /rss.xml  /feed.json")
    click.echo(f"admin API: http://{host}:{port}/api/status  (Authorization: Bearer …)")
    click.echo(f"console:   http://{host}:{port}/admin/  (`publisher signin` prints the token)")


def listen(command: Callable[..., None]) -> Callable[..., None]:
    """The ``--host`` and ``--port`` options of the commands that serve HTTP."""
    command = click.option("--port", default=8000, show_default=True, help="Port to listen on.")(
        command
    )
    return click.option(
        "--host", default="127.0.0.1", show_default=True, help="Address to listen on."
    )(command)


@click.command("serve")
@listen
@click.pass_obj
def serve_command(obj: Context, host: str, port: int) -> None:
    """The web process: the site, the feeds, the readers' pages and the admin API."""
    import asyncio

    settings = obj.settings()

    async def main() -> None:
        server = web_server(settings, host, port)
        _on_signals(asyncio.Event(), server)
        _announce(settings, host, port)
        await server.serve()

    asyncio.run(main())


@click.command("worker")
@click.pass_obj
def worker_command(obj: Context) -> None:
    """The worker process: publish on changes, open digest issues on schedule, send them."""
    import asyncio

    from publisher.service.worker import Worker

    settings = obj.settings()

    async def main() -> None:
        stop = asyncio.Event()
        worker = Worker(settings)
        _on_signals(stop)
        click.echo("worker: watching content/, scheduling digests, draining the outbox")
        await worker.run(stop)

    asyncio.run(main())


async def serve_and_work(worker: Worker, server: uvicorn.Server, stop: asyncio.Event) -> None:
    """``publisher run``: the web server and the worker on one loop until the server stops.

    The worker runs supervised, and its supervisor is the one the server's ``/healthz`` asks
    (see :func:`web_server`): the site is never served with a worker that silently stopped.
    """
    import asyncio

    keep = worker.supervisor.keep
    working = asyncio.create_task(keep("worker", partial(worker.run, stop), stop))
    try:
        await server.serve()
    finally:
        stop.set()
        await working


@click.command("run")
@listen
@click.pass_obj
def run_command(obj: Context, host: str, port: int) -> None:
    """Web and worker in one process, for a single machine."""
    import asyncio

    from publisher.service.worker import Worker

    settings = obj.settings()

    async def main() -> None:
        stop = asyncio.Event()
        worker = Worker(settings)
        server = web_server(settings, host, port, worker.supervisor)
        _on_signals(stop, server)
        _announce(settings, host, port)
        await serve_and_work(worker, server, stop)

    asyncio.run(main())


@click.command("schedule")
@click.pass_obj
def schedule_command(obj: Context) -> None:
    """The next runs of every job, in the site's time zone."""
    from publisher.service.schedule import jobs, next_runs

    settings = obj.settings()
    runs = next_runs(settings, datetime.now(UTC))
    for job in jobs(settings):
        when = ", ".join(f"{t:%a %Y-%m-%d %H:%M %Z}" for t in runs[job.id]) or "never"
        click.echo(f"{job.id:<20} {job.description}: {when}")


@click.command("signin")
@listen
@click.pass_obj
def signin_command(obj: Context, host: str, port: int) -> None:
    """How to sign in to the operator's console. With no PUBLISHER_ADMIN_TOKEN, a token is
    made once for this machine and kept in var/admin-token (owner-only, never in config/)."""
    import secrets

    settings = obj.settings()
    where = settings.local_token_path
    token = settings.web.admin_token
    if not token:
        where.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        with open(where, "x", encoding="utf-8", opener=_owner_only) as out:
            out.write(token + "\n")
        click.echo(f"made an admin token for this machine: {where}")
    click.echo(f"console: http://{host}:{port}/admin/")
    click.echo(f"token:   {token}")


def _owner_only(path: str, flags: int) -> int:
    import os

    return os.open(path, flags, 0o600)


SERVICE_COMMANDS = (serve_command, worker_command, run_command, schedule_command, signin_command)
