"""The library's application recorders, writing each event's link in the same
transaction as the event (PostgreSQL and SQLite alike): an event is never stored
without its link, nor a link without its event.

They also keep the ``traceparent`` of the request that wrote an event
(``services.tracing``), by notification id, in the same transaction: per-event
metadata outside the payload, so events and their schemas do not change.

Selected through the library's ``APPLICATION_RECORDER_TOPIC`` setting (see
``services.store``). The previous link is read inside the transaction; a writer
racing for the same version fails on the events' primary key and rolls back its
link with it, so a chain never forks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

from services.chain.links import GENESIS, link
from services.with_the_events import SAVEPOINT, WithTheEvents, undo, work_for_this_insert

#: The link before each plan's first new event, by (plan, version).
Heads = dict[tuple[str, int], str]

CHAIN_TABLE = "careplan_event_chain"
TRACE_TABLE = "careplan_event_trace"
SQLITE_PREVIOUS = (
    "SELECT link FROM careplan_event_chain WHERE originator_id = ? AND originator_version = ?"
)
SQLITE_INSERT = (
    "INSERT OR IGNORE INTO careplan_event_chain (originator_id, originator_version, link) "
    "VALUES (?, ?, ?)"
)
SQLITE_TRACE_INSERT = (
    "INSERT INTO careplan_event_trace (notification_id, traceparent) VALUES (?, ?)"
)
SQLITE_TRACE_SELECT = (
    "SELECT notification_id, traceparent FROM careplan_event_trace "
    "WHERE notification_id > ? AND notification_id <= ?"
)


def _links(
    stored_events: Sequence[StoredEvent],
    previous_of: Callable[[str, int], str | None],
    earlier: Callable[[str, int], list[tuple[int, str, bytes]]],
) -> list[tuple[str, int, str]]:
    """(plan, version, link) for each event, chaining events of one batch together.

    A plan stored before the chain existed has no link for its previous version:
    its earlier events are chained first (from their stored rows, in the same
    transaction), so its chain is whole from version 1 on."""
    heads: dict[str, str] = {}
    rows = []
    for event in stored_events:
        plan = str(event.originator_id)
        if plan not in heads:
            before = event.originator_version - 1
            head = GENESIS if before < 1 else previous_of(plan, before)
            if head is None:
                head = GENESIS
                for version, topic, state in earlier(plan, before):
                    head = link(head, plan, version, topic, state)
                    rows.append((plan, version, head))
            heads[plan] = head
        heads[plan] = link(heads[plan], plan, event.originator_version, event.topic, event.state)
        rows.append((plan, event.originator_version, heads[plan]))
    return rows


class PostgresChainedRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table = Identifier(self.datastore.schema, CHAIN_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {table} ("
                "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                "link char(64) NOT NULL, PRIMARY KEY (originator_id, originator_version))"
            ).format(table=self.chain_table)
        )
        self.trace_table = Identifier(self.datastore.schema, TRACE_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {table} ("
                "notification_id bigint PRIMARY KEY, traceparent text NOT NULL)"
            ).format(table=self.trace_table)
        )
        self._sql = _Statements.for_recorder(self)

    def traceparents(self, after: int, upto: int) -> dict[int, str]:
        """The traceparents stored for notifications ``after`` < id <= ``upto``."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL(
                    "SELECT notification_id, traceparent FROM {table} "
                    "WHERE notification_id > %s AND notification_id <= %s"
                ).format(table=self.trace_table),
                (after, upto),
            )
            return {int(r["notification_id"]): str(r["traceparent"]) for r in curs.fetchall()}

    def _heads(self, chain: Any, stored_events: Sequence[StoredEvent]) -> Callable[[], Heads]:
        """Send the query for the link before the first new event of each plan (one
        query for a group commit's batch of many plans); the function returned reads
        the answer."""
        before: dict[str, int] = {}
        for event in stored_events:
            before.setdefault(str(event.originator_id), event.originator_version - 1)
        wanted = [(plan, version) for plan, version in before.items() if version >= 1]
        if not wanted:
            return dict
        chain.execute(
            self._sql.heads,
            (array(plan for plan, _ in wanted), array(version for _, version in wanted)),
        )
        return lambda: {
            (str(row["originator_id"]), int(row["originator_version"])): str(row["link"])
            for row in chain.fetchall()
        }

    def _earlier(self, cursor: Any) -> Callable[[str, int], list[tuple[int, str, bytes]]]:
        """Events of a plan stored before the chain existed (rare: one query each)."""

        def earlier(plan: str, version: int) -> list[tuple[int, str, bytes]]:
            cursor.execute(self._sql.earlier, (UUID(plan), version))
            return [
                (r["originator_version"], r["topic"], bytes(r["state"])) for r in cursor.fetchall()
            ]

        return earlier

    def _send_with_the_events(
        self,
        cursor: Any,
        links: list[tuple[str, int, str]],
        ids: Sequence[int],
        traceparents: Sequence[str | None],
    ) -> None:
        """The events' links and traces (each one statement over arrays, whatever
        the batch's size), and the notification that the log grew, which names its
        new head so that a listener need not ask (``projections.notifier``)."""
        cursor.execute(
            self._sql.links,
            (
                array(plan for plan, _, _ in links),
                array(version for _, version, _ in links),
                array(value for _, _, value in links),
            ),
        )
        cursor.execute("SELECT pg_notify(%s, %s)", (self.channel_name, str(max(ids))))
        traced = [(i, t) for i, t in zip(ids, traceparents, strict=False) if t]
        if traced:
            cursor.execute(
                self._sql.traces,
                (array(i for i, _ in traced), quoted_array(t for _, t in traced)),
            )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert (its table lock and statement, and its notification,
        here with a payload), with the events' links, their traces and the work set
        for this insert (``services.with_the_events``) in the same transaction.

        Every command waits on this with the table lock held, so it is two round
        trips: the events, the heads of their chains, the savepoint and the work's
        claim travel together; the links, traces, the work's writes and the commit
        travel together. A failure in the second undoes it to the savepoint, sends
        the links and traces again and commits the events without the work.
        """
        if self.datastore.enable_db_functions:
            msg = "the chained recorder writes links beside the insert; no db functions"
            raise ProgrammingError(msg)
        if not stored_events:
            return []
        work = work_for_this_insert()
        with self.datastore.get_connection() as conn:
            try:
                return self._insert_in_pipeline(conn, stored_events, work, kwargs)
            finally:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")

    def _insert_in_pipeline(
        self,
        conn: Any,
        stored_events: Sequence[StoredEvent],
        work: WithTheEvents | None,
        kwargs: dict[str, Any],
    ) -> list[int]:
        with conn.pipeline() as pipeline:
            statements = conn.cursor()
            ids, heads, last_before, work = self._first_trip(
                conn, pipeline, statements, stored_events, work
            )
            links = _links(
                stored_events, lambda plan, v: heads.get((plan, v)), self._earlier(conn.cursor())
            )
            traceparents = kwargs.get("traceparents") or []
            self._send_with_the_events(statements, links, ids, traceparents)
            if work is not None:
                try:
                    work.write(conn.cursor(), ids, last_before)
                except Exception:
                    undo(work)
                    with suppress(psycopg.Error):
                        pipeline.sync()  # what was sent before the defect: undone below
                    self._commit_without_work(conn, pipeline, links, ids, traceparents)
                    return ids
            statements.execute("COMMIT")
            try:
                pipeline.sync()
            except psycopg.Error:
                if work is None or conn.info.transaction_status != TransactionStatus.INERROR:
                    raise  # nothing to undo to, or the commit itself failed
                undo(work)
                self._commit_without_work(conn, pipeline, links, ids, traceparents)
        return ids

    def _first_trip(
        self,
        conn: Any,
        pipeline: Any,
        statements: Any,
        stored_events: Sequence[StoredEvent],
        work: WithTheEvents | None,
    ) -> tuple[list[int], Heads, int, WithTheEvents | None]:
        """Lock, insert (which answers the last event before these too), ask for the
        chains' heads, take the savepoint and send the work's claim: one round trip.
        The new ids, the heads, the last id before, and the work unless it failed."""
        statements.execute("BEGIN")
        for lock_statement in self._sql.lock:
            statements.execute(lock_statement, prepare=True)
        inserted = conn.cursor()
        inserted.execute(
            self._sql.insert,
            (
                quoted_array(str(e.originator_id) for e in stored_events),
                array(e.originator_version for e in stored_events),
                quoted_array(e.topic for e in stored_events),
                quoted_array("\\x" + e.state.hex() for e in stored_events),
            ),
        )
        heads = self._heads(conn.cursor(), stored_events)
        saved = conn.cursor()  # a result on it: everything before it went in
        if work is not None:
            saved.execute(f"SAVEPOINT {SAVEPOINT}")
            try:
                work.claim(conn.cursor())
            except Exception:
                undo(work)
                work = None
        try:
            pipeline.sync()
        except psycopg.Error:
            if work is None or saved.pgresult is None:
                raise  # the events' own part failed: the caller's error
            undo(work)  # its claim failed
            work = None
            statements.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            pipeline.sync()
        rows = inserted.fetchall()
        ids = [row["notification_id"] for row in rows]
        if len(ids) != len(stored_events):
            msg = f"Couldn't get all notification IDs ({len(ids)} of {len(stored_events)})"
            raise ProgrammingError(msg)
        last_before = int(rows[0]["last_before"] or 0)
        return ids, heads(), last_before, work

    def _commit_without_work(
        self,
        conn: Any,
        pipeline: Any,
        links: list[tuple[str, int, str]],
        ids: Sequence[int],
        traceparents: Sequence[str | None],
    ) -> None:
        """Undo the work to its savepoint, send the links and traces again (they were
        sent after it), and commit the events."""
        statements = conn.cursor()
        statements.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        self._send_with_the_events(statements, links, ids, traceparents)
        statements.execute("COMMIT")
        pipeline.sync()


def array(values: Iterable[object]) -> str:
    """A PostgreSQL array literal of values that need no quoting (ids, numbers, hex
    digests): psycopg adapts a list parameter element by element in Python, at a
    few times the cost of the statement's other work on the client."""
    return "{" + ",".join(map(str, values)) + "}"


def quoted_array(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of any strings, each quoted and escaped."""
    return "{" + ",".join(_quoted(value) for value in values) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class _Statements:
    """The statements of an insert, rendered once: psycopg renders a composed
    statement (quoting its identifiers) and parses its placeholders on every
    execution, but parses a plain one once and caches it. Arrays travel as
    literals (``array``): the events as four of them rather than as the library's
    composite type, which psycopg adapts field by field in Python."""

    lock: list[str]
    insert: str
    heads: str
    earlier: str
    links: str
    traces: str

    @classmethod
    def for_recorder(cls, recorder: PostgresChainedRecorder) -> _Statements:
        chain, trace = recorder.chain_table, recorder.trace_table
        events = Identifier(recorder.datastore.schema, recorder.events_table_name)
        return cls(
            lock=[statement.as_string() for statement in recorder.lock_table_statements],
            # Under the table lock: the statement's snapshot holds every event
            # before these and none of these, so ``last`` is the last before them.
            insert=SQL(
                "WITH last AS (SELECT max(notification_id) AS id FROM {events}) "
                "INSERT INTO {events} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[]) "
                "RETURNING notification_id, (SELECT id FROM last) AS last_before"
            )
            .format(events=events, id_type=Identifier(recorder.datastore.originator_id_type))
            .as_string(),
            heads=SQL(
                "SELECT c.originator_id, c.originator_version, c.link FROM {table} c "
                "JOIN unnest(%s::uuid[], %s::bigint[]) AS w(plan, version) "
                "ON c.originator_id = w.plan AND c.originator_version = w.version"
            )
            .format(table=chain)
            .as_string(),
            earlier=SQL(
                "SELECT originator_version, topic, state FROM {events} "
                "WHERE originator_id = %s AND originator_version <= %s "
                "ORDER BY originator_version"
            )
            .format(events=events)
            .as_string(),
            links=SQL(
                "INSERT INTO {table} (originator_id, originator_version, link) "
                "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::char(64)[]) "
                "ON CONFLICT DO NOTHING"
            )
            .format(table=chain)
            .as_string(),
            traces=SQL(
                "INSERT INTO {table} (notification_id, traceparent) "
                "SELECT * FROM unnest(%s::bigint[], %s::text[])"
            )
            .format(table=trace)
            .as_string(),
        )


class SQLiteChainedRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "link TEXT NOT NULL, PRIMARY KEY (originator_id, originator_version))",
            f"CREATE TABLE IF NOT EXISTS {TRACE_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, traceparent TEXT NOT NULL)",
        ]

    def traceparents(self, after: int, upto: int) -> dict[int, str]:
        """The traceparents stored for notifications ``after`` < id <= ``upto``."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_TRACE_SELECT, (after, upto))
            return {int(r[0]): str(r[1]) for r in c.fetchall()}

    def _insert_events(
        self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)

        def previous_of(plan: str, version: int) -> str | None:
            c.execute(SQLITE_PREVIOUS, (UUID(plan).hex, version))
            row = c.fetchone()
            return str(row[0]) if row else None

        def earlier(plan: str, version: int) -> list[tuple[int, str, bytes]]:
            c.execute(
                f"SELECT originator_version, topic, state FROM {self.events_table_name} "  # noqa: S608 (the library's table)
                "WHERE originator_id = ? AND originator_version <= ? ORDER BY originator_version",
                (UUID(plan).hex, version),
            )
            return [(int(r[0]), str(r[1]), bytes(r[2])) for r in c.fetchall()]

        for plan, version, value in _links(stored_events, previous_of, earlier):
            c.execute(SQLITE_INSERT, (UUID(plan).hex, version, value))
        for notification_id, traceparent in zip(
            ids or [], kwargs.get("traceparents") or [], strict=False
        ):
            if traceparent:
                c.execute(SQLITE_TRACE_INSERT, (notification_id, traceparent))

        work = work_for_this_insert()
        if work is not None and ids:
            c.execute(
                f"SELECT max(rowid) FROM {self.events_table_name} WHERE rowid < ?",  # noqa: S608 (the library's table)
                (min(ids),),
            )
            row = c.fetchone()
            last_before = int(row[0]) if row and row[0] is not None else 0
            c.execute(f"SAVEPOINT {SAVEPOINT}")
            try:
                work.claim(c)
                work.write(c, ids, last_before)
            except Exception:
                undo(work)
                c.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            c.execute(f"RELEASE SAVEPOINT {SAVEPOINT}")
        return ids
