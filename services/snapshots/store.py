"""Where snapshots are kept: a table of their own, next to the events and never in
them. Nothing else reads this table, the hash chain does not cover it, and
emptying it loses nothing but speed.

Keyed by plan, version and fingerprint, so processes running different code (a
rolling upgrade) each find their own snapshots, and two processes taking the same
snapshot both succeed: the second write is the same state and is dropped.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.sql import SQL, Identifier

TABLE = "careplan_snapshots"


class SnapshotStore(Protocol):
    def create_table(self) -> None: ...

    def latest(self, plan_id: UUID, at_most: int, fingerprint: str) -> tuple[int, bytes] | None:
        """The newest snapshot at or below a version, taken by code of this fingerprint."""

    def put(self, plan_id: UUID, version: int, fingerprint: str, state: bytes) -> None: ...

    def all_of(self, plan_id: UUID, fingerprint: str) -> list[tuple[int, bytes]]:
        """Every snapshot of the plan by this code, oldest first (for checking them)."""

    def clear(self, plan_id: UUID | None = None) -> int:
        """Delete the snapshots of one plan or of all; returns how many."""


def snapshot_store(datastore: Any) -> SnapshotStore:
    """The store on the events' own database; in memory for the in-memory event store."""
    if isinstance(datastore, PostgresDatastore):
        return PostgresSnapshots(datastore)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteSnapshots(datastore)
    return MemorySnapshots()


class PostgresSnapshots:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self.table = Identifier(datastore.schema, TABLE)

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {table} ("
                    "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                    "fingerprint text NOT NULL, state bytea NOT NULL, "
                    "taken_at timestamptz NOT NULL DEFAULT now(), "
                    "PRIMARY KEY (originator_id, originator_version, fingerprint))"
                ).format(table=self.table)
            )

    def latest(self, plan_id: UUID, at_most: int, fingerprint: str) -> tuple[int, bytes] | None:
        """One round trip, as the library reads events: an autocommit connection and a
        prepared statement, no transaction around a single read."""
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(
                SQL(
                    "SELECT originator_version, state FROM {table} WHERE originator_id = %s "
                    "AND fingerprint = %s AND originator_version <= %s "
                    "ORDER BY originator_version DESC LIMIT 1"
                ).format(table=self.table),
                (plan_id, fingerprint, at_most),
                prepare=True,
            )
            row = cursor.fetchone()
        return (int(row["originator_version"]), bytes(row["state"])) if row else None

    def all_of(self, plan_id: UUID, fingerprint: str) -> list[tuple[int, bytes]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                SQL(
                    "SELECT originator_version, state FROM {table} WHERE originator_id = %s "
                    "AND fingerprint = %s ORDER BY originator_version"
                ).format(table=self.table),
                (plan_id, fingerprint),
            )
            rows = cursor.fetchall()
        return [(int(row["originator_version"]), bytes(row["state"])) for row in rows]

    def put(self, plan_id: UUID, version: int, fingerprint: str, state: bytes) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL(
                    "INSERT INTO {table} (originator_id, originator_version, fingerprint, state) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                ).format(table=self.table),
                (plan_id, version, fingerprint, state),
            )

    def clear(self, plan_id: UUID | None = None) -> int:
        where = SQL(" WHERE originator_id = %s") if plan_id else SQL("")
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                SQL("DELETE FROM {table}{where}").format(table=self.table, where=where),
                (plan_id,) if plan_id else (),
            )
            return int(cursor.rowcount)


class SQLiteSnapshots:
    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
                "fingerprint TEXT NOT NULL, state BLOB NOT NULL, "
                "taken_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, "
                "PRIMARY KEY (originator_id, originator_version, fingerprint))"
            )

    def latest(self, plan_id: UUID, at_most: int, fingerprint: str) -> tuple[int, bytes] | None:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT originator_version, state FROM {TABLE} WHERE originator_id = ? "  # noqa: S608 (our table)
                "AND fingerprint = ? AND originator_version <= ? "
                "ORDER BY originator_version DESC LIMIT 1",
                (plan_id.hex, fingerprint, at_most),
            )
            row = cursor.fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def all_of(self, plan_id: UUID, fingerprint: str) -> list[tuple[int, bytes]]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT originator_version, state FROM {TABLE} WHERE originator_id = ? "  # noqa: S608 (our table)
                "AND fingerprint = ? ORDER BY originator_version",
                (plan_id.hex, fingerprint),
            )
            rows = cursor.fetchall()
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def put(self, plan_id: UUID, version: int, fingerprint: str, state: bytes) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"INSERT OR IGNORE INTO {TABLE} "  # noqa: S608 (our table)
                "(originator_id, originator_version, fingerprint, state) VALUES (?, ?, ?, ?)",
                (plan_id.hex, version, fingerprint, state),
            )

    def clear(self, plan_id: UUID | None = None) -> int:
        """Counted first: the library's SQLite cursor does not tell a row count."""
        where, params = (
            ("", ()) if plan_id is None else (" WHERE originator_id = ?", (plan_id.hex,))
        )
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {TABLE}{where}", params)  # noqa: S608 (our table)
            count = int(cursor.fetchone()[0])
            cursor.execute(f"DELETE FROM {TABLE}{where}", params)  # noqa: S608 (our table)
        return count


class MemorySnapshots:
    """For the in-memory event store (tests): gone with the process, like its events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[UUID, int, str], bytes] = {}

    def create_table(self) -> None:
        """Nothing to create."""

    def latest(self, plan_id: UUID, at_most: int, fingerprint: str) -> tuple[int, bytes] | None:
        with self._lock:
            found = [
                (version, state)
                for (plan, version, taken_by), state in self._rows.items()
                if plan == plan_id and taken_by == fingerprint and version <= at_most
            ]
        return max(found, key=lambda row: row[0]) if found else None

    def all_of(self, plan_id: UUID, fingerprint: str) -> list[tuple[int, bytes]]:
        with self._lock:
            return sorted(
                (version, state)
                for (plan, version, taken_by), state in self._rows.items()
                if plan == plan_id and taken_by == fingerprint
            )

    def put(self, plan_id: UUID, version: int, fingerprint: str, state: bytes) -> None:
        with self._lock:
            self._rows.setdefault((plan_id, version, fingerprint), state)

    def clear(self, plan_id: UUID | None = None) -> int:
        with self._lock:
            gone = [key for key in self._rows if plan_id is None or key[0] == plan_id]
            for key in gone:
                del self._rows[key]
        return len(gone)
