"""Who looked at which patient's record, when, and why: the read-access log.

HIPAA's audit-controls standard asks for a record of access, not only of
changes. Every read through the API is put on a queue and written by one
background thread in batches, so a read never waits for the log; ``close``
drains the queue before the process exits, so a clean shutdown loses nothing.
Entries are only ever inserted: the API offers no way to change or delete one.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from projections.store import ViewStore

log = structlog.get_logger(__name__)

_COLUMNS = """
    at TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    role TEXT NOT NULL,
    care_plan_id TEXT,
    method TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER NOT NULL,
    purpose TEXT,
    request_id TEXT"""
_CREATE = "CREATE TABLE IF NOT EXISTS careplan_access_log"
SQLITE_TABLE = f"{_CREATE} (id INTEGER PRIMARY KEY AUTOINCREMENT,{_COLUMNS})"
POSTGRES_TABLE = f"{_CREATE} (id BIGSERIAL PRIMARY KEY,{_COLUMNS})"
# Auditors ask "who opened this patient's record", newest first.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS careplan_access_log_plan ON careplan_access_log (care_plan_id, id)",
    "CREATE INDEX IF NOT EXISTS careplan_access_log_actor ON careplan_access_log (actor_id, id)",
]
INSERT = """
INSERT INTO careplan_access_log
    (at, actor_id, role, care_plan_id, method, endpoint, status, purpose, request_id)
VALUES (%(at)s, %(actor_id)s, %(role)s, %(care_plan_id)s, %(method)s, %(endpoint)s, %(status)s,
        %(purpose)s, %(request_id)s)"""
BATCH = 500
#: Seconds between writes, at least (see AccessLog._write).
PAUSE = 0.05


@dataclass(frozen=True)
class Access:
    """One read: the route template (not the URL) names the endpoint."""

    actor_id: str
    role: str
    care_plan_id: str | None
    method: str
    endpoint: str
    status: int
    purpose: str | None
    request_id: str | None
    at: str = ""


class AccessLog:
    def __init__(self, store: ViewStore) -> None:
        self.store = store
        store.create_tables([SQLITE_TABLE if store.is_sqlite else POSTGRES_TABLE, *INDEXES])
        # SimpleQueue: a put costs a fraction of Queue's (no condition variables), and
        # it is made on every read.
        self._queue: queue.SimpleQueue[Access | _Marker | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="access-log", daemon=True)
        self._writer.start()

    def record(self, access: Access) -> None:
        """Called on the request path: only enqueues."""
        self._queue.put(replace(access, at=_now()))

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything recorded so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=30)

    def _write(self) -> None:
        """Write what is queued, at most every ``PAUSE`` seconds: under load each write
        then carries many reads (a transaction per read or two cost a tenth of the
        server's CPU at 500 reads/s). A flush or close is not kept waiting."""
        last = 0.0
        while True:
            batch = [self._queue.get()]
            deadline = last + PAUSE
            while len(batch) < BATCH and isinstance(batch[-1], Access):
                remaining = deadline - time.monotonic()
                try:
                    batch.append(
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            last = time.monotonic()
            entries = [a for a in batch if isinstance(a, Access)]
            if entries:
                self._insert(entries)
            for item in batch:
                if isinstance(item, _Marker):
                    item.done.set()
            if None in batch:
                return

    def _insert(self, entries: list[Access]) -> None:
        try:
            with self.store.transaction() as sql:
                for entry in entries:
                    sql.defer(INSERT, vars(entry))  # one executemany: one round trip
                sql.flush()
        except Exception:
            # Never silently: the reads happened; the log says they could not be logged.
            log.exception("access_log.write_failed", entries=len(entries))

    def entries(
        self,
        *,
        care_plan_id: str | None = None,
        actor_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; ``before_id`` pages on."""
        clauses, params = [], {"limit": limit}
        for column, value in (("care_plan_id", care_plan_id), ("actor_id", actor_id)):
            if value is not None:
                clauses.append(f"{column} = %({column})s")
                params[column] = value
        if before_id is not None:
            clauses.append("id < %(before_id)s")
            params["before_id"] = before_id
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.store.reading() as sql:
            return sql.execute(
                f"SELECT * FROM careplan_access_log {where} ORDER BY id DESC LIMIT %(limit)s",  # noqa: S608 (fixed column names)
                params,
            ).fetchall()


@dataclass(frozen=True)
class _Marker:
    done: threading.Event


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
