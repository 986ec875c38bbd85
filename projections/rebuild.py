"""Rebuilding a view from the whole log into fresh tables while the old ones serve.

The shadow projection is the same projection with ``_next`` after every table
name and after its tracking name. It is filled batch by batch by an ordinary
follower (rows and position in one transaction), so a rebuild that is stopped,
or dies, resumes from the position it reached. Once it has caught up, one
transaction switches: it holds the live view's position (a live follower in
the middle of a batch finishes first; later ones wait), applies the last events
to the shadow tables, replaces the live tables with them, and moves the live
position to theirs. A live follower that read its batch before the switch
finds the position moved and drops that batch; queries wait for the switch's
commit and then read the new tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.sqlite import SQLiteApplicationRecorder

from projections.projection import Projection
from projections.runner import ProjectionFollower
from projections.store import Sql, ViewStore
from projections.together import catch_up_together

SHADOW = "_next"


class Rebuild:
    """One projection's rebuild: ``fill`` (resumable, interruptible), then ``switch``."""

    def __init__(
        self,
        projection_type: type[Projection],
        store: ViewStore,
        recorder: ApplicationRecorder,
        mapper: Mapper,
        *,
        batch_size: int = 1000,
        restart: bool = False,
    ) -> None:
        self.live = projection_type()
        self.shadow = projection_type(suffix=SHADOW)
        self.store = store
        self.recorder = recorder
        self.mapper = mapper
        self.batch_size = batch_size
        if restart or not self._resumable():
            self.discard()
        #: Creates the shadow tables (when missing): the follower of the shadow view.
        self.follower = ProjectionFollower(
            self.shadow, store, recorder, mapper, batch_size=batch_size
        )

    @property
    def name(self) -> str:
        return self.live.name

    def position(self) -> int:
        """How far the shadow tables are (0: from the start)."""
        return self.store.position(self.shadow.tracking_name)

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def fill(
        self,
        stop: threading.Event,
        on_batch: Callable[[int, int], None] = lambda position, applied: None,
    ) -> bool:
        """Apply the log to the shadow tables until caught up (True) or ``stop`` is set
        (False); ``on_batch(position, applied)`` after each committed batch."""
        while not stop.is_set():
            seen, applied = self.follower.step()
            if seen == 0:
                return True
            on_batch(self.position(), applied)
        return False

    def switch(self) -> int:
        """Replace the live tables with the shadow ones, in one transaction; returns the
        position the live view continues from."""
        live_name, shadow_name = self.live.tracking_name, self.shadow.tracking_name
        with self.store.transaction() as sql:
            self.store.claim(sql, live_name)  # from here no live batch can commit
            position = self._catch_up(sql, self.store.claim(sql, shadow_name))
            live_tables, shadow_tables = self.live.table_names(), self.shadow.table_names()
            for table, live in live_tables.items():
                self.store.replace_table(sql, live, shadow_tables[table])
            renamed = sql.renamed(live_tables)
            for statement in self.live.schema:  # indexes SQLite had to drop; no-op elsewhere
                renamed.execute(statement)
            self.store.set_position(sql, live_name, position)
            self.store.forget_position(sql, shadow_name)
        return position

    def discard(self) -> None:
        """Forget a rebuild left unfinished: its tables and its position."""
        with self.store.transaction() as sql:
            for table in self.shadow.table_names().values():
                self.store.drop_table(sql, table)
            self.store.forget_position(sql, self.shadow.tracking_name)

    def _catch_up(self, sql: Sql, position: int) -> int:
        """Apply what was recorded since the last batch, inside the switch's transaction."""
        head = self._head(sql)
        shadow_sql = sql.renamed(self.shadow.table_names())
        while position < head:
            notifications = self._read(sql, position, head)
            if not notifications:
                break
            for notification in notifications:
                event = self.mapper.to_domain_event(notification)
                self.shadow.process(event, shadow_sql, notification.id)
            position = notifications[-1].id
        return position

    # SQLite: the connection pool hands out connections in order, so a writer queued
    # behind this transaction would hold up a second connection it asked for; the log
    # is read through this transaction's own. PostgreSQL reads it through the recorder.

    def _head(self, sql: Sql) -> int:
        if isinstance(self.recorder, SQLiteApplicationRecorder):
            table = self.recorder.events_table_name
            row = sql.execute(f"SELECT MAX(rowid) AS head FROM {table}").fetchone()  # noqa: S608
            return int(row["head"] or 0) if row else 0
        return self.head()

    def _read(self, sql: Sql, after: int, upto: int) -> list[Notification]:
        recorder = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            rows = sql.execute(
                f"SELECT rowid, * FROM {recorder.events_table_name} "  # noqa: S608
                "WHERE rowid > %(after)s AND rowid <= %(upto)s ORDER BY rowid LIMIT %(limit)s",
                {"after": after, "upto": upto, "limit": self.batch_size},
            ).fetchall()
            return [
                Notification(
                    id=row["rowid"],
                    originator_id=recorder.convert_originator_id(row["originator_id"]),
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=row["state"],
                )
                for row in rows
            ]
        return list(
            recorder.select_notifications(
                start=after, limit=self.batch_size, stop=upto, inclusive_of_start=False
            )
        )

    def _resumable(self) -> bool:
        """A shadow position counts only with all of its tables there to go on with."""
        if self.position() == 0:
            return False
        return all(self.store.table_exists(t) for t in self.shadow.table_names().values())


def fill_together(
    jobs: list[Rebuild],
    stop: threading.Event,
    on_batch: Callable[[], None] = lambda: None,
) -> bool:
    """Fill several rebuilds (one store, one log) in one pass over the log: each batch
    is read and decoded once and applied to every shadow view in one transaction,
    each view in its own savepoint with its own position (``catch_up_together``).
    Saves decoding each event once per view. Any error stops the whole rebuild.
    Resumable like ``Rebuild.fill``: every shadow position is its own. True once
    all have caught up, False when ``stop`` was set first.

    On PostgreSQL the next batch is read and decoded by a second thread while this
    one waits for the server to apply the current one (``_Pages``)."""
    followers = [job.follower for job in jobs]
    first = jobs[0]
    pages = _Pages(first, ahead=not isinstance(first.recorder, SQLiteApplicationRecorder))
    try:
        while not stop.is_set():
            head = first.head()
            low = min(first.store.positions([f.name for f in followers]).values())
            if low >= head:
                return True
            events = pages.take(low)
            if not events:  # nothing visible past ``low`` yet (an append still committing)
                stop.wait(0.01)
                continue
            left = catch_up_together(followers, events[-1][0], page=(low, events))
            failed = [(name, error) for name, error in left.items() if error is not None]
            if failed:
                name, error = failed[0]
                raise RuntimeError(f"rebuilding {name} failed") from error
            on_batch()
        return False
    finally:
        pages.close()


class _Pages:
    """The log in batches, each read and decoded one step ahead (``ahead``): while
    the views' writes of one batch wait for the server, the next is being read and
    decoded (the wait releases the interpreter's lock). At most two batches are in
    memory besides the one being applied, whatever the length of the log."""

    def __init__(self, job: Rebuild, *, ahead: bool) -> None:
        self.job = job
        self.executor = ThreadPoolExecutor(max_workers=1) if ahead else None
        self.next: tuple[int, Future[list[tuple[int, Any]]]] | None = None

    def take(self, after: int) -> list[tuple[int, Any]]:
        """The batch following position ``after`` (empty when nothing follows yet)."""
        if self.next is not None and self.next[0] == after:
            events = self.next[1].result()
        else:
            if self.next is not None:
                self.next[1].cancel()
            events = self._read(after)
        self.next = None
        if events and self.executor is not None:
            self.next = (events[-1][0], self.executor.submit(self._read, events[-1][0]))
        return events

    def _read(self, after: int) -> list[tuple[int, Any]]:
        job = self.job
        notifications = job.recorder.select_notifications(
            start=after, limit=job.batch_size, inclusive_of_start=False
        )
        return [(n.id, job.mapper.to_domain_event(n)) for n in notifications]

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
