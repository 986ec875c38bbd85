"""Read-your-writes for every view at the cost of one: one read of the log, one commit.

After a command, each view must reflect it before the caller hears "done".
Catching the followers up one by one costs each view its own reads and its own
commit; here the new events are read and decoded once, and every view applies
them in one transaction, each in its own savepoint, with its own position. So
each view still writes its rows and its position together, and a view whose
handler fails is left behind (and reported) without holding back the others:
its own thread, or the next command, retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import structlog

from projections.runner import ProjectionFollower
from projections.store import Sql, ViewStore

log = structlog.get_logger(__name__)


def catch_up_together(
    followers: Sequence[ProjectionFollower],
    until: int,
    *,
    to_head: bool = False,
    page: tuple[int, Sequence[tuple[int, Any]]] | None = None,
) -> dict[str, Exception | None]:
    """Bring the followers (sharing one store and log) up to position ``until``.

    With ``to_head`` (read-your-writes) they go on to everything stored by the time
    they hold the locks. ``page``: events already read and decoded, (the position
    they follow, [(notification id, event)…]); used if the lowest position is that
    one, read again otherwise. Returns the ones left behind: with the error a view's
    handler raised, or with None when another process moved its position meanwhile
    (the caller lets that one ``catch_up`` on its own).
    """
    if not followers:
        return {}
    ordered = sorted(followers, key=lambda f: f.name)  # one lock order for every caller
    first = ordered[0]
    left: dict[str, Exception | None] = {}
    with ExitStack() as locks:
        for follower in ordered:
            locks.enter_context(follower.lock)
        positions = first.store.positions([f.name for f in ordered])
        pending = [f for f in ordered if positions[f.name] < until]
        if pending and to_head:
            # Whoever waited for these locks brings the views up to everything stored
            # by now, not just to its own write: the writers queued behind (group
            # commit's next batches) then find their position reached and return at
            # once, so N writers cost one view update, not N.
            until = max(until, first.recorder.max_notification_id() or 0)
        while pending:
            start = min(positions[f.name] for f in pending)
            if page is not None and page[0] == start and page[1]:
                events = [(i, e) for i, e in page[1] if i <= until]
            else:
                notifications = first.recorder.select_notifications(
                    start=start, limit=first.batch_size, stop=until, inclusive_of_start=False
                )
                events = [(n.id, first.mapper.to_domain_event(n)) for n in notifications]
            page = None
            if not events:
                break
            last = events[-1][0]
            with first.store.transaction() as sql:
                for follower in list(pending):
                    after = positions[follower.name]
                    own = (
                        events if after < events[0][0] else [(i, e) for i, e in events if i > after]
                    )
                    if not own:
                        continue
                    try:
                        applied = follower.apply_in(sql, positions[follower.name], own)
                    except Exception as error:  # reported; the others go on
                        left[follower.name] = error
                        pending.remove(follower)
                        continue
                    if applied:
                        positions[follower.name] = last
                    else:
                        left[follower.name] = None
                        pending.remove(follower)
            pending = [f for f in pending if positions[f.name] < until]
    return left


class WithTheWrite:
    """The views written inside the events' own transaction, for every view that has
    seen everything stored before them (the recorder's steps: see
    ``services.with_the_events``).

    This is read-your-writes at no extra transaction: the events, the view rows and
    the positions commit together (exactly once by construction), and the caller
    need not read back and decode what it has just written. A view that is behind
    (events from another process not applied yet) is left to ``catch_up_together``
    after the commit, which then finds the others already done. If a view fails, the
    recorder undoes the views' part to its savepoint and commits the events anyway
    (the command is stored whatever a view does); the catch-up after the commit then
    applies them view by view and reports the one that fails.

    Nothing here waits for an answer but the positions' claim, which on PostgreSQL
    comes back with the events' insert: the writes travel with the commit.
    """

    def __init__(
        self,
        followers: Sequence[ProjectionFollower],
        events: Sequence[Any],
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self._by_name = {f.name: f for f in followers}
        self._names = sorted(self._by_name)
        self._events = events
        self._on_written = on_written
        self._claimed: Sql | None = None
        #: The views the events were written to (empty until written, or if undone).
        self.written: list[str] = []

    @property
    def complete(self) -> bool:
        """Every view includes the events (read once the transaction committed)."""
        return len(self.written) == len(self._names)

    def claim(self, cursor: Any) -> None:
        if not self._names:
            return
        store = self._store
        self._claimed = Sql(cursor, sqlite=store.is_sqlite)
        store.send_claim(self._claimed, self._names)

    def write(self, cursor: Any, ids: Sequence[int], last_before: int) -> None:
        if self._claimed is None:
            return
        store = self._store
        positions = store.read_positions(self._claimed)
        current = [name for name in self._names if positions.get(name) == last_before]
        sql = Sql(cursor, sqlite=store.is_sqlite)
        written = list(zip(ids, self._events, strict=True))
        for name in current:
            projection = self._by_name[name].projection
            views = sql.renamed(projection.table_names())
            for position, event in written:
                projection.process(event, views, position)
        if current:
            store.advance_all(sql, current, ids[-1])
        sql.flush()
        self.written = current
        if self.complete and self._on_written is not None:
            self._on_written(ids[-1])  # before the commit: its notification may follow at once

    def undone(self) -> None:
        self.written = []

    @property
    def _store(self) -> ViewStore:
        return self._by_name[self._names[0]].store
