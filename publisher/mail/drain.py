"""A drain as one synchronous call, the way ``publisher drain`` and ``publisher digest`` (and the
benchmark) run it: SIGINT and SIGTERM stop it gracefully instead of killing it mid-message.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from publisher.config.settings import Settings
from publisher.mail.policy import DrainReport
from publisher.mail.sender import Clock, Progress, Sender, utcnow
from publisher.mail.transports import Transport, transport_for
from publisher.store.outbox import Outbox

log = logging.getLogger("publisher.sender")


def drain(
    settings: Settings,
    outbox: Outbox,
    transport: Transport | None = None,
    clock: Clock = utcnow,
    progress: Progress | None = None,
) -> DrainReport:
    """Send what is due, from synchronous code (the CLI). SIGINT and SIGTERM stop it gracefully:
    no new claims, the messages in flight finish and are recorded, the rest are given back;
    the report's ``signal`` says which stopped it."""

    async def run() -> DrainReport:
        stop, caught = asyncio.Event(), list[int]()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, _stopping, stop, caught, signum)
            except (RuntimeError, ValueError, NotImplementedError):  # not the main thread
                continue
        sender = Sender(outbox, transport or transport_for(settings), settings, clock, progress)
        try:
            report = await sender.drain(stop)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        report.signal = caught[0] if caught else 0
        return report

    return asyncio.run(run())


def _stopping(stop: asyncio.Event, caught: list[int], signum: int) -> None:
    name = signal.Signals(signum).name
    log.warning("%s: finishing the messages under way, giving the rest back", name)
    caught.append(signum)
    stop.set()
