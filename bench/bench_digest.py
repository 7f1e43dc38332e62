"""Benchmark of digest sending: one issue to 10,000 and 100,000 subscribers over SMTP.

What it measures, for each audience size N, against Postfix's ``smtp-sink`` on 127.0.0.1 (a
relay that accepts everything and keeps nothing, so the figures are the sender's own):

- ``drain``: :func:`publisher.mail.drain.drain` sending one ``weekly`` issue to N subscribers
  from a fresh SQLite store, with ``smtp.connections`` reused connections: messages per second, peak
  RSS of the process, and CPU seconds per 1,000 messages;
- ``naive``: the obvious sender, on a sample: per subscriber the two templates rendered with
  Jinja2 (CSS inlined, as the issue's HTML part is), an :class:`email.message.EmailMessage`
  built with both parts, and a new ``aiosmtplib.send`` connection per message, one at a time;
- ``raw``: the ceiling: one message prepared once (:meth:`publisher.mail.messages.Letter.bytes_for`)
  sent by as many ``aiosmtplib`` clients as the drain has connections, each looping over
  ``sendmail`` on one connection: no store, no rendering, no bookkeeping.

Each of the three runs in a process of its own (this script, re-run with ``--child``), so the
setup of a 100,000-subscriber store does not count in the drain's memory; peak RSS is that
process's ``VmHWM`` (its own high-water mark, imports included). CPU is the process's CPU
time (every thread) across the drain only.

Setup, not measured: a project root with a copy of ``config/`` and ``content/`` plus one
generated article (so a message is about 20 KB), published into a fresh SQLite store; N
subscribers inserted directly with ``executemany``; the issue opened with
:func:`publisher.mail.issues.open_issue`. Standard library only, besides the project and its
dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pwd
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "bench"))
from bench_publish import ArticleMeta, Corpus, int_list, log, markdown_text  # noqa: E402

DEFAULT_OUT = PROJECT / "bench" / "results" / "digest.json"
DEFAULT_WORKDIR = PROJECT / "bench" / "results" / "work"
DIGEST = "weekly"  # full_text = true: whole articles in both parts
EXTRA_BODY_BYTES = 700  # one generated article this long brings a message to about 20 KB
CHILD_TIMEOUT_S = 600

TARGETS = {
    "messages_per_s": 2000.0,
    "vs_naive": 3.0,
    "of_raw": 0.75,
    "peak_rss_mb": 200.0,
    "rss_at_n": 100_000,
}


# -- setup (in this process; not measured) ---------------------------------------------------


def make_root(parent: Path, seed: int) -> Path:
    """A project root: the project's config/ and content/, plus one generated article."""
    root = parent / "root"
    shutil.copytree(PROJECT / "config", root / "config")
    shutil.copytree(PROJECT / "content", root / "content")
    corpus = Corpus(seed)
    rng = random.Random(f"{seed}:digest")
    meta = ArticleMeta.draw(rng, 0, "The Patient Harbour Counts Again, a Benchmark Story", True)
    body: list[str] = []
    while sum(len(p) + 2 for p in body) < EXTRA_BODY_BYTES:
        body.append(" ".join(rng.choices(corpus.sentences, k=4)))
    (root / "content" / f"{meta.slug}.md").write_text(markdown_text(meta, body), encoding="utf-8")
    return root


def base_env(database: Path, port: int, connections: int) -> dict[str, str]:
    """The caller's environment with the store and the relay of this benchmark."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.pop("DATABASE_URL", None)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{database}",
            "PUBLISHER_CONTENT__SETTLE_SECONDS": "0",
            "PUBLISHER_SMTP__HOST": "127.0.0.1",
            "PUBLISHER_SMTP__PORT": str(port),
            "PUBLISHER_SMTP__SECURITY": "plain",
            "PUBLISHER_SMTP__CONNECTIONS": str(connections),
        }
    )
    return env


def prepare(root: Path, env: dict[str, str], n: int, seed: int) -> dict[str, Any]:
    """Publish the content, add N subscribers of the digest, open one issue; what was made."""
    import base64

    from sqlalchemy import insert

    from publisher.config.loading import load_settings
    from publisher.mail.issues import find_digest, open_issue
    from publisher.mail.messages import letter_for
    from publisher.site.publish import publish
    from publisher.site.render import environment_for
    from publisher.store.outbox import Outbox
    from publisher.store.publishing import Store
    from publisher.store.schema import subscribers, subscriptions

    settings = load_settings(root, env)
    now = datetime.now(UTC)
    publish(settings, now)
    rng = random.Random(f"{seed}:subscribers")
    store = Store.open(settings.database_url)
    try:
        people = []
        for i in range(1, n + 1):
            address = f"reader{i:06d}@example.org"
            secret = base64.urlsafe_b64encode(rng.randbytes(24)).decode()
            people.append(
                {
                    "id": i,
                    "address": address,
                    "address_key": address,
                    "status": "active",
                    "secret": secret,
                    "bounces": 0,
                    "created": now,
                    "updated": now,
                }
            )
        with store.engine.begin() as conn:
            conn.execute(insert(subscribers), people)
            conn.execute(
                insert(subscriptions),
                [{"subscriber_id": i, "digest": DIGEST} for i in range(1, n + 1)],
            )
        del people
        outbox = Outbox(store.engine)
        digest = find_digest(settings, DIGEST)
        opened = open_issue(settings, outbox, environment_for(settings), digest, now)
        issue = opened.issue
        if issue is None:
            raise RuntimeError(f"no issue opened: {opened.reason}")
        sample = outbox.subscribers.get(1)
        assert sample is not None
        message = letter_for(settings, issue).bytes_for(sample)
        return {
            "issue": issue.id,
            "recipients": issue.recipients,
            "articles": len(opened.plan.articles),
            "message_bytes": len(message),
        }
    finally:
        store.close()


# -- the relay ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on now, on the loopback address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Sink:
    """``smtp-sink`` on 127.0.0.1, started and stopped by its PID."""

    def __init__(self, program: str) -> None:
        self.port = free_port()
        user = pwd.getpwuid(os.geteuid()).pw_name
        # -u is required when started as root; 256 connections at most, backlog 1000.
        command = [program, "-u", user, "-m", "256", f"127.0.0.1:{self.port}", "1000"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    if probe.recv(100).startswith(b"220"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"smtp-sink did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, 15)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, 9)
                self.process.wait()


# -- the measured processes ------------------------------------------------------------------


def child_drain(root: Path, _args: argparse.Namespace) -> dict[str, Any]:
    """Send everything due through the configured relay, as ``publisher drain`` does."""
    from publisher.config.loading import load_settings
    from publisher.mail.drain import drain
    from publisher.mail.transports import transport_for
    from publisher.store.outbox import Outbox
    from publisher.store.publishing import Store

    settings = load_settings(root, os.environ)
    store = Store.open(settings.database_url)
    outbox = Outbox(store.engine)
    transport = transport_for(settings)
    rss_before = peak_rss_kib()
    cpu, wall = time.process_time(), time.perf_counter()
    report = drain(settings, outbox, transport)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    counts = outbox.deliveries.counts()
    store.close()
    return {
        "messages": report.done,
        "sent": report.sent,
        "failed": report.failed,
        "retrying": report.retrying,
        "failures": report.failures[:3],
        "left": counts["queued"] + counts["sending"],
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_drain_kib": rss_before,
    }


def _issue_and_readers(root: Path, count: int) -> tuple[Any, Any, list[Any], list[Any]]:
    """Settings, the issue, its articles and the first ``count`` subscribers from the store."""
    from sqlalchemy import func, select

    from publisher.config.loading import load_settings
    from publisher.store.outbox import Outbox
    from publisher.store.publishing import Store
    from publisher.store.schema import carried, issues

    settings = load_settings(root, os.environ)
    store = Store.open(settings.database_url)
    try:
        outbox = Outbox(store.engine)
        with store.engine.connect() as conn:
            issue_id = conn.execute(select(func.max(issues.c.id))).scalar_one()
            query = select(carried.c.article_uid).where(carried.c.issue_id == issue_id)
            uids = list(conn.execute(query).scalars())
        issue = outbox.issues.get(issue_id)
        articles = outbox.issues.articles(uids)
        readers = []
        for subscriber in outbox.subscribers.each("active"):
            readers.append(subscriber)
            if len(readers) >= count:
                break
        return settings, issue, articles, readers
    finally:
        store.close()


def child_naive(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Render, build and send each message on its own connection, one after another."""
    from email.message import EmailMessage
    from email.utils import format_datetime

    import aiosmtplib

    from publisher.mail.drafts import _inliner, _item
    from publisher.mail.issues import find_digest
    from publisher.mail.messages import links_for
    from publisher.mail.tokens import message_id
    from publisher.site.render import environment_for, render

    settings, issue, articles, readers = _issue_and_readers(root, args.naive_sample)
    env = environment_for(settings)
    digest = find_digest(settings, DIGEST)
    links = links_for(settings)
    items = [_item(a, settings.site.base_url, digest.full_text) for a in articles]  # once: generous
    smtp, mail = settings.smtp, settings.mail
    domain = mail.from_address.rpartition("@")[2]
    sender = f"{mail.from_name or settings.site.title} <{mail.from_address}>"
    sizes: list[int] = []

    async def run() -> None:
        for reader in readers:
            personal = {
                "address": reader.address,
                "unsubscribe": links.url("unsubscribe", reader),
                "manage": links.url("manage", reader),
            }
            context = {
                "site": settings.site,
                "mail": mail,
                "digest": digest,
                "items": items,
                "links": personal,
                "subject": issue.subject,
                "opened": issue.opened,
                "full_text": digest.full_text,
            }
            html = _inliner().inline(render(env, "email/digest.html", **context))
            text = render(env, "email/digest.txt", **context)
            message = EmailMessage()
            message["From"] = sender
            message["To"] = reader.address
            message["Subject"] = issue.subject
            message["Date"] = format_datetime(issue.opened)
            message["Message-ID"] = message_id(issue.id, reader, domain)
            message["List-Unsubscribe"] = f"<{personal['unsubscribe']}>, <{links.mailto(reader)}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            message.set_content(text)
            message.add_alternative(html, subtype="html")
            if not sizes:
                sizes.append(len(message.as_bytes()))
            await aiosmtplib.send(
                message,
                hostname=smtp.host,
                port=smtp.port,
                local_hostname=domain,
                use_tls=False,
                start_tls=False,
                timeout=smtp.timeout,
            )

    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"messages": len(readers), "wall_s": wall, "cpu_s": cpu, "message_bytes": sizes[0]}


def child_raw(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One prepared message sent over reused connections as fast as they go."""
    import aiosmtplib

    from publisher.mail.messages import letter_for

    settings, issue, _articles, readers = _issue_and_readers(root, 1)
    message = letter_for(settings, issue).bytes_for(readers[0])
    smtp, sender = settings.smtp, settings.mail.from_address
    domain = sender.rpartition("@")[2]
    total = args.raw_messages
    left = [total]

    async def client() -> None:
        smtp_client = aiosmtplib.SMTP(
            hostname=smtp.host, port=smtp.port, local_hostname=domain, timeout=smtp.timeout
        )
        await smtp_client.connect()
        try:
            while left[0] > 0:
                left[0] -= 1
                await smtp_client.sendmail(sender, [readers[0].address], message)
        finally:
            await smtp_client.quit()

    async def run() -> None:
        await asyncio.gather(*(client() for _ in range(smtp.connections)))

    cpu, wall = time.process_time(), time.perf_counter()
    asyncio.run(run())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"messages": total, "wall_s": wall, "cpu_s": cpu, "message_bytes": len(message)}


def peak_rss_kib() -> int:
    """This process's peak resident set (``VmHWM``), in KiB.

    Not ``ru_maxrss``: Linux carries that over ``exec`` from the forking parent, so a child of
    a process holding a 100,000-subscriber setup would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


CHILDREN = {"drain": child_drain, "naive": child_naive, "raw": child_raw}


@dataclass(frozen=True)
class Run:
    """One finished child: what it reported, and its peak RSS."""

    kind: str
    messages: int
    wall_s: float
    cpu_s: float
    max_rss_kib: int
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s if self.wall_s else 0.0


def run_child(kind: str, root: Path, env: dict[str, str], args: argparse.Namespace) -> Run:
    """Run one measurement in a process of its own, which reports its figures as JSON."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--root", str(root)]
    command += ["--naive-sample", str(args.naive_sample), "--raw-messages", str(args.raw_messages)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        status = child.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if status != 0:
        raise RuntimeError(f"{kind} failed:\n{stderr.strip()[-2000:]}")
    detail = json.loads(stdout)
    peak = detail["peak_rss_kib"]
    return Run(kind, detail["messages"], detail["wall_s"], detail["cpu_s"], peak, detail)


def requeue(database: Path) -> None:
    """Put every delivery back in the queue, so the next round sends the same issue again."""
    from sqlalchemy import create_engine, update

    from publisher.store.schema import deliveries

    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(
            update(deliveries).values(
                state="queued", attempts=0, lease_until=None, next_attempt=deliveries.c.updated
            )
        )
    engine.dispose()


# -- results ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One audience size: the three runs and the figures derived from them."""

    n: int
    message_bytes: int
    setup_s: float
    drain_messages_per_s: float
    drain_sent: int
    drain_left: int
    peak_rss_mb: float
    rss_before_drain_mb: float
    cpu_s_per_1000: float
    naive_messages_per_s: float
    naive_messages: int
    naive_message_bytes: int
    raw_messages_per_s: float
    raw_messages: int
    raw_cpu_s_per_1000: float
    vs_naive: float
    of_raw: float
    of_raw_rounds: list[float] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    note: str = ""


def bench_size(n: int, parent: Path, port: int, args: argparse.Namespace) -> Result:
    """Set up a store of N subscribers with one open issue, then run the three measurements."""
    root = make_root(parent / f"n-{n}", args.seed)
    env = base_env(root / "var" / "publisher.db", port, args.connections)
    started = time.perf_counter()
    made = prepare(root, env, n, args.seed)
    setup = time.perf_counter() - started
    log(
        f"N={n}: issue of {made['articles']} articles for {made['recipients']} subscribers, "
        f"{made['message_bytes']:,} bytes a message; setup {setup:.1f} s"
    )
    # This machine's speed drifts by a fifth from minute to minute, so the ceiling and the drain
    # run back to back, several times, and the round with the median ratio is reported.
    rounds: list[tuple[Run, Run]] = []
    for number in range(1, args.rounds + 1):
        if number > 1:
            requeue(root / "var" / "publisher.db")
        log(f"N={n}: round {number}: raw ceiling, {args.raw_messages:,} messages ...")
        raw = run_child("raw", root, env, args)
        log(f"N={n}: raw: {raw.rate:,.0f} msg/s; drain ...")
        drained = run_child("drain", root, env, args)
        log(f"N={n}: drain: {drained.rate:,.0f} msg/s, {drained.max_rss_kib / 1024:.0f} MB")
        rounds.append((raw, drained))
    ratios = [d.rate / r.rate if r.rate else 0.0 for r, d in rounds]
    raw, drained = rounds[sorted(range(len(rounds)), key=ratios.__getitem__)[len(rounds) // 2]]
    log(f"N={n}: naive sender, {args.naive_sample} messages ...")
    naive = run_child("naive", root, env, args)
    log(f"N={n}: naive: {naive.rate:,.1f} msg/s")
    detail = drained.detail
    note = ""
    if detail["sent"] != n or detail["left"]:
        note = (
            f"drain sent {detail['sent']} of {n} ({detail['failed']} failed, "
            f"{detail['retrying']} retrying, {detail['left']} left): {detail['failures']}"
        )
    peak = max(d.max_rss_kib for _, d in rounds) / 1024
    result = Result(
        n=n,
        message_bytes=made["message_bytes"],
        setup_s=round(setup, 1),
        drain_messages_per_s=round(drained.rate, 1),
        drain_sent=detail["sent"],
        drain_left=detail["left"],
        peak_rss_mb=round(peak, 1),
        rss_before_drain_mb=round(detail["rss_before_drain_kib"] / 1024, 1),
        cpu_s_per_1000=round(drained.cpu_s / drained.messages * 1000, 3) if drained.messages else 0,
        naive_messages_per_s=round(naive.rate, 1),
        naive_messages=naive.messages,
        naive_message_bytes=naive.detail["message_bytes"],
        raw_messages_per_s=round(raw.rate, 1),
        raw_messages=raw.messages,
        raw_cpu_s_per_1000=round(raw.cpu_s / raw.messages * 1000, 3),
        vs_naive=round(drained.rate / naive.rate, 2) if naive.rate else 0.0,
        of_raw=round(drained.rate / raw.rate, 3) if raw.rate else 0.0,
        of_raw_rounds=[round(ratio, 3) for ratio in ratios],
        note=note,
    )
    result.checks = {
        "messages_per_s": result.drain_messages_per_s >= TARGETS["messages_per_s"],
        "vs_naive": result.vs_naive >= TARGETS["vs_naive"],
        "of_raw": result.of_raw >= TARGETS["of_raw"],
        "peak_rss_mb": peak < TARGETS["peak_rss_mb"],
        "all_sent": not note,
    }
    return result


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def print_table(results: list[Result]) -> None:
    """One block per audience size: each figure, its target and PASS/MISS."""
    for r in results:
        rss_applies = r.n >= TARGETS["rss_at_n"]
        goal_rate, goal_raw = TARGETS["messages_per_s"], TARGETS["of_raw"]
        rows: list[tuple[str, str, str, bool | None]] = [
            ("message size", f"{r.message_bytes:,} B", "~20 KB", None),
            ("drain", f"{r.drain_messages_per_s:,.0f} msg/s", f"≥ {goal_rate:,.0f} msg/s",
             r.checks["messages_per_s"]),
            ("peak RSS (drain process)", f"{r.peak_rss_mb:.0f} MB",
             "< 200 MB" + ("" if rss_applies else " at 100k"),
             r.checks["peak_rss_mb"] if rss_applies else None),
            ("  of which before the drain", f"{r.rss_before_drain_mb:.0f} MB", "", None),
            ("CPU per 1,000 messages", f"{r.cpu_s_per_1000:.2f} s", "", None),
            ("naive sender", f"{r.naive_messages_per_s:,.1f} msg/s", f"({r.naive_messages} sent)",
             None),
            ("drain / naive", f"{r.vs_naive:.1f}x", "≥ 3x", r.checks["vs_naive"]),
            ("raw ceiling", f"{r.raw_messages_per_s:,.0f} msg/s", f"({r.raw_messages:,} sent)",
             None),
            ("  its CPU per 1,000 messages", f"{r.raw_cpu_s_per_1000:.2f} s", "", None),
            ("drain / raw (median round)", f"{r.of_raw:.1%}", f"≥ {goal_raw:.0%}",
             r.checks["of_raw"]),
            ("  every round", " ".join(f"{x:.0%}" for x in r.of_raw_rounds), "", None),
        ]  # fmt: skip
        print(f"N = {r.n:,} subscribers ({r.drain_sent:,} sent, {r.drain_left} left)")
        print(f"  {'figure':<28}  {'value':>14}  {'target':<18}  result")
        for name, value, target, ok in rows:
            print(f"  {name:<28}  {value:>14}  {target:<18}  {_verdict(ok)}".rstrip())
        if r.note:
            print(f"  note: {r.note}")
        print()
    sys.stdout.flush()


def write_json(path: Path, results: list[Result], args: argparse.Namespace) -> None:
    """The results with enough context to compare runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "digest",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "digest": DIGEST,
        "connections": args.connections,
        "seed": args.seed,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--subscribers", type=int_list, default=None, help="audience sizes (default 10000,100000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2,000 subscribers, smaller reference samples"
    )
    parser.add_argument("--connections", type=int, default=16, help="smtp.connections (16)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="raw + drain pairs per size; the median is shown"
    )
    parser.add_argument("--naive-sample", type=int, default=None, help="naive messages (500)")
    parser.add_argument("--raw-messages", type=int, default=None, help="raw messages (20000)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the generated data")
    parser.add_argument("--keep", action="store_true", help="keep the project roots and stores")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch folder")
    parser.add_argument("--sink", default=shutil.which("smtp-sink") or "/usr/sbin/smtp-sink")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    if args.subscribers is None:
        args.subscribers = [2000] if quick else [10_000, 100_000]
    if args.naive_sample is None:
        args.naive_sample = 100 if quick else 500
    if args.raw_messages is None:
        args.raw_messages = 4000 if quick else 20_000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run every size; exit 1 when a run failed or not every message went (misses are reported,
    not fatal).
    """
    args = parse_args(argv)
    if args.child:
        figures = CHILDREN[args.child](args.root, args)
        print(json.dumps({**figures, "peak_rss_kib": peak_rss_kib()}))
        return 0
    if not Path(args.sink).exists():
        log(f"error: {args.sink} not found; install Postfix or pass --sink PATH")
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix="bench-digest-", dir=args.workdir))
    sink = Sink(args.sink)
    log(f"smtp-sink on 127.0.0.1:{sink.port} (pid {sink.process.pid})")
    results: list[Result] = []
    try:
        for n in args.subscribers:
            results.append(bench_size(n, parent, sink.port, args))
    finally:
        sink.stop()
        if args.keep:
            log(f"roots kept in {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)
    print_table(results)
    write_json(args.out, results, args)
    log(f"results: {args.out}")
    return 1 if any(r.note for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
