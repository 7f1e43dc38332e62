"""What every command shares: the global options, a progress bar for long runs, and the one way
user-supplied text (file names, titles, addresses, relays' replies) is printed."""

from __future__ import annotations

import os
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from publisher.config.loading import load_settings
from publisher.config.settings import Settings

PROGRESS_THRESHOLD = 200
# Control and format characters (bidi overrides, zero-width ones), surrogates, private-use and
# unassigned code points, line and paragraph separators: what can move the cursor, start a new
# line, recolour the terminal or reorder what is shown. Spaces of any width stay as they are.
HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(value: object) -> str:
    """``value`` as text that prints as what it is: each character of :data:`HIDDEN` escaped the
    way Python writes it (``\\n``, ``\\x1b``, ``\\u202e``), so a file name holding a newline
    cannot add a line of its own (a fake ``refused:``), nor an address recolour the terminal.
    Every user-supplied text a command prints goes through this."""
    text = str(value)
    if text.isprintable():  # nothing hidden (the common case, checked in C)
        return text
    return "".join(_escaped(c) if unicodedata.category(c) in HIDDEN else c for c in text)


def _escaped(char: str) -> str:
    if char in SHORT:
        return SHORT[char]
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    return f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


class Context:
    """What every command gets from the global options."""

    def __init__(self, root: Path, verbose: bool) -> None:
        self.root, self.verbose = root, verbose

    def settings(self) -> Settings:
        """Settings of the project at ``--root``."""
        return load_settings(self.root, os.environ)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback that shows a bar once a stage has many items (on a terminal only),
    with its rate per second and the time left.
    """
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    # Imported here: rich costs tens of milliseconds, and most runs have no terminal.
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, Any] = {}
        started: dict[str, float] = {}

        def update(stage: str, done: int, total: int) -> None:
            if total < PROGRESS_THRESHOLD:
                return
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, rate="-")
                started[stage] = time.monotonic()
            elapsed = max(time.monotonic() - started[stage], 1e-6)
            bar.update(tasks[stage], completed=done, total=total, rate=f"{done / elapsed:,.0f}")

        yield update
