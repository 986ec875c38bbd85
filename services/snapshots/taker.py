"""Snapshots are taken beside the commands, not in them: the command that crosses an
interval hands the work to one background thread and answers at once.

Taking one means reading the previous snapshot and the events since, folding
and writing (tens of milliseconds on SQLite, whose writes wait for the disk);
the command's caller should not wait for a cache. Bounded: when the thread is
behind, a snapshot is dropped (the next crossing, or a rebuild, takes one), never
a command delayed. A snapshot lost at shutdown is the same: a cache miss.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from uuid import UUID

import structlog

log = structlog.get_logger(__name__)

#: Snapshots waiting at most; more are dropped.
BACKLOG = 1000


class SnapshotTaker:
    def __init__(self, take: Callable[[UUID, int], None]) -> None:
        self._take = take
        self._queue: queue.Queue[tuple[UUID, int] | None] = queue.Queue(maxsize=BACKLOG)
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._closed = False

    def submit(self, plan_id: UUID, version: int) -> None:
        with self._guard:
            if self._closed:
                return
            if self._thread is None:  # started by the first snapshot, not by every app
                self._thread = threading.Thread(
                    target=self._run, name="plan-snapshots", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait((plan_id, version))
        except queue.Full:
            log.warning("snapshot.dropped", care_plan_id=str(plan_id), version=version)

    def wait(self) -> None:
        """Until every snapshot handed over so far is taken (tests, benchmarks, rebuilds)."""
        self._queue.join()

    def close(self, timeout: float = 5.0) -> None:
        with self._guard:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._take(*item)
            except Exception:
                log.warning("snapshot.not_taken", exc_info=True)
            finally:
                self._queue.task_done()
