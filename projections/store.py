"""Where read models live: tables beside the event store, plus tracking positions.

Views share the event store's database so that a view row and its tracking
position commit together. One SQL text serves SQLite and PostgreSQL: queries are
written with ``%(name)s`` parameters and translated for SQLite.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

_PARAM = re.compile(r"%\((\w+)\)s")


class Sql:
    """A cursor inside one transaction, speaking one parameter style everywhere."""

    def __init__(self, cursor: Any, *, sqlite: bool) -> None:
        self._cursor = cursor
        self._sqlite = sqlite

    def execute(self, statement: str, params: dict[str, Any] | None = None) -> Sql:
        if self._sqlite:
            statement = _PARAM.sub(r":\1", statement)
        if params:
            self._cursor.execute(statement, params)
        else:
            self._cursor.execute(statement)
        return self

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

    def create_tables(self, statements: Sequence[str]) -> None:
        with self.transaction() as sql:
            for statement in statements:
                sql.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[Sql]:
        """A write transaction: everything inside commits together or not at all."""
        with self.datastore.transaction(commit=True) as cursor:
            yield Sql(cursor, sqlite=self.is_sqlite)

    @contextmanager
    def reading(self) -> Iterator[Sql]:
        with self.datastore.transaction(commit=False) as cursor:
            yield Sql(cursor, sqlite=self.is_sqlite)

    def position(self, name: str) -> int:
        """The last notification id the named follower has fully processed (0: none)."""
        return self.tracking.max_tracking_id(name) or 0

    def record_position(self, sql: Sql, name: str, notification_id: int) -> None:
        """Move a follower's position inside the caller's transaction.

        The library refuses to move a position backwards, which is what turns
        "rows and position in one transaction" into exactly-once processing.
        """
        self.tracking._insert_tracking(sql._cursor, Tracking(name, notification_id))
