"""Commands that send what the outbox holds and show it: ``drain`` and ``outbox``.

A drain reports rows (each delivery once, where it ended up), the rate of messages delivered,
and whatever stopped it: a relay that is down or refusing the sender, a store that stopped
answering, a signal. It exits non-zero when nothing could be delivered, and 128 + the signal
when one stopped it, after the messages under way were recorded and the rest given back.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from publisher.cli.console import Context, progress_bar
from publisher.config.settings import Settings
from publisher.text import plural, shown

if TYPE_CHECKING:
    from publisher.mail.policy import DrainReport
    from publisher.store.outbox import Outbox
    from publisher.store.tally import Group


def _when(moment: datetime | None, settings: Settings) -> str:
    return f"{moment.astimezone(settings.zone):%Y-%m-%d %H:%M:%S %Z}" if moment else "?"


def send(settings: Settings, outbox: Outbox) -> DrainReport:
    """Drain the outbox with a progress bar, and print what happened."""
    from publisher.mail.drain import drain
    from publisher.mail.policy import relay_line
    from publisher.mail.transports import transport_for

    transport = transport_for(settings)
    with progress_bar() as progress:
        report = drain(settings, outbox, transport, progress=lambda d, t: progress("send", d, t))
    failed = f"failed {report.failed}" + (f" ({report.bounced} bounced)" if report.bounced else "")
    parts = [f"sent {report.sent}", f"retrying later {report.retrying}", failed]
    if report.possibly_delivered:
        parts.append(f"possibly delivered {report.possibly_delivered}")
    if report.held:
        parts.append(f"given back {report.held}")
    click.echo(
        f"{', '.join(parts)} in {report.seconds:.1f} s ({report.rate:,.0f}/s delivered) "
        f"via {transport.description}"
    )
    for reply, count in _grouped(report.failures):
        click.echo(f"failed ({count}): {shown(reply)}")
    if report.relay is not None:
        click.echo(f"relay {shown(relay_line(report.relay, settings.zone))}")
        click.echo("nothing more is sent until the relay takes mail; `publisher outbox` shows why")
    if report.waiting:
        held = plural(report.waiting, "message")
        until = _when(report.waiting_until, settings)
        click.echo(f"waiting: {held} claimed by another sender (or one that stopped) until {until}")
    if report.error:
        click.echo(f"error: {shown(report.error)}", err=True)
    return report


def _grouped(replies: Sequence[str]) -> list[tuple[str, int]]:
    found: dict[str, int] = {}
    for reply in replies:
        found[reply] = found.get(reply, 0) + 1
    return sorted(found.items(), key=lambda item: -item[1])


def finish(report: DrainReport) -> None:
    """Exit as the drain ended: 128 + a signal that stopped it, 1 when nothing arrived."""
    if report.signal:
        click.echo(f"stopped: {report.sent} sent, {report.held} given back", err=True)
        sys.exit(128 + report.signal)
    if report.delivered_nothing:
        sys.exit(1)


@click.command("drain")
@click.pass_obj
def drain_command(obj: Context) -> None:
    """Send every delivery that is due now (what the worker does continuously).

    Exits 1 when nothing could be delivered (the relay down or refusing, the store gone).
    """
    from publisher.cli.mail import mail_store

    settings = obj.settings()
    with mail_store(settings) as outbox:
        report = send(settings, outbox)
    finish(report)


def _print_groups(title: str, groups: Sequence[Group], settings: Settings) -> None:
    for group in groups:
        example = f"e.g. {shown(group.address)}, {group.digest} issue {group.issue_id}"
        example += f", {plural(group.attempts, 'try', 'tries')}"
        if group.next_try is not None:
            example += f", next try {_when(group.next_try, settings)}"
        click.echo(f"{title} ({group.count:,}): {shown(group.reply or 'no reply')} — {example}")


@click.command("outbox")
@click.option("--retry-failed", is_flag=True, help="Queue failed deliveries again first.")
@click.option(
    "--retry-possibly-delivered",
    is_flag=True,
    help="With --retry-failed: possibly delivered ones too (each may arrive twice).",
)
@click.pass_obj
def outbox_command(obj: Context, retry_failed: bool, retry_possibly_delivered: bool) -> None:
    """Deliveries by state, the relays' state, and why deliveries wait or failed."""
    from publisher.cli.mail import mail_store
    from publisher.mail.policy import relay_line
    from publisher.store.tally import tally

    settings = obj.settings()
    now = datetime.now(UTC)
    with mail_store(settings) as outbox:
        if retry_failed:
            queued = outbox.deliveries.retry_failed(now, retry_possibly_delivered)
            click.echo(f"queued again: {queued}")
        found = tally(outbox.engine, now)
    click.echo("  ".join(f"{state.replace('_', ' ')}: {n}" for state, n in found.counts.items()))
    for relay in found.relays:
        line = relay_line(relay, settings.zone) if relay.paused else f"{relay.relay}: up"
        click.echo(f"relay {shown(line)}")
    if found.claimed:
        until = _when(found.claimed_until, settings)
        click.echo(f"sending: {plural(found.claimed, 'message')} claimed until {until}")
    _print_groups("waiting", found.retrying, settings)
    _print_groups("failed", found.failed, settings)
    _print_groups("possibly delivered", found.possibly_delivered, settings)
    if found.possibly_delivered:
        flags = "--retry-failed --retry-possibly-delivered"
        click.echo(f"possibly delivered ones are not sent again unless asked: {flags}")


OUTBOX_COMMANDS = (drain_command, outbox_command)
