"""Delivery: claim due messages from the outbox, send them, record what the relay said.

``K`` workers each hold one connection, reused for up to ``messages_per_connection`` messages
and replaced after a 421, a timeout or a dropped connection (aiosmtplib serialises one
conversation per client, so concurrency is connections). Before a worker hands a message's
text to the relay, the message is marked *in flight* — in the same group commit that records the
worker's previous outcome — so after a crash at most one message per worker was sent without
being recorded, and the next sender knows which (it sends those once more, each under the same
Message-ID, and gives up as "possibly delivered" a message whose sender died twice). That
commit runs while the relay answers the message's ``MAIL`` and ``RCPT``: a worker does not
wait for the store between messages, only its text waits for the commit.

A reply that blames the relay (unreachable, refusing the sender: :mod:`publisher.mail.replies`)
pauses the whole outbox: the claims are given back untried, the relay's state is stored for
every sender, and the next drain probes it once (with a backoff) instead of each message
failing on its own. A store that is busy or gone while recording is waited for, never dropped:
no worker dies of it, and the drain always ends. Store calls run on a thread of their own,
except in a drain that has the loop to itself on SQLite (``publisher drain``), where the
hand-offs between threads would cost CPU the sender is short of. Where messages go is
:mod:`publisher.mail.transports`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from publisher.config.settings import Settings
from publisher.errors import StoreError
from publisher.mail.messages import Letter, letter_for, links_for
from publisher.mail.policy import DrainReport, decide, paused, relay_line
from publisher.mail.replies import DeliveryError
from publisher.mail.transports import Connection, Transport, Withdrawn
from publisher.models import Claim, Outcome, RelayState
from publisher.store.outbox import Outbox

T = TypeVar("T")
log = logging.getLogger("publisher.sender")
# While fewer than half of the workers wait for their outcome, the recorder waits this long for
# more before it commits: against a fast relay, about 2.5 times fewer commits (and some 10 % less
# CPU a message), for a delay that a real relay's round trips dwarf.
GATHER_SECONDS = 0.002
# Seconds a busy or gone store is waited for: briefly before anything is sent (the drain gives
# up, and the next one tries again), for as long as the lease holds once messages are out.
PATIENCE = 2.0
Clock = Callable[[], datetime]
Progress = Callable[[int, int], None]
Commit = tuple[list[Outcome], Claim | None, "asyncio.Future[bool]"]


def utcnow() -> datetime:
    """The real clock; tests pass their own."""
    return datetime.now(UTC)


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
        self.settled = 0  # deliveries with an outcome in this drain
        self.again: dict[int, Outcome] = {}  # the outcome of each one queued again, for now
        self.pending: list[Commit] = []
        self.wake = asyncio.Event()
        self.recorded = asyncio.Event()
        self.paused: RelayState | None = None  # the relay this drain found to blame
        self._pausing = asyncio.Lock()
        self.enough = max(1, self.smtp.connections // 2)
        self._db = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        self.inline = outbox.engine.dialect.name == "sqlite" if inline is None else inline
        lease_bound = int(self.smtp.rate * self.smtp.lease_seconds / 4) if self.smtp.rate else 256
        self.batch = max(self.smtp.connections, min(256, lease_bound))

    # -- the store, waited for ------------------------------------------------------------------

    async def _store(self, call: Callable[..., T], *args: Any) -> T:
        """Run a store call: on the loop for SQLite, on the store's thread otherwise."""
        if self.inline:
            return call(*args)
        return await asyncio.get_running_loop().run_in_executor(self._db, call, *args)

    async def _patient(self, patience: float, call: Callable[..., T], *args: Any) -> T:
        """A store call retried while the store is busy or gone, for up to ``patience`` s.

        :raises StoreError: when it still fails after that.
        """
        loop = asyncio.get_running_loop()
        deadline, wait, warned = loop.time() + patience, 0.05, False
        while True:
            try:
                return await self._store(call, *args)
            except StoreError as exc:
                if loop.time() + wait > deadline:
                    raise
                if not warned:
                    log.warning("the store does not answer, waiting for it: %s", exc)
                    warned = True
                await asyncio.sleep(wait)
                wait = min(wait * 2, 1.0)

    # -- a drain ------------------------------------------------------------------------------

    async def drain(self, stop: asyncio.Event | None = None) -> DrainReport:
        """Send every delivery that is due now; return when none is left, when the relay is to
        blame, or when ``stop`` is set (in-flight messages finish and are recorded; the rest
        is given back). Deliveries queued for a later retry stay queued for the next drain.
        """
        stop = stop or asyncio.Event()
        started = asyncio.get_running_loop().time()
        try:
            name = self.transport.description
            relay = await self._patient(PATIENCE, self.outbox.deliveries.relay, name)
            if relay.paused and not (relay := await self._probe(relay)).paused:
                relay = RelayState(relay.relay)
            if relay.paused:
                self.report.relay = relay
            else:
                await self._send_due(stop)
            waiting, until = await self._patient(
                PATIENCE, self.outbox.deliveries.leases, self.clock()
            )
            self.report.waiting, self.report.waiting_until = waiting, until
        except StoreError as exc:  # the caller reports it (one line a round in the worker)
            self.report.error = str(exc)
        finally:
            self._db.shutdown(wait=True)
        self.report.relay = self.report.relay or self.paused
        self.report.stopped = stop.is_set()
        self.report.seconds = asyncio.get_running_loop().time() - started
        return self.report

    async def _send_due(self, stop: asyncio.Event) -> None:
        counts = await self._patient(PATIENCE, self.outbox.deliveries.counts)
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
            await self._patient(PATIENCE, self.outbox.deliveries.release, leftover, self.clock())
            recorder.cancel()

    async def _probe(self, relay: RelayState) -> RelayState:
        """Try a paused relay once, when its probe is due; its state afterwards."""
        now = self.clock()
        if relay.probe_at is not None and now < relay.probe_at:
            return relay
        try:
            said = await self.transport.probe(self.settings.mail.from_address)
        except DeliveryError as exc:
            if not exc.verdict.pauses:  # e.g. a reply about nobody in particular: try sending
                return RelayState(relay.relay)
            state = paused(relay, exc, now, self.smtp.probe_seconds)
            await self._patient(PATIENCE, self.outbox.deliveries.set_relay, state)
            log.warning("relay still not taking mail: %s", relay_line(state, self.settings.zone))
            return state
        up = RelayState(relay.relay, "up", now, said)
        await self._patient(PATIENCE, self.outbox.deliveries.set_relay, up)
        log.info("relay %s takes mail again: %s", relay.relay, said)
        return up

    async def _pause(self, error: DeliveryError) -> None:
        """The relay is to blame: stop claiming, store its state for every sender, say it once."""
        async with self._pausing:
            if self.paused is not None:
                return
            name = self.transport.description
            self.paused = RelayState(name, "down")  # other workers stop at once
            now = self.clock()
            current = await self._patient(PATIENCE, self.outbox.deliveries.relay, name)
            self.paused = paused(current, error, now, self.smtp.probe_seconds)
            await self._patient(PATIENCE, self.outbox.deliveries.set_relay, self.paused)
            log.warning("sending paused: %s", relay_line(self.paused, self.settings.zone))

    async def _feed(self, queue: asyncio.Queue[Claim | None], stop: asyncio.Event, n: int) -> None:
        lease = timedelta(seconds=self.smtp.lease_seconds)
        most = max(1, self.smtp.resend_possibly_delivered)
        while not stop.is_set() and self.paused is None:
            claims = await self._patient(
                PATIENCE, self.outbox.deliveries.claim, self.clock(), lease, self.batch, most
            )
            if not claims:
                if not self.unrecorded:
                    break
                # Messages still in flight may come back due at once (a retry without delay).
                self.recorded.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.recorded.wait(), 0.5)
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
                    issue = await self._patient(PATIENCE, self.outbox.issues.get, issue_id)
                    letter = letter_for(self.settings, issue, self.links)
                    self.letters[issue_id] = letter
        return letter

    # -- a worker: one connection -------------------------------------------------------------

    async def _worker(self, queue: asyncio.Queue[Claim | None], stop: asyncio.Event) -> None:
        """Take a claim, commit the last outcome and this claim's start together while its
        envelope goes, send its text once that commit is in."""
        connection: Connection | None = None
        used, last = 0, list[Outcome]()
        try:
            while True:
                try:
                    claim = queue.get_nowait()
                except asyncio.QueueEmpty:
                    if last:  # nothing to start yet: the last outcome does not wait for it
                        await self._commit(last, None)
                        last = []
                    claim = await queue.get()
                if claim is None:
                    break
                if asyncio.get_running_loop().time() > self.deadlines.pop(claim.id):
                    self.unrecorded -= 1  # left for whoever claims it next
                    continue
                if stop.is_set() or self.paused is not None:
                    await self._commit([*last, self._held(claim, stop)], None)
                    last = []
                    continue
                cleared = self._recording(last, claim)
                last = []
                outcome, connection, used = await self._send(claim, connection, used, cleared)
                if outcome is None or not await cleared:  # no longer this sender's to send
                    self.unrecorded -= 1
                    continue
                last = [outcome]
        except StoreError as exc:  # the store was gone for longer than a lease: stop here
            self.report.error = str(exc)
            log.error("a sender stopped: outcomes could not be recorded: %s", exc)
        finally:
            if last and not self.report.error:
                await self._commit(last, None)
            if connection is not None:
                await connection.close()

    def _held(self, claim: Claim, stop: asyncio.Event) -> Outcome:
        """A claim given back untried: the sender stops, or the relay is to blame."""
        why = "given back: the sender stopped" if stop.is_set() else "waiting for the relay"
        key = (claim.id, claim.subscriber.id, claim.issue_id)
        return Outcome(*key, "queued", why, claim.lease, self.clock(), tried=False)

    async def _send(
        self,
        claim: Claim,
        connection: Connection | None,
        used: int,
        cleared: asyncio.Future[bool],
    ) -> tuple[Outcome | None, Connection | None, int]:
        """Hand one message over, its text once ``cleared``; what became of it (``None``:
        withdrawn, nothing sent), and the connection to go on with."""
        letter = await self._letter(claim.issue_id)
        key, message = letter.message(claim.subscriber)
        await self.limit.wait()
        error: DeliveryError | None = None
        try:
            if connection is None:
                connection, used = await self.transport.connect(), 0
            await connection.send(
                self.settings.mail.from_address, claim.subscriber.address, message, key, cleared
            )
            used += 1
        except DeliveryError as exc:
            error = exc
        except Withdrawn:
            if connection is not None:
                await connection.close()
            return None, None, 0
        if error is not None and error.verdict.pauses:
            await self._pause(error)
        spent = used >= self.smtp.messages_per_connection
        broken = error is not None and (error.reconnect or error.verdict.pauses)
        if connection is not None and (spent or broken):
            await connection.close()
            connection = None
        return decide(claim, error, self.clock(), self.smtp), connection, used

    # -- the recorder: group commits ----------------------------------------------------------

    async def _commit(self, outcomes: list[Outcome], start: Claim | None) -> bool:
        """Hand outcomes (and a claim about to be sent) to the recorder and wait until they
        are committed; whether ``start`` is still this sender's to send."""
        if not outcomes and start is None:
            return False
        return await self._recording(outcomes, start)

    def _recording(self, outcomes: list[Outcome], start: Claim | None) -> asyncio.Future[bool]:
        """Hand outcomes (and a claim about to be sent) to the recorder; resolves once they are
        committed, to whether ``start`` is still this sender's to send."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((outcomes, start, done))
        self.wake.set()
        return done

    async def _recorder(self) -> None:
        """Commit in groups: whatever arrived while the last commit ran, and for a moment
        (:data:`GATHER_SECONDS`) longer while that is less than half of the workers. A store
        that does not answer is waited for as long as the claims' lease holds."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            if 0 < len(self.pending) < self.enough:
                await asyncio.sleep(GATHER_SECONDS)
            batch, self.pending = self.pending, []
            if not batch:
                continue
            outcomes = [outcome for group, _start, _done in batch for outcome in group]
            starts = [start for _group, start, _done in batch if start is not None]
            try:
                marked = await self._patient(
                    self.smtp.lease_seconds,
                    self.outbox.deliveries.commit,
                    outcomes,
                    starts,
                    self.clock(),
                    self.smtp.bounce_after,
                )
            except StoreError as exc:
                for _group, _start, done in batch:
                    done.set_exception(exc)
                continue
            self.unrecorded -= len(outcomes)
            for outcome in outcomes:
                self._count(outcome)
            for _group, start, done in batch:
                done.set_result(start is not None and start.id in marked)
            self.recorded.set()
            if self.progress is not None:
                self.progress(self.settled, max(self.total, self.settled))

    def _count(self, outcome: Outcome) -> None:
        """Count a delivery where it ended up. Only one queued again (a retry, or given back)
        can come back in the same drain, so only those outcomes are kept, to be taken back
        then: memory follows the deliveries retrying, not the issue's audience."""
        earlier = self.again.pop(outcome.id, None)
        if earlier is None:
            self.settled += 1
        else:
            self.report.remove(earlier)
        if outcome.state == "queued":
            self.again[outcome.id] = outcome
        self.report.add(outcome)
