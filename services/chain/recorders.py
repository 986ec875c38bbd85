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

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from services.chain.links import GENESIS, link
from services.with_the_events import run_with_the_events

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

    def _heads(
        self, chain: Any, stored_events: Sequence[StoredEvent]
    ) -> dict[tuple[str, int], str]:
        """The link before the first new event of each plan, in one query (a group
        commit's batch holds many plans; the table lock is held meanwhile)."""
        before: dict[str, int] = {}
        for event in stored_events:
            before.setdefault(str(event.originator_id), event.originator_version - 1)
        wanted = [(UUID(plan), version) for plan, version in before.items() if version >= 1]
        if not wanted:
            return {}
        chain.execute(
            SQL(
                "SELECT c.originator_id, c.originator_version, c.link FROM {table} c "
                "JOIN unnest(%s::uuid[], %s::bigint[]) AS w(plan, version) "
                "ON c.originator_id = w.plan AND c.originator_version = w.version"
            ).format(table=self.chain_table),
            ([plan for plan, _ in wanted], [version for _, version in wanted]),
        )
        return {
            (str(row["originator_id"]), int(row["originator_version"])): str(row["link"])
            for row in chain.fetchall()
        }

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's hook that runs once the events are in (their key checked, the
        table lock held) and before commit: the links go in the same transaction. A
        writer that lost the race for a version has failed on the events' key before
        reaching here, so links never conflict and never fork."""
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        with curs.connection.cursor() as chain:
            heads = self._heads(chain, stored_events)

            def previous_of(plan: str, version: int) -> str | None:
                return heads.get((plan, version))

            def earlier(plan: str, version: int) -> list[tuple[int, str, bytes]]:
                chain.execute(
                    SQL(
                        "SELECT originator_version, topic, state FROM {events} "
                        "WHERE originator_id = %s AND originator_version <= %s "
                        "ORDER BY originator_version"
                    ).format(events=Identifier(self.datastore.schema, self.events_table_name)),
                    (UUID(plan), version),
                )
                return [
                    (r["originator_version"], r["topic"], bytes(r["state"]))
                    for r in chain.fetchall()
                ]

            rows = _links(stored_events, previous_of, earlier)
            chain.executemany(
                SQL(
                    "INSERT INTO {table} (originator_id, originator_version, link) "
                    "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                ).format(table=self.chain_table),
                [(UUID(plan), version, value) for plan, version, value in rows],
            )
            traced = [
                (notification_id, traceparent)
                for notification_id, traceparent in zip(
                    ids or [], kwargs.get("traceparents") or [], strict=False
                )
                if traceparent
            ]
            if traced:
                chain.executemany(
                    SQL(
                        "INSERT INTO {table} (notification_id, traceparent) VALUES (%s, %s)"
                    ).format(table=self.trace_table),
                    traced,
                )

            def last_before() -> Callable[[], int]:
                # Its own cursor: the question is sent now and read after the
                # caller's next query on ``chain`` has been answered with it.
                asking = curs.connection.cursor()
                asking.execute(
                    SQL(
                        "SELECT max(notification_id) AS last FROM {events} "
                        "WHERE notification_id < %s"
                    ).format(events=Identifier(self.datastore.schema, self.events_table_name)),
                    (min(ids or [0]),),
                )

                def answer() -> int:
                    with asking:
                        row = asking.fetchone()
                    return int(row["last"]) if row and row["last"] is not None else 0

                return answer

            run_with_the_events(chain, ids, last_before)
        return ids


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

        def last_before() -> Callable[[], int]:
            c.execute(
                f"SELECT max(rowid) FROM {self.events_table_name} WHERE rowid < ?",  # noqa: S608 (the library's table)
                (min(ids or [0]),),
            )
            row = c.fetchone()
            last = int(row[0]) if row and row[0] is not None else 0
            return lambda: last

        run_with_the_events(c, ids, last_before)
        return ids
