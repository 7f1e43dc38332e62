"""Large batches fan out to one process per core; small ones stay in this process.

Reading thousands of files and rendering thousands of pages is CPU-bound Python, so threads
would not help. Workers are forked after the shared state (profiles, the Jinja environment) is
set, so nothing but the items and the results crosses a pipe, and batches bound the memory.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any, TypeVar

State = TypeVar("State")
Item = TypeVar("Item")
Result = TypeVar("Result")

THRESHOLD = 200  # below this many items, starting processes costs more than it saves
BATCH = 512

_work: tuple[Callable[[Any, Any], Any], Any] | None = None


def _call(item: Any) -> Any:
    assert _work is not None
    func, state = _work
    return func(state, item)


def fan_out(
    func: Callable[[State, Item], Result], state: State, items: Iterable[Item]
) -> Iterator[Result]:
    """``func(state, item)`` for each item, in order; in worker processes for large batches."""
    global _work
    iterator = iter(items)
    head = list(islice(iterator, THRESHOLD))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if len(head) < THRESHOLD or (cores or 1) < 2 or _work is not None:
        yield from (func(state, item) for item in chain(head, iterator))
        return
    _work = (func, state)
    # Frozen objects are left alone by the workers' garbage collector, so the pages they sit
    # on stay shared with this process instead of being copied into every worker.
    gc.collect()
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(cores) as pool:
            rest = chain(head, iterator)
            # Two batches in flight: workers start the next while this process takes the
            # results of the current one, and memory stays bounded by two batches.
            in_flight: deque[Iterator[Any]] = deque()
            while batch := list(islice(rest, BATCH)):
                in_flight.append(pool.imap(_call, batch, chunksize=16))
                if len(in_flight) > 1:
                    yield from in_flight.popleft()
            while in_flight:
                yield from in_flight.popleft()
    finally:
        _work = None
        gc.unfreeze()
