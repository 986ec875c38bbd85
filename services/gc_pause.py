"""Keep the cyclic garbage collector out of a replay, and out of the way of a server.

Decoding 1,000 events allocates tens of thousands of containers; each batch of 700
triggers a collection, and every so often a full one, which walks every object of
the process (in the API server, every cached plan too). That full collection was
the slowest replay's tail. The events and plans built in a replay hold no reference
cycles, so reference counting frees them all: the collector has nothing to find
there, and it runs again, as usual, once the replay is over.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Only whoever paused the collector enables it again: a nested pause changes
    nothing, and one that overlaps another thread's may end early, with the
    collector back to normal; it is never left off."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


#: Container allocations between young collections while serving (CPython: 700).
#: Every request allocates a few thousand (parsing, validation, the response), so
#: at the default the collector ran several times per request; alternating runs
#: of bench.commands at 8 clients: server CPU per command 5% lower, throughput 3%
#: higher at 20,000 (10,000 and 50,000 measured alike).
SERVING_THRESHOLD = 20_000


def tune_for_serving() -> None:
    """Fewer young collections, and none of them walking what startup built (the
    modules, the app, the formulary: ``gc.freeze`` moves it out of their way)."""
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(SERVING_THRESHOLD, middle, oldest)
