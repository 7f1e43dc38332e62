"""Commands. The only place a :class:`PublisherError` becomes a message and an exit code.

What only some commands need (the publish machinery, the content readers) is imported inside
them, so ``--version``, ``--help`` and the commands that do not publish start quickly.
"""

from __future__ import annotations

import errno
import json
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import click

from publisher import __version__
from publisher.cli.console import Context, progress_bar
from publisher.cli.mail import MAIL_COMMANDS
from publisher.cli.outbox import OUTBOX_COMMANDS
from publisher.cli.service import LONG_RUNNING, SERVICE_COMMANDS
from publisher.config.loading import describe
from publisher.config.settings import SECRETS, Settings
from publisher.errors import PublisherError
from publisher.models import Problem, RunReport
from publisher.service import logs
from publisher.text import shown, slugify


class _LoggingContext(Context):
    """Sets the log level from ``log.level`` whenever a command loads the settings."""

    def __init__(self, root: Path, verbose: bool, service: bool) -> None:
        super().__init__(root, verbose)
        self.service = service

    def settings(self) -> Settings:
        settings = super().settings()
        level = logs.level_for(settings.log.level, service=self.service, verbose=self.verbose)
        logs.configure(level)
        return settings


@click.group()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Project folder holding config/, content/, templates/, var/ and public/.",
)
@click.option("--verbose", "-v", is_flag=True, help="More logging, and tracebacks on errors.")
@click.version_option(__version__)
@click.pass_context
def cli(ctx: click.Context, root: Path, verbose: bool) -> None:
    """Publish articles from content/ as feeds, pages and digests, attribution intact."""
    service = ctx.invoked_subcommand in LONG_RUNNING
    logs.configure(logs.level_for("", service=service, verbose=verbose))
    ctx.obj = _LoggingContext(root, verbose, service)


def _print_report(report: RunReport, settings: Settings) -> None:
    out = click.echo
    out(
        f"articles: {len(report.new)} new, {len(report.updated)} updated, "
        f"{report.unchanged} unchanged, {len(report.removed)} removed"
    )
    written, deleted, refused = len(report.written), len(report.deleted), len(report.refused)
    out(f"outputs: {written} written, {deleted} deleted, {refused} refused")
    for problem in sorted(report.skipped, key=lambda p: p.path):
        out(f"{'skipped' if problem.severity == 'error' else 'warning'}: {shown(problem.line())}")
    for line in report.refused:
        out(f"refused: {shown(line)}")
    if report.pinged:
        out(f"websub: hub told about {len(report.pinged)} changed feeds")
    for topic in report.unpinged:
        out(f"warning: the WebSub hub could not be told about {shown(topic)}")
    out(f"site: {shown((settings.path(settings.output.public_dir) / 'index.html').resolve())}")


@cli.command("publish")
@click.pass_obj
def publish_command(obj: Context) -> None:
    """Scan content/, store new and changed articles, and write changed outputs to public/.

    Exits 1 when an output was refused by the fidelity gate or a file could not be published.
    """
    from publisher.site.publish import publish

    settings = obj.settings()
    with progress_bar() as progress:
        report = publish(settings, datetime.now(UTC), progress)
    _print_report(report, settings)
    if report.refused or any(p.severity == "error" for p in report.skipped):
        sys.exit(1)


def check_content(settings: Settings) -> list[Problem]:
    """Every problem of every content file, without touching the store or ``public/``.

    The same walk and limits as a publish, so what ``check`` passes, ``publish`` reads.
    """
    from publisher.content.captures import load_profiles
    from publisher.content.reading import Limits, read_article
    from publisher.content.scan import scan

    profiles = load_profiles(settings.path(settings.content.profiles_dir))
    limits = Limits.from_settings(settings.content)
    problems: list[Problem] = []
    slugs: dict[str, str] = {}
    for item in scan(settings.path(settings.content.dir), limits.max_bytes):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        result = read_article(item.path, item.relative, profiles, settings.zone, limits)
        problems += result.problems
        if result.article is not None:
            slug = result.article.slug or slugify(result.article.title)
            if slug in slugs:
                reason = f"slug {slug!r} is already used by {slugs[slug]}"
                problems.append(Problem(item.relative, reason, "set a different `slug:`"))
            slugs.setdefault(slug, item.relative)
    return problems


@cli.command("check")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_obj
def check_command(obj: Context, strict: bool, as_json: bool) -> None:
    """List every content problem with its path, reason and hint; exit 1 on errors."""
    problems = check_content(obj.settings())
    if as_json:
        click.echo(json.dumps([p.__dict__ for p in problems], indent=2))
    else:
        for problem in problems:
            click.echo(f"{problem.severity}: {shown(problem.line())}")
        errors = sum(p.severity == "error" for p in problems)
        click.echo(f"{errors} errors, {len(problems) - errors} warnings")
    if any(p.severity == "error" or strict for p in problems):
        sys.exit(1)


def settings_table() -> list[str]:
    """The README's configuration reference, a row per setting, made from the declarations."""
    rows = ["| setting | default | allowed | environment | meaning |", "|---|---|---|---|---|"]
    for info in describe():
        env = ", ".join(f"`{name}`" for name in info.env)
        rows.append(f"| `{info.key}` | `{info.default!r}` | {info.allowed} | {env} | {info.help} |")
    return rows


@cli.command("config")
@click.option("--markdown", is_flag=True, help="The configuration reference as a Markdown table.")
@click.pass_obj
def config_command(obj: Context, markdown: bool) -> None:
    """Show every setting: its value here, its default and its environment variable."""
    if markdown:
        click.echo("\n".join(settings_table()))
        return
    settings = obj.settings()
    for info in describe():
        section, key = info.key.split(".")
        value = getattr(getattr(settings, section), key)
        if info.key in SECRETS and value:
            value = "(set; hidden)"
        click.echo(
            f"{info.key} = {value!r}  (default {info.default!r}; env {' or '.join(info.env)})"
        )
        click.echo(f"    {info.help}")
    for digest in settings.digests:
        click.echo(f"[[digests]] {digest.name}: {digest}")


for command in (*MAIL_COMMANDS, *OUTBOX_COMMANDS, *SERVICE_COMMANDS):
    cli.add_command(command)


# What to do about an environment fault, by errno; anything else gets the general hint.
OS_HINTS = {
    errno.ENOSPC: "the disk is full: free space (`df -h` shows where), then run it again",
    errno.EDQUOT: "the disk quota is used up: free space, then run it again",
    errno.EACCES: "permission denied: check the owner and mode of the folder (`ls -ld`)",
    errno.EPERM: "not permitted: check the owner and mode of the folder (`ls -ld`)",
    errno.EROFS: "the file system is read-only: mount it read-write or set another folder",
}
OS_HINT = "check the folders of output.public_dir and output.var_dir and the disk they are on"


def _fail(message: str, hint: str) -> NoReturn:
    """One line for the error and one for the hint on stderr (a traceback first with
    ``--verbose``), exit 2: the operator's environment or settings need a fix."""
    if "-v" in sys.argv or "--verbose" in sys.argv:
        traceback.print_exc()
    click.echo(f"error: {shown(' '.join(message.split()))}", err=True)
    if hint:
        click.echo(f"hint: {shown(hint)}", err=True)
    sys.exit(2)


def main() -> None:
    """Entry point: run the CLI, turning domain errors and environment faults (a full disk, a
    folder that cannot be written, a database gone) into one line and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PublisherError as exc:
        _fail(str(exc), exc.hint)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"{where}{exc.strerror or exc}", OS_HINTS.get(exc.errno or 0, OS_HINT))
