"""Work that commits with the events or not at all: a hook the event recorders run
inside the events' own transaction, once the events and their chain links are in.

The writer sets it around one insert (a context variable, so concurrent writers in
other threads are untouched); the recorders call it with their cursor, the new
notification ids in the order of the events, and a way to ask for the last
notification stored before them (the table lock is held, so no writer can slip in
between). Bootstrap uses it to write the views in the same transaction.

Asking is two calls: the first sends the question, the function it returns reads
the answer. On PostgreSQL the connection is in pipeline mode, so a question sent
before the work's own first query travels and is answered with it: one round trip
instead of two, on the path every command waits on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: Sends the question "which notification is the last before these?"; the function
#: it returns reads the answer.
AskLastBefore = Callable[[], Callable[[], int]]

#: (cursor, notification ids, ask for the last id before them) → None. Must not
#: raise: an error escaping it would reach the library's insert, which on
#: PostgreSQL commits a transaction whose Python code failed.
Work = Callable[[Any, Sequence[int], AskLastBefore], None]

_WORK: ContextVar[Work | None] = ContextVar("with_the_events", default=None)


@contextmanager
def with_the_events(work: Work) -> Iterator[None]:
    token = _WORK.set(work)
    try:
        yield
    finally:
        _WORK.reset(token)


def run_with_the_events(cursor: Any, ids: Sequence[int] | None, last_before: AskLastBefore) -> None:
    """Called by the recorders; does nothing unless a writer set work for this insert."""
    work = _WORK.get()
    if work is not None and ids:
        work(cursor, ids, last_before)
