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

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

from services.chain.links import GENESIS, ChainBroken, link
from services.exactly_once import CommandOutcome, CommitUnconfirmed
from services.with_the_events import SAVEPOINT, WithTheEvents, undo, work_for_this_insert

log = structlog.get_logger(__name__)

#: The link before each plan's first new event, by (plan, version).
Heads = dict[tuple[str, int], str]

CHAIN_TABLE = "careplan_event_chain"
TRACE_TABLE = "careplan_event_trace"
OUTCOME_TABLE = "careplan_command_outcomes"
#: Tries at an insert across lost connections, and the wait between them (the
#: library's own retry: ten tries, a fifth of a second apart).
CONNECTION_ATTEMPTS = 10
CONNECTION_RETRY_WAIT = 0.2
#: Seconds a command's insert keeps trying across lost connections, at most.
RETRY_WINDOW = 5.0
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
SQLITE_OUTCOME_INSERT = (
    "INSERT INTO careplan_command_outcomes (actor_id, idempotency_key, care_plan_id, result) "
    "VALUES (?, ?, ?, ?)"
)
SQLITE_OUTCOME_SELECT = (
    "SELECT result FROM careplan_command_outcomes WHERE actor_id = ? AND idempotency_key = ?"
)
SQLITE_TRACE_SELECT = (
    "SELECT notification_id, traceparent FROM careplan_event_trace "
    "WHERE notification_id > ? AND notification_id <= ?"
)


def _links(
    stored_events: Sequence[StoredEvent],
    previous_of: Callable[[str, int], str | None],
    key: bytes | None,
) -> list[tuple[str, int, str]]:
    """(plan, version, link) for each event, chaining events of one batch together.

    A plan whose chain has no link for the event before these is broken (a link was
    deleted, or the plan was stored before the chain existed and never backfilled):
    ``ChainBroken``, and nothing is stored. Re-chaining it from the stored rows
    would bless whatever they now hold."""
    heads: dict[str, str] = {}
    rows = []
    for event in stored_events:
        plan = str(event.originator_id)
        if plan not in heads:
            before = event.originator_version - 1
            head = GENESIS if before < 1 else previous_of(plan, before)
            if head is None:
                raise ChainBroken(plan, before)
            heads[plan] = head
        heads[plan] = link(
            heads[plan], plan, event.originator_version, event.topic, event.state, key
        )
        rows.append((plan, event.originator_version, heads[plan]))
    return rows


class PostgresChainedRecorder(PostgresApplicationRecorder):
    #: The chain key (bootstrap sets it from the settings; None: unkeyed SHA-256).
    chain_key: bytes | None = None

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
        self.outcome_table = Identifier(self.datastore.schema, OUTCOME_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {table} ("
                "actor_id text NOT NULL, idempotency_key text NOT NULL, "
                "care_plan_id text NOT NULL, result text NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (actor_id, idempotency_key))"
            ).format(table=self.outcome_table)
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

    def _send_with_the_events(
        self,
        cursor: Any,
        links: list[tuple[str, int, str]],
        ids: Sequence[int],
        traceparents: Sequence[str | None],
        outcomes: Sequence[CommandOutcome] = (),
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
        if outcomes:  # keyed commands only: few, and psycopg adapts these lists itself
            cursor.execute(
                self._sql.outcomes,
                (
                    [o.actor_id for o in outcomes],
                    [o.key for o in outcomes],
                    [o.care_plan_id for o in outcomes],
                    [o.result for o in outcomes],
                ),
            )

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert (its table lock and statement, and its notification,
        here with a payload), with the events' links, their traces, the results of
        keyed commands and the work set for this insert
        (``services.with_the_events``) in the same transaction.

        A lost connection is tried again, as the library does, but the events are
        looked for first: a commit whose acknowledgement was lost did happen, and
        its events, found byte for byte, are not stored a second time. If the commit
        was sent and the store stays out of reach, nobody can say whether it
        happened: ``CommitUnconfirmed``.
        """
        if self.datastore.enable_db_functions:
            msg = "the chained recorder writes links beside the insert; no db functions"
            raise ProgrammingError(msg)
        if not stored_events:
            return []
        commit_sent = _Flag()
        failure: Exception | None = None
        deadline = time.monotonic() + RETRY_WINDOW
        for attempt in range(CONNECTION_ATTEMPTS):
            try:
                if failure is not None:
                    time.sleep(CONNECTION_RETRY_WAIT * min(attempt, 3))
                    ids = self._stored_as_sent(stored_events, deadline) if commit_sent.up else None
                    if ids is not None:
                        return self._recognised(stored_events, ids)
                return self._insert_once(stored_events, kwargs, commit_sent, deadline)
            except (InterfaceError, OperationalError) as error:
                failure = error
                log.warning("event_store.connection_lost", attempt=attempt + 1, error=str(error))
            if time.monotonic() >= deadline:
                break
        if commit_sent.up:
            raise CommitUnconfirmed(str(failure)) from failure
        assert failure is not None
        raise failure

    def _insert_once(
        self,
        stored_events: Sequence[StoredEvent],
        kwargs: dict[str, Any],
        commit_sent: _Flag,
        deadline: float,
    ) -> list[int]:
        """Two round trips: the events, the heads of their chains, the savepoint and
        the work's claim travel together; the links, traces, outcomes, the work's
        writes and the commit travel together. A failure in the second undoes it to
        the savepoint, sends the links again and commits the events without the work.
        """
        work = work_for_this_insert()
        with self._pooled(deadline) as conn:
            try:
                return self._insert_in_pipeline(conn, stored_events, work, kwargs, commit_sent)
            finally:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")

    @contextmanager
    def _pooled(self, deadline: float) -> Iterator[Any]:
        """A pooled connection, waited for until ``deadline`` at most (the library
        waits its whole connect timeout, every try: a store that is down would hold
        a command for minutes), its errors the library's own."""
        self.datastore.pool.open(wait=False)
        timeout = max(0.1, min(deadline - time.monotonic(), self.datastore.pool.timeout))
        try:
            with self.datastore.pool.connection(timeout=timeout) as conn:
                yield conn
        except psycopg.InterfaceError as error:
            raise InterfaceError(str(error)) from error
        except psycopg.OperationalError as error:
            raise OperationalError(str(error)) from error
        except psycopg.IntegrityError as error:
            raise IntegrityError(str(error)) from error
        except psycopg.Error as error:
            raise PersistenceError(str(error)) from error

    def _stored_as_sent(
        self, stored_events: Sequence[StoredEvent], deadline: float
    ) -> list[int] | None:
        """The notification ids of these very events if they are stored (all of them,
        byte for byte), else None. Under the insert's table lock, so a commit still
        in flight on a lost connection has finished, one way or the other."""
        plans = [str(e.originator_id) for e in stored_events]
        versions = [e.originator_version for e in stored_events]
        with self._pooled(deadline) as conn, conn.transaction(force_rollback=True):
            curs = conn.cursor()
            for lock_statement in self._sql.lock:
                curs.execute(lock_statement)
            curs.execute(self._sql.stored, (quoted_array(plans), array(versions)))
            rows = {
                (str(r["originator_id"]), int(r["originator_version"])): r for r in curs.fetchall()
            }
        ids = []
        for event in stored_events:
            row = rows.get((str(event.originator_id), event.originator_version))
            if row is None or row["topic"] != event.topic or bytes(row["state"]) != event.state:
                return None  # not ours, or not there: the insert will tell which
            ids.append(int(row["notification_id"]))
        return ids

    def _recognised(self, stored_events: Sequence[StoredEvent], ids: list[int]) -> list[int]:
        work = work_for_this_insert()
        if work is not None:
            work.undone()  # maybe written with them, maybe not: the catch-up will see
        log.warning(
            "event_store.commit_recognised",
            events=len(stored_events),
            detail="the commit happened; its acknowledgement was lost",
        )
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=CONNECTION_ATTEMPTS, wait=0.2)
    def command_outcome(self, actor_id: str, key: str) -> str | None:
        """The stored result of a keyed command, waiting for an insert in flight (a
        pooled connection lost meanwhile is tried again, like the library's reads)."""
        with self.datastore.transaction(commit=False) as curs:
            for lock_statement in self._sql.lock:
                curs.execute(lock_statement)
            curs.execute(self._sql.outcome, (actor_id, key))
            row = curs.fetchone()
        return None if row is None else str(row["result"])

    def _insert_in_pipeline(
        self,
        conn: Any,
        stored_events: Sequence[StoredEvent],
        work: WithTheEvents | None,
        kwargs: dict[str, Any],
        commit_sent: _Flag,
    ) -> list[int]:
        with conn.pipeline() as pipeline:
            statements = conn.cursor()
            ids, heads, last_before, work = self._first_trip(
                conn, pipeline, statements, stored_events, work
            )
            links = _links(stored_events, lambda plan, v: heads.get((plan, v)), self.chain_key)
            traceparents = kwargs.get("traceparents") or []
            outcomes = kwargs.get("outcomes") or []
            sent = (links, ids, traceparents, outcomes)
            self._send_with_the_events(statements, *sent)
            if work is not None:
                try:
                    work.write(conn.cursor(), ids, last_before)
                except Exception:
                    undo(work)
                    with suppress(psycopg.Error):
                        pipeline.sync()  # what was sent before the defect: undone below
                    self._commit_without_work(conn, pipeline, sent, commit_sent)
                    return ids
            statements.execute("COMMIT")
            commit_sent.up = True
            try:
                pipeline.sync()
            except psycopg.Error:
                if work is None or conn.info.transaction_status != TransactionStatus.INERROR:
                    raise  # nothing to undo to, or the commit itself failed
                undo(work)
                self._commit_without_work(conn, pipeline, sent, commit_sent)
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
        self, conn: Any, pipeline: Any, sent: tuple[Any, ...], commit_sent: _Flag
    ) -> None:
        """Undo the work to its savepoint, send the links, traces and outcomes again
        (they were sent after it), and commit the events."""
        statements = conn.cursor()
        statements.execute(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
        self._send_with_the_events(statements, *sent)
        statements.execute("COMMIT")
        commit_sent.up = True
        pipeline.sync()


class _Flag:
    """Set once the COMMIT of an insert has gone out (a lost answer is then unknown)."""

    up = False


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
    links: str
    traces: str
    outcomes: str
    outcome: str
    stored: str

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
            outcomes=SQL(
                "INSERT INTO {table} (actor_id, idempotency_key, care_plan_id, result) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
            )
            .format(table=recorder.outcome_table)
            .as_string(),
            outcome=SQL("SELECT result FROM {table} WHERE actor_id = %s AND idempotency_key = %s")
            .format(table=recorder.outcome_table)
            .as_string(),
            stored=SQL(
                "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
                "e.state FROM {events} e "
                "JOIN unnest(%s::uuid[], %s::bigint[]) AS w(plan, version) "
                "ON e.originator_id = w.plan AND e.originator_version = w.version"
            )
            .format(events=events)
            .as_string(),
        )


class SQLiteChainedRecorder(SQLiteApplicationRecorder):
    #: The chain key (bootstrap sets it from the settings; None: unkeyed SHA-256).
    chain_key: bytes | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "link TEXT NOT NULL, PRIMARY KEY (originator_id, originator_version))",
            f"CREATE TABLE IF NOT EXISTS {TRACE_TABLE} ("
            "notification_id INTEGER PRIMARY KEY, traceparent TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {OUTCOME_TABLE} ("
            "actor_id TEXT NOT NULL, idempotency_key TEXT NOT NULL, care_plan_id TEXT NOT NULL, "
            "result TEXT NOT NULL, recorded_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
            "PRIMARY KEY (actor_id, idempotency_key))",
        ]

    def command_outcome(self, actor_id: str, key: str) -> str | None:
        """The stored result of a keyed command (SQLite writes one at a time)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(SQLITE_OUTCOME_SELECT, (actor_id, key))
            row = c.fetchone()
        return None if row is None else str(row[0])

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

        for plan, version, value in _links(stored_events, previous_of, self.chain_key):
            c.execute(SQLITE_INSERT, (UUID(plan).hex, version, value))
        for notification_id, traceparent in zip(
            ids or [], kwargs.get("traceparents") or [], strict=False
        ):
            if traceparent:
                c.execute(SQLITE_TRACE_INSERT, (notification_id, traceparent))
        for outcome in kwargs.get("outcomes") or []:
            c.execute(
                SQLITE_OUTCOME_INSERT,
                (outcome.actor_id, outcome.key, outcome.care_plan_id, outcome.result),
            )

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
