"""Logging: one line per event on stderr (12-factor), and the lines the service writes for its runs.

::

    2026-12-01T21:40:00Z INFO publisher.worker: published 2 new, 1 updated (0.4 s)

The level comes from ``log.level``; empty means INFO for the service (its log is what an operator
watches) and WARNING for one-shot commands (their report is on stdout); ``--verbose`` is DEBUG.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from publisher.errors import ConfigError
from publisher.models import Problem, RunReport
from publisher.text import shown

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# They log every job run, every file change and every plug-in loaded at INFO; ours say what the
# run did instead.
CHATTY = ("apscheduler", "watchfiles", "alembic.runtime.plugins")


class _UTCFormatter(logging.Formatter):
    """UTC times, and a message that stays on its line: a file name or an address in it is
    printed escaped (:func:`publisher.cli.console.shown`), so it cannot forge a line of the log."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return shown(super().formatMessage(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test may have swapped it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """The stream is always the current stderr."""


def level_for(setting: str, *, service: bool, verbose: bool) -> int:
    """The root logger's level: ``--verbose``, else ``log.level``, else the role's default.

    :raises ConfigError: when ``log.level`` names no level.
    """
    if verbose:
        return logging.DEBUG
    if not setting:
        return logging.INFO if service else logging.WARNING
    level = logging.getLevelNamesMapping().get(setting.strip().upper())
    if level is None:
        raise ConfigError(f"log.level: {setting!r} is not a level", "DEBUG, INFO, WARNING or ERROR")
    return level


def configure(level: int) -> None:
    """Send every logger (uvicorn's too, started with ``log_config=None``) to stderr at ``level``;
    calling it again changes the level, never adds a second handler."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Stderr)]:
        root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(_UTCFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.NOTSET if level <= logging.DEBUG else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)


def publish_line(report: RunReport, seconds: float) -> str:
    """What one publish changed, and how long it took, in one line."""
    parts = [f"{len(report.new)} new", f"{len(report.updated)} updated"]
    parts += [f"{len(report.removed)} removed", f"{len(report.written)} outputs written"]
    if report.refused:
        parts.append(f"{len(report.refused)} refused")
    return f"published {', '.join(parts)} ({seconds:.1f} s)"


class ProblemLog:
    """Logs each content problem when it appears and when it goes away, not at every rescan."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.known: dict[tuple[str, str], Problem] = {}

    def update(self, problems: list[Problem]) -> None:
        """Compare with the problems of the last run and log the difference."""
        current = {(p.path, p.reason): p for p in problems}
        for key, problem in current.items():
            if key not in self.known:
                level = logging.ERROR if problem.severity == "error" else logging.WARNING
                self.log.log(level, "content problem: %s", problem.line())
        for path, reason in self.known.keys() - current.keys():
            self.log.info("content problem gone: %s: %s", path, reason)
        self.known = current
