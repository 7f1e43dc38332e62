"""What every command shares: the global options and a progress bar for long runs. User-supplied
text (file names, titles, addresses, relays' replies) is printed through
:func:`publisher.text.shown`."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from publisher.config.loading import load_settings
from publisher.config.settings import Settings

PROGRESS_THRESHOLD = 200


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
