"""Commands for digests: subscribers, opening issues, previews, test sends and the outbox.

The mail machinery (aiosmtplib, css-inline, the outbox) is imported inside each command, so
the commands that do not send mail do not pay for it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from publisher.cli.console import Context
from publisher.config.settings import Settings
from publisher.text import plural, shown

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from jinja2 import Environment

    from publisher.mail.issues import Plan
    from publisher.service.operations import Operations
    from publisher.store.outbox import Outbox
    from publisher.store.subscribers import Imported


def environment_for(settings: Settings) -> Environment:
    """The site's template environment (Jinja2 is imported by the commands that render)."""
    from publisher.site.render import environment_for

    return environment_for(settings)


@contextmanager
def mail_store(settings: Settings) -> Iterator[Outbox]:
    """The outbox of the configured store, migrated; closed afterwards."""
    from publisher.store.engine import open_engine
    from publisher.store.outbox import Outbox

    engine = open_engine(settings.database_url)
    try:
        yield Outbox(engine)
    finally:
        engine.dispose()


def _addresses(values: tuple[str, ...]) -> list[str]:
    from publisher.addresses import AddressError, normalise_address
    from publisher.errors import ConfigError

    try:
        return [normalise_address(v) for v in values]
    except AddressError as exc:
        raise ConfigError(str(exc), hint="give one plain address, e.g. reader@example.org") from exc


def _digest_names(settings: Settings, names: tuple[str, ...]) -> list[str]:
    """The digests named (each checked), or every configured digest."""
    from publisher.mail.issues import find_digest

    return [find_digest(settings, n).name for n in names] or [d.name for d in settings.digests]


@click.group("subscribers")
def subscribers_group() -> None:
    """Add, remove, list, import and export the readers of digests."""


@subscribers_group.command("add")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--digest", "digests", multiple=True, help="A digest to receive (default: all).")
@click.pass_obj
def subscribers_add(obj: Context, addresses: tuple[str, ...], digests: tuple[str, ...]) -> None:
    """Add readers as active subscribers (the operator vouches for their consent)."""
    settings = obj.settings()
    names = _digest_names(settings, digests)
    rows = [(address, names) for address in _addresses(addresses)]
    with mail_store(settings) as outbox:
        done = outbox.subscribers.add(rows, "active", datetime.now(UTC))
    _print_imported(done)


def _print_imported(done: Imported) -> None:
    click.echo(
        f"subscribers: {done.added} added, {done.updated} updated, {done.unchanged} unchanged"
    )
    for line in done.refused:
        click.echo(f"kept: {shown(line)}")


@subscribers_group.command("remove")
@click.argument("addresses", nargs=-1, required=True)
@click.option("--forget", is_flag=True, help="Delete them and their history instead.")
@click.pass_obj
def subscribers_remove(obj: Context, addresses: tuple[str, ...], forget: bool) -> None:
    """Unsubscribe readers (kept, so they are never mailed again), or forget them."""
    settings = obj.settings()
    with mail_store(settings) as outbox:
        for address in _addresses(addresses):
            if forget:
                found = outbox.subscribers.forget(address)
            else:
                found = outbox.subscribers.set_status(address, "unsubscribed", datetime.now(UTC))
            verb = "forgotten" if forget else "unsubscribed"
            click.echo(f"{shown(address)}: {verb if found else 'not a subscriber'}")


@subscribers_group.command("reactivate")
@click.option("--issue", "issue_id", type=int, help="Readers this issue bounced.")
@click.option("--since", type=click.DateTime(), help="Readers bounced since (site time).")
@click.option("--until", type=click.DateTime(), help="… and before this time (default: now).")
@click.pass_obj
def subscribers_reactivate(
    obj: Context, issue_id: int | None, since: datetime | None, until: datetime | None
) -> None:
    """Make readers bounced by one issue, or in a time range, active again: the undo of a
    relay that refused everyone. `publisher outbox --retry-failed` then sends their messages."""
    from publisher.errors import ConfigError

    if issue_id is None and since is None:
        raise ConfigError("say which readers: --issue N, or --since TIME [--until TIME]")
    settings = obj.settings()
    now = datetime.now(UTC)
    between = None
    if since is not None:
        zone = settings.zone
        end = until.replace(tzinfo=zone) if until else now
        between = (since.replace(tzinfo=zone), end)
    with mail_store(settings) as outbox:
        addresses = outbox.subscribers.reactivate(now, issue_id, between)
    for address in addresses:
        click.echo(f"{shown(address)}: active again")
    click.echo(f"reactivated: {len(addresses)}")


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed", "bounced"]))
@click.pass_obj
def subscribers_list(obj: Context, status: str | None) -> None:
    """One line per subscriber: address, status, digests."""
    with mail_store(obj.settings()) as outbox:
        count = 0
        for subscriber in outbox.subscribers.each(status):
            digests = shown(" ".join(subscriber.digests) or "-")
            click.echo(f"{shown(subscriber.address)}\t{subscriber.status}\t{digests}")
            count += 1
    click.echo(plural(count, "subscriber"), err=True)


@subscribers_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def subscribers_import(obj: Context, file: Path) -> None:
    """Import ``email[,digests]`` rows; bad rows are reported by line, good ones kept.

    Importing the same file twice changes nothing. Digests are separated by spaces or | and
    default to all; unsubscribed and bounced addresses are not re-added.
    """
    settings = obj.settings()
    text = file.read_text(encoding="utf-8-sig")
    with mail_store(settings) as outbox:
        result = _operations(settings, outbox).import_csv(text, datetime.now(UTC))
    for problem in result.problems:
        click.echo(f"{shown(file)}: {shown(problem)}", err=True)
    _print_imported(result.done)
    if result.problems:
        sys.exit(1)


@subscribers_group.command("export")
@click.pass_obj
def subscribers_export(obj: Context) -> None:
    """Every subscriber as CSV (email, digests, status), readable by ``import``."""
    settings = obj.settings()
    with mail_store(settings) as outbox:
        _operations(settings, outbox).export_to(sys.stdout)


@click.command("digest")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show who would get what; store and send nothing.")
@click.option("--no-send", is_flag=True, help="Open the issue; leave sending to `publisher drain`.")
@click.pass_obj
def digest_command(obj: Context, name: str, dry_run: bool, no_send: bool) -> None:
    """Open the issue of digest NAME now and send it.

    The issue holds every published article this digest has not carried yet. Without
    --dry-run, content/ is published first so the issue sees the newest files.
    """
    from publisher.cli.outbox import finish, send
    from publisher.mail.issues import find_digest, open_issue, plan
    from publisher.site.publish import publish

    settings = obj.settings()
    digest = find_digest(settings, name)
    now = datetime.now(UTC)
    if dry_run:
        with mail_store(settings) as outbox:
            ready = plan(settings, outbox, environment_for(settings), digest, now)
            _print_plan(ready, outbox, settings.zone)
        return
    publish(settings, now)
    with mail_store(settings) as outbox:
        opened = open_issue(settings, outbox, environment_for(settings), digest, now)
        if opened.issue is None:
            click.echo(f"{name}: no issue opened: {shown(opened.reason)}")
            return
        issue = opened.issue
        click.echo(
            f"{name}: issue {issue.id} ({issue.slot}) with "
            f"{plural(len(opened.plan.articles), 'article')} "
            f"for {plural(issue.recipients, 'subscriber')}: {shown(issue.subject)}"
        )
    publish(settings, now)  # the issue's page, which its "view in your browser" link names
    if not no_send:
        with mail_store(settings) as outbox:
            finish(send(settings, outbox))


def _print_plan(ready: Plan, outbox: Outbox, zone: ZoneInfo) -> None:
    out = click.echo
    out(f"digest {ready.digest.name}, slot {ready.slot} (dry run: nothing stored or sent)")
    out(f"subject: {shown(ready.draft.subject)}")
    out(f"{plural(len(ready.articles), 'article')}:")
    for article in ready.articles:
        out(f"  {article.published.astimezone(zone):%Y-%m-%d}  {shown(article.title)}")
    if ready.baseline:
        out(f"older articles this new digest starts after: {len(ready.baseline)}")
    out(f"recipients: {ready.recipients}")
    listed = 0
    for subscriber in outbox.subscribers.each("active"):
        if ready.digest.name in subscriber.digests and listed < 10:
            out(f"  {shown(subscriber.address)}")
            listed += 1
    if ready.recipients > listed:
        out(f"  … and {ready.recipients - listed} more")
    for problem in ready.draft.problems:
        out(f"refused: {shown(problem)}")
    if not ready.articles and ready.digest.skip_empty:
        out("nothing new: no issue would be opened (skip_empty)")


@click.command("preview")
@click.argument("name")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
@click.option("--text", is_flag=True, help="The plain-text part instead of the HTML part.")
@click.option("--eml", is_flag=True, help="The whole message as it would be sent.")
@click.pass_obj
def preview_command(obj: Context, name: str, out: Path | None, text: bool, eml: bool) -> None:
    """Render the next issue of digest NAME for one sample subscriber; nothing is stored."""
    from publisher.mail.issues import find_digest, plan, sample
    from publisher.mail.messages import letter_for

    settings = obj.settings()
    digest = find_digest(settings, name)
    now = datetime.now(UTC)
    with mail_store(settings) as outbox:
        ready = plan(settings, outbox, environment_for(settings), digest, now)
        reader = sample(outbox, digest)
    letter = letter_for(settings, ready.issue(now))
    if eml:
        body = letter.bytes_for(reader)
    else:
        source = ready.draft.text if text else ready.draft.html
        body = letter.personalise(source, reader).encode()
    if out is None:
        sys.stdout.buffer.write(body)
    else:
        out.write_bytes(body)
        shown_out, to = shown(out), shown(reader.address)
        click.echo(f"{shown_out}: {plural(len(ready.articles), 'article')} for {to}", err=True)
    for problem in ready.draft.problems:
        click.echo(f"refused: {shown(problem)}", err=True)


@click.command("send-test")
@click.argument("name")
@click.option("--to", "address", required=True, help="Where the test goes.")
@click.pass_obj
def send_test_command(obj: Context, name: str, address: str) -> None:
    """Send the next issue of digest NAME to one address now; nothing is stored."""
    from publisher.mail.transports import transport_for

    settings = obj.settings()
    to = _addresses((address,))[0]
    with mail_store(settings) as outbox:
        reply, problems = _operations(settings, outbox).send_test_of(name, to, datetime.now(UTC))
    for problem in problems:
        click.echo(f"warning: {shown(problem)}", err=True)
    description = transport_for(settings).description
    click.echo(f"sent to {shown(to)} via {description}: {shown(reply)}")


def _operations(settings: Settings, outbox: Outbox) -> Operations:
    """The operator's actions the console and the admin API share, for the commands that do
    the same (import, export, send-test)."""
    from publisher.service.operations import Operations

    return Operations(settings, outbox, environment_for(settings))


MAIL_COMMANDS = (subscribers_group, digest_command, preview_command, send_test_command)
