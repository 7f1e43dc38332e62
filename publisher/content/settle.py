"""Files still being written are read once they hold still, not skipped.

A file copied a moment ago is young, but that alone does not mean it is unfinished: a script
that runs ``cp a.md content/ && publisher publish`` must publish it. So a young file (or one
dated in the future: clock skew, ``touch -d``) is looked at again after ``content.settle_seconds``
and read as soon as its size and modification time held still between two looks; only a file
that keeps changing for the whole wait is reported. An old file is settled by its age: nothing
wrote to it for longer than the interval two looks would be apart.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from publisher.content.scan import ContentFile

MIN_LOOK = 0.05  # seconds between looks when settle_seconds is 0 (tests, trusted writers)


@dataclass(frozen=True)
class Settled:
    """Files to read now, and files still changing when the wait ran out."""

    ready: list[ContentFile]
    moving: list[ContentFile]


def _look(item: ContentFile) -> ContentFile | None:
    """The file as it is now; ``None`` when it is gone."""
    try:
        found = os.stat(item.path)
    except OSError:
        return None
    return replace(item, mtime_ns=found.st_mtime_ns, size=found.st_size)


def settle(
    files: Sequence[ContentFile],
    quiet: float,
    wait: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Settled:
    """Split ``files`` into those that hold still and those still changing after ``wait``.

    Modification times are compared with the file system's own clock (``time.time``), never a
    run's fixed clock: both sides of the comparison must come from the same source.
    """
    cutoff = time.time_ns() - int(quiet * 1e9)
    ready = [item for item in files if item.mtime_ns <= cutoff]
    young = [item for item in files if item.mtime_ns > cutoff]
    deadline = clock() + wait
    while young and (left := deadline - clock()) > 0:
        sleep(min(max(quiet, MIN_LOOK), left))
        still = []
        for item in young:
            now = _look(item)
            if now is None:
                continue  # removed meanwhile: the next scan withdraws it
            if (now.mtime_ns, now.size) == (item.mtime_ns, item.size):
                ready.append(now)
            else:
                still.append(now)
        young = still
    return Settled(ready, young)
