"""Work that commits with the events or not at all: a hook the event recorders run
inside the events' own transaction. Bootstrap uses it to write the views there.

The writer sets it around one insert (a context variable, so concurrent writers in
other threads are untouched). The recorder takes a savepoint, then asks the work
in two steps:

- ``claim(cursor)``: send what the work must know before it writes (the views'
  positions, locked). On PostgreSQL the connection is in pipeline mode and this
  travels with the events' own insert: no round trip of its own.
- ``write(cursor, ids, last_before)``: read that answer and send the writes, given
  the new notification ids in the order of the events and the last notification
  stored before them (the table lock is held, so no writer slips in between). On
  PostgreSQL the writes travel with the commit.

If either step raises, or a write fails in the database, the recorder undoes the
work to its savepoint, calls ``undone()``, and commits the events without it: a
command is stored whatever its views do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import structlog

#: The savepoint the recorders hold around the work.
SAVEPOINT = "careplan_with_the_events"

log = structlog.get_logger(__name__)


class WithTheEvents(Protocol):
    def claim(self, cursor: Any) -> None: ...

    def write(self, cursor: Any, ids: Sequence[int], last_before: int) -> None: ...

    def undone(self) -> None: ...

    @property
    def complete(self) -> bool:
        """All of the work is in the committed transaction (read once it returned)."""
        ...


_WORK: ContextVar[WithTheEvents | None] = ContextVar("with_the_events", default=None)


@contextmanager
def with_the_events(work: WithTheEvents) -> Iterator[None]:
    token = _WORK.set(work)
    try:
        yield
    finally:
        _WORK.reset(token)


def work_for_this_insert() -> WithTheEvents | None:
    """What the writer set for this insert (called by the recorders), if anything."""
    return _WORK.get()


def undo(work: WithTheEvents) -> None:
    """The work was rolled back to its savepoint (called while handling its error):
    report it, and tell it."""
    log.exception("projection.with_the_write_failed")
    work.undone()
