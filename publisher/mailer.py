"""Delivery: claim due messages from the outbox, send them, record what the relay said.

``K`` workers each hold one connection, reused for up to ``messages_per_connection`` messages
and replaced after a 421, a timeout or a dropped connection (aiosmtplib serialises one
conversation per client, so concurrency is connections). A worker does not take its next
message until the outcome of the last one is committed: after a crash, at most one message per
worker was sent without being recorded, so a restart sends at most ``K`` duplicates, each with
the same Message-ID. Store calls run on a thread of their own, so sockets keep moving while a
query crosses the network or waits for a lock; a drain that has the loop to itself on SQLite
(``publisher drain``) runs them on the loop instead, saving the hand-offs between threads that
cost CPU the sender is short of. Where messages go is :mod:`publisher.transports`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from publisher.compose import Letter, Links
from publisher.config import Settings, SmtpSettings
from publisher.models import Claim, Issue, Outcome
from publisher.outbox import Outbox
from publisher.replies import DeliveryError, Verdict
from publisher.transports import Connection, Transport, transport_for

T = TypeVar("T")
MAX_BACKOFF = timedelta(hours=6)
# While fewer than half of the workers wait for their outcome, the recorder waits this long for
# more before it commits: against a fast relay, about 2.5 times fewer commits (and some 10 % less
# CPU a message), for a delay that a real relay's round trips dwarf.
GATHER_SECONDS = 0.002
Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]


def utcnow() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


def links_for(settings: Settings) -> Links:
    """Where subscribers' links point."""
    return Links(settings.site.base_url, settings.mail.from_address)


def letter_for(settings: Settings, issue: Issue, links: Links | None = None) -> Letter:
    """The issue compiled for sending, from the configured sender."""
    name = settings.mail.from_name or settings.site.title
    return Letter(issue, name, settings.mail.from_address, links or links_for(settings))


def decide(claim: Claim, error: DeliveryError | None, now: datetime, smtp: SmtpSettings) -> Outcome:
    """The retry policy: sent; failed for good on a 5xx or after ``max_attempts``; otherwise
    queued again after an exponential backoff.
    """
    who, lease = claim.subscriber.id, claim.lease
    if error is None:
        return Outcome(claim.id, who, "sent", "", lease)
    if error.verdict in (Verdict.BOUNCE, Verdict.FAIL):
        return Outcome(claim.id, who, "failed", str(error), lease, permanent=True)
    if claim.attempts >= smtp.max_attempts:
        reply = f"gave up after {claim.attempts} tries: {error}"
        return Outcome(claim.id, who, "failed", reply, lease)
    delay = min(timedelta(seconds=smtp.retry_seconds * 2 ** (claim.attempts - 1)), MAX_BACKOFF)
    return Outcome(claim.id, who, "queued", str(error), lease, next_attempt=now + delay)


class RateLimit:
    """At most ``rate`` messages a second across all workers (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1 / rate if rate > 0 else 0.0
        self.next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = asyncio.get_running_loop().time()
        at = max(now, self.next)
        self.next = at + self.interval
        if at > now:
            await asyncio.sleep(at - now)


@dataclass
class DrainReport:
    """What one drain did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.sent + self.retrying + self.failed


class Sender:
    """Drains the outbox through a transport."""

    def __init__(
        self,
        outbox: Outbox,
        transport: Transport,
        settings: Settings,
        clock: Clock = utcnow,
        progress: Progress | None = None,
        inline: bool | None = None,
    ) -> None:
        """``inline``: store calls on the event loop (default: for SQLite). A loop that serves
        other work too (the worker's) passes ``False``: a write may wait for a publish."""
        self.outbox, self.transport, self.settings = outbox, transport, settings
        self.smtp = settings.smtp
        self.clock, self.progress = clock, progress
        self.links = links_for(settings)
        self.letters: dict[int, Letter] = {}
        self._compiling = asyncio.Lock()  # one worker loads and compiles an issue, not all
        self.limit = RateLimit(self.smtp.rate)
        self.report = DrainReport()
        self.total = 0
        self.unrecorded = 0  # claimed and not yet recorded (or released)
        self.deadlines: dict[int, float] = {}  # claim id → loop time its lease runs short
        self.pending: list[tuple[Outcome, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()
        self.enough = max(1, self.smtp.connections // 2)
        self._db = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        self.inline = outbox.engine.dialect.name == "sqlite" if inline is None else inline
        lease_bound = int(self.smtp.rate * self.smtp.lease_seconds / 4) if self.smtp.rate else 256
        self.batch = max(self.smtp.connections, min(256, lease_bound))

    async def _store(self, call: Callable[..., T], *args: Any) -> T:
        """Run a store call: on the loop for SQLite, on the store's thread otherwise."""
        if self.inline:
            return call(*args)
        return await asyncio.get_running_loop().run_in_executor(self._db, call, *args)

    async def drain(self, stop: asyncio.Event | None = None) -> DrainReport:
        """Send every delivery that is due now; return when none is left or ``stop`` is set.

        Deliveries queued for a later retry stay queued for the next drain.
        """
        stop = stop or asyncio.Event()
        started = asyncio.get_running_loop().time()
        counts = await self._store(self.outbox.counts)
        self.total = counts["queued"] + counts["sending"]
        queue: asyncio.Queue[Claim | None] = asyncio.Queue(self.batch)
        recorder = asyncio.create_task(self._recorder())
        workers = [
            asyncio.create_task(self._worker(queue, stop)) for _ in range(self.smtp.connections)
        ]
        try:
            await self._feed(queue, stop, len(workers))
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            leftover = []
            while not queue.empty():
                item = queue.get_nowait()
                if item is not None:
                    leftover.append(item.id)
            await self._store(self.outbox.release, leftover, self.clock())
            recorder.cancel()
            self._db.shutdown(wait=True)
        self.report.seconds = asyncio.get_running_loop().time() - started
        return self.report

    async def _feed(self, queue: asyncio.Queue[Claim | None], stop: asyncio.Event, n: int) -> None:
        lease = timedelta(seconds=self.smtp.lease_seconds)
        while not stop.is_set():
            claims = await self._store(self.outbox.claim, self.clock(), lease, self.batch)
            if not claims:
                if not self.unrecorded:
                    break
                # Messages still in flight may come back due at once (a retry without delay).
                await asyncio.sleep(0.02)
                continue
            self.unrecorded += len(claims)
            # Past 80 % of its lease a claim is not sent: another sender may take it over.
            deadline = asyncio.get_running_loop().time() + 0.8 * self.smtp.lease_seconds
            for claim in claims:
                self.deadlines[claim.id] = deadline
                await queue.put(claim)
        for _ in range(n):
            await queue.put(None)

    async def _letter(self, issue_id: int) -> Letter:
        letter = self.letters.get(issue_id)
        if letter is None:
            async with self._compiling:
                letter = self.letters.get(issue_id)
                if letter is None:
                    issue = await self._store(self.outbox.issue, issue_id)
                    letter = letter_for(self.settings, issue, self.links)
                    self.letters[issue_id] = letter
        return letter

    async def _worker(self, queue: asyncio.Queue[Claim | None], stop: asyncio.Event) -> None:
        connection: Connection | None = None
        used = 0
        try:
            while (claim := await queue.get()) is not None:
                expired = asyncio.get_running_loop().time() > self.deadlines.pop(claim.id)
                if stop.is_set() or expired:
                    if not expired:  # an expired one is left for whoever claims it next
                        await self._store(self.outbox.release, [claim.id], self.clock())
                    self.unrecorded -= 1
                    continue
                letter = await self._letter(claim.issue_id)
                key, message = letter.message(claim.subscriber)
                await self.limit.wait()
                error: DeliveryError | None = None
                try:
                    if connection is None:
                        connection, used = await self.transport.connect(), 0
                    await connection.send(
                        self.settings.mail.from_address, claim.subscriber.address, message, key
                    )
                    used += 1
                except DeliveryError as exc:
                    error = exc
                if connection is not None and (
                    used >= self.smtp.messages_per_connection or (error and error.reconnect)
                ):
                    await connection.close()
                    connection = None
                await self._record(decide(claim, error, self.clock(), self.smtp))
        finally:
            if connection is not None:
                await connection.close()

    async def _record(self, outcome: Outcome) -> None:
        """Hand the outcome to the recorder and wait until it is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((outcome, done))
        self.wake.set()
        await done

    async def _recorder(self) -> None:
        """Commit outcomes in groups: whatever finished while the last commit ran, and for a
        moment (:data:`GATHER_SECONDS`) longer while that is less than half of the workers.
        """
        while True:
            await self.wake.wait()
            self.wake.clear()
            if 0 < len(self.pending) < self.enough:
                await asyncio.sleep(GATHER_SECONDS)
            batch, self.pending = self.pending, []
            if not batch:
                continue
            outcomes = [outcome for outcome, _ in batch]
            try:
                await self._store(
                    self.outbox.record, outcomes, self.clock(), self.smtp.bounce_after
                )
            except Exception as exc:  # the store is gone: every waiting worker stops with it
                for _, done in batch:
                    done.set_exception(exc)
                continue
            self.unrecorded -= len(batch)
            for outcome, done in batch:
                self._count(outcome)
                done.set_result(None)
            if self.progress is not None:
                self.progress(self.report.done, max(self.total, self.report.done))

    def _count(self, outcome: Outcome) -> None:
        report = self.report
        if outcome.state == "sent":
            report.sent += 1
        elif outcome.state == "queued":
            report.retrying += 1
        else:
            report.failed += 1
            if len(report.failures) < 20:
                report.failures.append(outcome.reply)


def drain(
    settings: Settings,
    outbox: Outbox,
    transport: Transport | None = None,
    clock: Clock = utcnow,
    progress: Progress | None = None,
) -> DrainReport:
    """Send what is due, from synchronous code (the CLI)."""

    async def run() -> DrainReport:
        sender = Sender(outbox, transport or transport_for(settings), settings, clock, progress)
        return await sender.drain()

    return asyncio.run(run())
