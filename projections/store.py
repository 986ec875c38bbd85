"""Where read models live: tables beside the event store, plus tracking positions.

Views share the event store's database so that a view row and its tracking
position commit together. One SQL text serves SQLite and PostgreSQL: queries are
written with ``%(name)s`` parameters and translated for SQLite.

A projection names its own tables in braces (``{current_medications}``) and is
handed an ``Sql`` that knows which real table each stands for: the live one, or
the shadow one a rebuild fills (``current_medications_next``). Read queries use
the live names directly.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

_PARAM = re.compile(r"%\((\w+)\)s")
_TABLE = re.compile(r"\{(\w+)\}")
# A one-row insert: what comes before its row, the row, and what may follow it (only
# DO NOTHING: several rows with one key in one statement would fail DO UPDATE).
_INSERT = re.compile(
    r"^(\s*INSERT INTO \S+ VALUES)\s*(\(.*\))(\s*ON CONFLICT \([\w, ]+\) DO NOTHING)?\s*$",
    re.DOTALL,
)
#: Rows per multi-row insert: well under PostgreSQL's 65,535 parameters per statement
#: for any view's row, and few distinct statement texts (one per run length).
ROWS_PER_INSERT = 250


class Sql:
    """A cursor inside one transaction, speaking one parameter style everywhere."""

    def __init__(
        self,
        cursor: Any,
        *,
        sqlite: bool,
        tables: Mapping[str, str] | None = None,
        deferred: list[tuple[str, list[dict[str, Any]]]] | None = None,
    ) -> None:
        self._cursor = cursor
        self._sqlite = sqlite
        self._tables = tables
        # What ``_translate`` needs to know of the names (hashable, for its cache).
        self._names = None if tables is None else tuple(tables.items())
        # Shared by every renamed view of this transaction, so that any statement
        # sent through any of them first sends what was deferred before it.
        self._deferred = [] if deferred is None else deferred

    def renamed(self, tables: Mapping[str, str]) -> Sql:
        """The same transaction, with ``{name}`` in statements standing for ``tables[name]``."""
        return Sql(self._cursor, sqlite=self._sqlite, tables=tables, deferred=self._deferred)

    @contextmanager
    def synced(self) -> Iterator[Sql]:
        """A block whose statements' errors are raised by its end at the latest.

        Inside the library's PostgreSQL insert the connection is in pipeline mode,
        where an error surfaces only when results are next fetched; a nested
        pipeline syncs as it exits. SQLite raises at once anyway.
        """
        if self._sqlite:
            yield self
            self.flush()
            return
        with self._cursor.connection.pipeline():
            yield self
            self.flush()  # deferred writes are this block's too

    def table(self, name: str) -> str:
        """The real table ``{name}`` stands for in this transaction."""
        return name if self._tables is None else self._tables[name]

    def _translated(self, statement: str) -> str:
        return _translate(statement, self._names, self._sqlite)

    def execute(self, statement: str, params: dict[str, Any] | None = None) -> Sql:
        self.flush()
        statement = self._translated(statement)
        if params:
            self._cursor.execute(statement, params)
        else:
            self._cursor.execute(statement)
        return self

    def defer(self, statement: str, params: dict[str, Any]) -> None:
        """A write whose answer nobody reads (an insert, one per event): runs of the
        same statement go in one ``executemany`` (psycopg pipelines it: one round
        trip for a batch instead of one per event), sent before the next statement
        of any kind, at the latest when the position is recorded, so the order of
        writes is kept and they commit with the position."""
        statement = self._translated(statement)
        if self._deferred and self._deferred[-1][0] == statement:
            self._deferred[-1][1].append(params)
        else:
            self._deferred.append((statement, [params]))

    def flush(self) -> None:
        """Send the deferred writes now (in order)."""
        while self._deferred:
            statement, rows = self._deferred.pop(0)
            if self._sqlite or len(rows) == 1 or not self._insert_rows(statement, rows):
                self._cursor.executemany(statement, rows)

    def _insert_rows(self, statement: str, rows: list[dict[str, Any]]) -> bool:
        """PostgreSQL: a run of one-row inserts as multi-row inserts (False: not an
        insert of that shape). Each statement costs the server a parse, a plan and
        an execution, which dwarf one row's insert: a rebuild's batch of a thousand
        audit rows becomes four statements instead of a thousand. ``ON CONFLICT DO
        NOTHING`` keeps the first of two rows with one key, as one by one did."""
        shape = _multi_row(statement)
        if shape is None:
            return False
        names = shape[1]
        # Numbered placeholders, sent as they are: psycopg would otherwise re-parse
        # every long statement (it caches only short ones) and cost more than it saves.
        raw = psycopg.RawCursor(self._cursor.connection)
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            params = [params[name] for params in chunk for name in names]
            raw.execute(_numbered(statement, len(chunk)), params)
        return True

    def discard(self) -> None:
        """Forget the deferred writes (their savepoint is being rolled back)."""
        self._deferred.clear()

    def fetchall(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._cursor.fetchall()]

    def fetchone(self) -> dict[str, Any] | None:
        row = self._cursor.fetchone()
        return None if row is None else dict(row)


class ViewStore:
    """Transactions over the views' tables and the projections' positions."""

    def __init__(self, tracking: TrackingRecorder) -> None:
        if not isinstance(tracking, (SQLiteTrackingRecorder, PostgresTrackingRecorder)):
            msg = f"no view store for {type(tracking).__name__}"
            raise TypeError(msg)
        self.tracking = tracking
        self.is_sqlite = isinstance(tracking, SQLiteTrackingRecorder)
        self.datastore = tracking.datastore
        if isinstance(tracking, PostgresTrackingRecorder):
            schema = tracking.datastore.schema
            self.tracking_table = f'"{schema}"."{tracking.tracking_table_name}"'
        else:
            self.tracking_table = "tracking"

    def create_tables(
        self, statements: Sequence[str], tables: Mapping[str, str] | None = None
    ) -> None:
        with self.transaction() as sql:
            target = sql if tables is None else sql.renamed(tables)
            for statement in statements:
                target.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Sql]:
        """A write transaction: everything inside commits together or not at all,
        writes deferred (``Sql.defer``) and not sent yet included."""
        with self.datastore.transaction(commit=True) as cursor:
            sql = Sql(cursor, sqlite=self.is_sqlite)
            yield sql
            sql.flush()

    @contextmanager
    def reading(self) -> Iterator[Sql]:
        """Queries, each seeing what was committed when it started.

        On PostgreSQL without a transaction around them: at the server's READ
        COMMITTED a transaction gives its statements no common snapshot anyway, and
        ending one costs two round trips (psycopg answers the ROLLBACK with
        DEALLOCATE ALL, dropping the connection's prepared statements) on every
        read a clinical app makes."""
        if self.is_sqlite:
            with self.datastore.transaction(commit=False) as cursor:
                yield Sql(cursor, sqlite=True)
            return
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            yield Sql(cursor, sqlite=False)

    def position(self, name: str) -> int:
        """The last notification id the named follower has fully processed (0: none)."""
        return self.tracking.max_tracking_id(name) or 0

    def positions(self, names: list[str]) -> dict[str, int]:
        """Several followers' positions in one query (0: none yet)."""
        with self.reading() as sql:
            found = self.read_positions(sql.execute(*self._positions_query(names, lock=False)))
        return {name: found.get(name, 0) for name in names}

    def send_claim(self, sql: Sql, names: Sequence[str]) -> None:
        """Send the query that holds the named positions (in name order, the order
        every claimer locks in); ``read_positions`` reads the answer (on PostgreSQL's
        pipeline it comes back with whatever is sent with it)."""
        sql.execute(*self._positions_query(names, lock=True))

    def read_positions(self, sql: Sql) -> dict[str, int]:
        """The positions the last query on ``sql`` asked for (names without a row left out)."""
        return {row["application_name"]: int(row["notification_id"]) for row in sql.fetchall()}

    def advance_all(self, sql: Sql, names: Sequence[str], notification_id: int) -> None:
        """Move claimed positions forward together (the caller holds them)."""
        among, params = _names_in(names)
        sql.execute(
            f"UPDATE {self.tracking_table} SET notification_id = %(id)s "  # noqa: S608
            f"WHERE application_name IN ({among}) AND notification_id < %(id)s",
            {"id": notification_id} | params,
        )

    def _positions_query(self, names: Sequence[str], *, lock: bool) -> tuple[str, dict[str, str]]:
        among, params = _names_in(names)
        # Row locks (PostgreSQL; SQLite's one write lock covers it) in name order.
        locking = " ORDER BY application_name FOR UPDATE" if lock and not self.is_sqlite else ""
        statement = (
            f"SELECT application_name, notification_id FROM {self.tracking_table} "  # noqa: S608
            f"WHERE application_name IN ({among}){locking}"
        )
        return statement, params

    def record_position(self, sql: Sql, name: str, notification_id: int) -> None:
        """Move a follower's position inside the caller's transaction.

        The library refuses to move a position backwards, which is what turns
        "rows and position in one transaction" into exactly-once processing.
        """
        sql.flush()
        self.tracking._insert_tracking(sql._cursor, Tracking(name, notification_id))

    def claim(self, sql: Sql, name: str) -> int:
        """Hold the named position for this transaction and return it.

        Called first in every batch: on PostgreSQL the row lock makes another
        follower of the same name (or a rebuild switching tables) wait here,
        before it has touched any view table, so the two never deadlock; on
        SQLite the write it takes holds the database's one write lock. The
        caller compares the answer with the position it read its batch from.
        """
        lock = "" if self.is_sqlite else " FOR UPDATE"
        select = (
            f"SELECT notification_id FROM {self.tracking_table} "  # noqa: S608 (our table)
            f"WHERE application_name = %(name)s{lock}"
        )
        if not self.is_sqlite and (row := sql.execute(select, {"name": name}).fetchone()):
            return int(row["notification_id"])
        # A no-op write when the row exists: it creates the row to lock, and on
        # SQLite it takes the write lock before anything is read.
        sql.execute(
            f"INSERT INTO {self.tracking_table} VALUES (%(name)s, 0) "  # noqa: S608 (our table)
            "ON CONFLICT (application_name) DO NOTHING",
            {"name": name},
        )
        row = sql.execute(select, {"name": name}).fetchone()
        assert row is not None
        return int(row["notification_id"])

    def set_position(self, sql: Sql, name: str, notification_id: int) -> None:
        """Put a position where a rebuild's switch says it is (it may jump forward)."""
        self.claim(sql, name)
        sql.execute(
            f"UPDATE {self.tracking_table} SET notification_id = %(id)s "  # noqa: S608
            "WHERE application_name = %(name)s",
            {"name": name, "id": notification_id},
        )

    def forget_position(self, sql: Sql, name: str) -> None:
        sql.execute(
            f"DELETE FROM {self.tracking_table} WHERE application_name = %(name)s",  # noqa: S608
            {"name": name},
        )

    def table_exists(self, table: str) -> bool:
        with self.reading() as sql:
            return self._exists(sql, table)

    def replace_table(self, sql: Sql, live: str, shadow: str) -> None:
        """Drop ``live`` and give ``shadow`` its name, indexes included (in ``sql``'s
        transaction). SQLite cannot rename an index: the caller recreates them.
        """
        if not self.is_sqlite and self._exists(sql, live):
            # Waits for readers of the old table to finish, and holds off new ones
            # until the switch commits (they then read the new table).
            sql.execute(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")
        sql.execute(f"DROP TABLE IF EXISTS {live}")
        sql.execute(f"ALTER TABLE {shadow} RENAME TO {live}")
        for index in self._indexes(sql, live):
            if not index.startswith(shadow):
                continue
            renamed = live + index[len(shadow) :]
            if self.is_sqlite:
                sql.execute(f"DROP INDEX {index}")
            else:
                sql.execute(f"ALTER INDEX {index} RENAME TO {renamed}")

    def drop_table(self, sql: Sql, table: str) -> None:
        sql.execute(f"DROP TABLE IF EXISTS {table}")

    def _exists(self, sql: Sql, table: str) -> bool:
        if self.is_sqlite:
            query = "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = %(t)s"
        else:
            query = (
                "SELECT 1 AS found FROM pg_tables "
                "WHERE tablename = %(t)s AND schemaname = current_schema()"
            )
        return sql.execute(query, {"t": table}).fetchone() is not None

    def _indexes(self, sql: Sql, table: str) -> list[str]:
        if self.is_sqlite:
            query = (
                "SELECT name FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name = %(t)s AND sql IS NOT NULL"
            )
        else:
            query = (
                "SELECT indexname AS name FROM pg_indexes "
                "WHERE tablename = %(t)s AND schemaname = current_schema()"
            )
        return [row["name"] for row in sql.execute(query, {"t": table}).fetchall()]


@functools.lru_cache(maxsize=1024)
def _translate(statement: str, names: tuple[tuple[str, str], ...] | None, sqlite: bool) -> str:
    """``statement`` with its tables named and its parameters in the store's style.
    Cached: a handful of statements, sent per event, are otherwise rewritten each time."""
    if names is not None:
        tables = dict(names)
        statement = _TABLE.sub(lambda m: tables[m.group(1)], statement)
    if sqlite:
        statement = _PARAM.sub(r":\1", statement)
    return statement


@functools.lru_cache(maxsize=256)
def _multi_row(statement: str) -> tuple[str, tuple[str, ...], str, str] | None:
    """A one-row ``INSERT … VALUES (…) [ON CONFLICT (…) DO NOTHING]`` taken apart: its head, the
    names its row's parameters stand for (in order), the row with ``{}`` for each,
    and its tail; None for any other statement."""
    found = _INSERT.match(statement)
    if found is None or "%%" in statement or "{" in statement:
        return None
    head, row, tail = found.group(1), found.group(2), found.group(3) or ""
    return head, tuple(_PARAM.findall(row)), _PARAM.sub("{}", row), tail


@functools.lru_cache(maxsize=256)
def _numbered(statement: str, rows: int) -> str:
    """``statement`` (see ``_multi_row``) inserting ``rows`` rows, with ``$n`` placeholders."""
    shape = _multi_row(statement)
    assert shape is not None
    head, names, row, tail = shape
    width = len(names)
    values = ", ".join(
        row.format(*(f"${n * width + i + 1}" for i in range(width))) for n in range(rows)
    )
    return f"{head} {values}{tail}"


def _names_in(names: Sequence[str]) -> tuple[str, dict[str, str]]:
    """An ``IN (…)`` list of followers' names, as placeholders and their values."""
    return in_list("n", names)


def in_list(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, str]]:
    """An ``IN (…)`` list as named placeholders (both stores) and their values."""
    params = {f"{prefix}{i}": value for i, value in enumerate(values)}
    return ", ".join(f"%({key})s" for key in params), params
