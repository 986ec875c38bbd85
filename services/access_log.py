"""Who looked at which patient's record, when, and why: the read-access log.

HIPAA's audit-controls standard asks for a record of access, not only of
changes. A read is answered only once its entry is stored: every read awaits its
entry, and whatever entries wait together are written in one statement (readers
arriving during a write go in the next: a group commit, so the log costs a read
one commit's wait, not one transaction of its own). On PostgreSQL that happens on
the event loop (``services.access_log_on_the_loop``); on SQLite, and for callers
off the loop (``record``), one background thread writes. An entry that cannot be
stored refuses its read (503), never serves it unlogged; a batch that fails is
retried entry by entry, so one bad entry costs no other. Entries are only ever
inserted: the API offers no way to change or delete one.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from projections.store import ViewStore
from services.access_log_on_the_loop import LoopWriter

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
_FIELDS = (
    "at",
    "actor_id",
    "role",
    "care_plan_id",
    "method",
    "endpoint",
    "status",
    "purpose",
    "request_id",
)
POSTGRES_INSERT = """
INSERT INTO careplan_access_log
    (at, actor_id, role, care_plan_id, method, endpoint, status, purpose, request_id)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::integer[], %s::text[], %s::text[])"""
BATCH = 500
# Characters no log column may hold (NUL cannot even be stored in PostgreSQL).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
        self._queue: queue.SimpleQueue[_Pending | _Marker | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="access-log", daemon=True)
        self._writer.start()
        self._on_the_loop = (
            None
            if store.is_sqlite
            else LoopWriter(POSTGRES_INSERT, _columns, _connect_kwargs(store))
        )

    async def stored(self, access: Access) -> bool:
        """Called on the request path, on the event loop: True once the entry is
        stored, False if it could not be (the read must then be refused)."""
        entry = _clean(replace(access, at=_now()))
        if self._on_the_loop is not None:
            return await self._on_the_loop.stored(entry)
        return await asyncio.wrap_future(self._queued(entry))

    def record(self, access: Access) -> Future[bool]:
        """Called on the request path: the answer is True once the entry is stored,
        False if it could not be (the read must then be refused)."""
        return self._queued(_clean(replace(access, at=_now())))

    def _queued(self, entry: Access) -> Future[bool]:
        stored: Future[bool] = Future()
        self._queue.put(_Pending(entry, stored))
        return stored

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything recorded so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(_Marker(done))
        done.wait(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=30)

    async def aclose(self) -> None:
        """On the loop, at shutdown: the loop's writer, then the thread's."""
        if self._on_the_loop is not None:
            await self._on_the_loop.close()
        await asyncio.to_thread(self.close)

    def _write(self) -> None:
        """Write whatever has queued, at once: readers wait for their entry, so there is
        no pause to gather more; those arriving during a write make the next batch."""
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            pending = [item for item in batch if isinstance(item, _Pending)]
            if pending:
                self._store(pending)
            for item in batch:
                if isinstance(item, _Marker):
                    item.done.set()
            if None in batch:
                return

    def _store(self, pending: list[_Pending]) -> None:
        """The batch in one transaction; if that fails, each entry on its own, so a
        bad one (or a connection lost mid-batch) costs no other."""
        try:
            self._insert([item.access for item in pending])
        except Exception:
            log.warning("access_log.batch_failed", entries=len(pending), exc_info=True)
        else:
            for item in pending:
                item.stored.set_result(True)
            return
        for item in pending:
            try:
                self._insert([item.access])
            except Exception:
                # Never silently: the read is refused, and the log says why.
                log.exception("access_log.write_failed", endpoint=item.access.endpoint)
                item.stored.set_result(False)
            else:
                item.stored.set_result(True)

    def _insert(self, entries: list[Access]) -> None:
        if self.store.is_sqlite:
            with self.store.transaction() as sql:
                for entry in entries:
                    sql.defer(INSERT, vars(entry))
            return
        # PostgreSQL: one statement over arrays on an autocommit connection, whatever
        # the batch's size: one round trip and a third of a transaction's CPU, which
        # the read path shares (the GIL) at hundreds of reads a second.
        with self.store.datastore.get_connection() as connection:
            connection.execute(POSTGRES_INSERT, _columns(entries))

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


@dataclass(frozen=True)
class _Pending:
    access: Access
    stored: Future[bool]


def _clean(access: Access) -> Access:
    """No control character reaches the table, whatever a request carried."""
    texts = {
        name: _CONTROL.sub("", value)[:200]
        for name, value in vars(access).items()
        if isinstance(value, str)
    }
    return replace(access, **texts)


def _columns(entries: Sequence[Access]) -> list[list[Any]]:
    """The entries as one array per column, for POSTGRES_INSERT."""
    return [[getattr(entry, name) for entry in entries] for name in _FIELDS]


def _connect_kwargs(store: ViewStore) -> dict[str, Any]:
    """The views' own database and credentials, for the loop's connection."""
    kwargs = dict(store.datastore.pool.kwargs)
    kwargs.pop("row_factory", None)
    return kwargs


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
