"""Follow the notification log and keep one projection up to date, exactly once.

Works on both stores by reading ``select_notifications`` from its own tracked
position. It polls; on PostgreSQL ``projections.notifier`` also wakes it as soon
as a transaction appends events (LISTEN/NOTIFY does not exist on SQLite, and a
lost notification must not stall it, so the poll stays, only slower). Callers
that just wrote (read-your-writes) call ``catch_up`` themselves instead of waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import structlog
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper

from projections.projection import Projection
from projections.store import Sql, ViewStore

log = structlog.get_logger(__name__)


class ProjectionFollower:
    """Applies new events to one projection in batches, one transaction per batch."""

    def __init__(
        self,
        projection: Projection,
        store: ViewStore,
        recorder: ApplicationRecorder,
        mapper: Mapper,
        *,
        batch_size: int = 500,
    ) -> None:
        self.projection = projection
        self.store = store
        self.recorder = recorder
        self.mapper = mapper
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._wake = threading.Event()
        store.create_tables(projection.schema, projection.table_names())

    @property
    def name(self) -> str:
        """The name its position is tracked under (a rebuild's differs from the live one)."""
        return self.projection.tracking_name

    @property
    def lock(self) -> threading.Lock:
        """Held while it applies a batch (its own thread and read-your-writes share it)."""
        return self._lock

    def position(self) -> int:
        return self.store.position(self.name)

    def apply_in(self, sql: Sql, start: int, events: Sequence[tuple[int, Any]]) -> bool:
        """Apply ``events`` ((notification id, event), in order, read after ``start``)
        inside the caller's transaction, in a savepoint of its own: on error only this
        view's part is undone (and the error raised). False, with nothing done, when
        the position is no longer ``start`` (another process moved it).
        """
        sql.execute("SAVEPOINT follower")
        try:
            if self.store.claim(sql, self.name) != start:
                sql.execute("RELEASE SAVEPOINT follower")
                return False
            views = sql.renamed(self.projection.table_names())
            # Pipelined (PostgreSQL): the handlers' writes go without waiting for each
            # answer, one round trip per batch instead of one per statement.
            with views.synced():
                for position, event in events:
                    self.projection.process(event, views, position)
            self.store.record_position(sql, self.name, events[-1][0])
        except BaseException:
            sql.discard()
            sql.execute("ROLLBACK TO SAVEPOINT follower")
            sql.execute("RELEASE SAVEPOINT follower")
            raise
        sql.execute("RELEASE SAVEPOINT follower")
        return True

    def catch_up(self) -> int:
        """Process everything recorded so far; return how many events were applied."""
        applied = 0
        with self._lock:
            while True:
                seen, count = self._process_next_batch()
                if seen == 0:
                    return applied
                applied += count

    def step(self) -> tuple[int, int]:
        """Process one batch: (notifications read, events applied); (0, 0) when caught up."""
        with self._lock:
            return self._process_next_batch()

    def _process_next_batch(self) -> tuple[int, int]:
        """One batch in one transaction: (notifications read, events applied)."""
        start = self.position()
        notifications = self.recorder.select_notifications(
            start=start, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0, 0
        try:
            with self.store.transaction() as sql:
                if self.store.claim(sql, self.name) != start:
                    # Another follower (or a rebuild's switch) moved it meanwhile: this
                    # batch is void, and the next one starts from where that left it.
                    log.info("projection.batch_already_applied", projection=self.name)
                    return len(notifications), 0
                views = sql.renamed(self.projection.table_names())
                with views.synced():  # one round trip per batch, as in ``apply_in``
                    for notification in notifications:
                        event = self.mapper.to_domain_event(notification)
                        self.projection.process(event, views, notification.id)
                self.store.record_position(sql, self.name, notifications[-1].id)
        except IntegrityError:
            if self.position() <= start:
                raise  # not a race with another follower: a real conflict in the view
            # Another process applied this batch first; its commit stands, ours is void.
            log.info("projection.batch_already_applied", projection=self.name, start=start)
            return len(notifications), 0
        return len(notifications), len(notifications)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until another process has applied up to ``position`` (external mode)."""
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        """Keep following until ``stop`` is set; errors are logged and retried."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:
                log.exception("projection.catch_up_failed", projection=self.name)
                stop.wait(min(5.0, poll_seconds * 4))
            self._wake.wait(poll_seconds)
            self._wake.clear()
