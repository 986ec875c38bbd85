"""The read-access log's group commit on the event loop itself (PostgreSQL).

A reader awaits its entry; entries waiting while one insert is in flight go in the
next, as one statement over arrays on an autocommit connection. Everything runs on
the loop: no thread to wake and no hand-off of the GIL per read, which at hundreds
of reads a second cost more than the insert (see docs/decisions/durable-access-log.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import structlog

log = structlog.get_logger(__name__)

#: Entries in one insert at most.
BATCH = 500


class LoopWriter:
    """``stored(row)`` is True once the row is committed, False if it cannot be."""

    def __init__(
        self,
        statement: str,
        columns_of: Callable[[Sequence[Any]], list[list[Any]]],
        connect_kwargs: dict[str, Any],
    ) -> None:
        self._statement = statement
        self._columns_of = columns_of
        self._connect_kwargs = connect_kwargs
        self._pending: list[tuple[Any, asyncio.Future[bool]]] = []
        self._writing: asyncio.Task[None] | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def stored(self, row: Any) -> bool:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bool] = loop.create_future()
        self._pending.append((row, answer))
        if self._writing is None or self._writing.done():
            self._writing = loop.create_task(self._write())
        return await answer

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                outcomes = await self._store([row for row, _ in batch])
            except Exception:  # a defect here must not leave readers waiting
                log.exception("access_log.write_failed", entries=len(batch))
                outcomes = [False] * len(batch)
            for (_, answer), outcome in zip(batch, outcomes, strict=True):
                if not answer.done():  # a reader that went away has nobody to tell
                    answer.set_result(outcome)

    async def _store(self, rows: list[Any]) -> list[bool]:
        """The batch in one statement; if that fails, each row alone, so one bad row
        (or a connection lost mid-batch) costs no other."""
        try:
            await self._insert(rows)
        except psycopg.Error:
            log.warning("access_log.batch_failed", entries=len(rows), exc_info=True)
        else:
            return [True] * len(rows)
        outcomes = []
        for row in rows:
            try:
                await self._insert([row])
            except psycopg.Error:
                log.exception("access_log.write_failed", entries=1)
                outcomes.append(False)
            else:
                outcomes.append(True)
        return outcomes

    async def _insert(self, rows: list[Any]) -> None:
        connection = await self._connected()
        try:
            await connection.execute(self._statement, self._columns_of(rows))
        except psycopg.Error:
            if connection.broken or connection.closed:
                self._connection = None  # the next insert connects afresh
            raise

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        """One connection per event loop, made on first use and after a loss."""
        loop = asyncio.get_running_loop()
        if self._connection is None or self._loop is not loop:
            self._connection = await psycopg.AsyncConnection.connect(
                **self._connect_kwargs, autocommit=True
            )
            self._loop = loop
        return self._connection

    async def close(self) -> None:
        if self._writing is not None:
            await self._writing
        if self._connection is not None and self._loop is asyncio.get_running_loop():
            await self._connection.close()
        self._connection = None
