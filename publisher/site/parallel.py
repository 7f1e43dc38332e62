"""Large batches fan out to one process per core; small ones stay in this process.

Reading thousands of files and rendering thousands of pages is CPU-bound Python, so threads
would not help. Workers come from a *forkserver*, never from ``fork`` of this process: a
publish runs on a thread of the web server or the worker, and forking a process that has
threads copies their held locks into the child, which can deadlock (PITFALLS 66). So what a
worker needs is a picklable *recipe* from which each worker makes its state once
(``make(recipe)``: profiles, the Jinja environment), and only items and results cross the
pipes; two batches in flight bound the memory.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any, TypeVar

Recipe = TypeVar("Recipe")
State = TypeVar("State")
Item = TypeVar("Item")
Result = TypeVar("Result")

THRESHOLD = 200  # below this many items, starting processes costs more than it saves
BATCH = 512
# The forkserver imports the publishing code once; each worker is forked from it, ready to go.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["publisher.site.publish"])

_work: tuple[Callable[[Any, Any], Any], Any] | None = None


def _start(func: Callable[[Any, Any], Any], make: Callable[[Any], Any], recipe: Any) -> None:
    """A worker's initializer: make its state from the recipe, once."""
    global _work
    _work = (func, make(recipe))


def _call(item: Any) -> Any:
    assert _work is not None
    func, state = _work
    return func(state, item)


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fan_out(
    func: Callable[[State, Item], Result],
    make: Callable[[Recipe], State],
    recipe: Recipe,
    items: Iterable[Item],
    *,
    threshold: int | None = None,
    here: Callable[[], State] | None = None,
) -> Iterator[Result]:
    """``func(make(recipe), item)`` for each item, in order; in worker processes for batches
    of ``threshold`` (default :data:`THRESHOLD`) items or more. ``func`` and ``make`` must be
    module-level functions and
    ``recipe`` picklable. ``here`` makes the state when the batch stays in this process, if
    this process has a better one than ``make`` would (one already open)."""
    iterator = iter(items)
    threshold = THRESHOLD if threshold is None else threshold
    head = list(islice(iterator, threshold))
    if len(head) < threshold or cores() < 2:
        state = here() if here is not None else make(recipe)
        yield from (func(state, item) for item in chain(head, iterator))
        return
    with _CONTEXT.Pool(cores(), initializer=_start, initargs=(func, make, recipe)) as pool:
        rest = chain(head, iterator)
        # Two batches in flight: workers start the next while this process takes the results
        # of the current one, and memory stays bounded by two batches.
        in_flight: deque[Iterator[Any]] = deque()
        while batch := list(islice(rest, BATCH)):
            # Few items are heavy ones (lists of a whole site): one at a time, so both cores
            # get some; many go 16 at a time, to spare the pipes.
            chunk = 16 if len(batch) >= 64 * cores() else 1
            in_flight.append(pool.imap(_call, batch, chunksize=chunk))
            if len(in_flight) > 1:
                yield from in_flight.popleft()
        while in_flight:
            yield from in_flight.popleft()
