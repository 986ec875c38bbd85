"""The baseline for command throughput: the same server stack (FastAPI, uvicorn, an
async psycopg pool) with a handler that does only one raw transaction: read a
stream's version, insert the next row. Careplan's commands do that and more (load
the plan, judge the rules, record events, bring the views up to date), so the
ratio of the two is what the domain and the library cost."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

DATABASE_URL = os.environ["BENCH_DATABASE_URL"]
pool = AsyncConnectionPool(DATABASE_URL, min_size=4, max_size=20, open=False)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await pool.open()
    async with pool.connection() as conn:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS bench_events (
                   stream TEXT NOT NULL, version INTEGER NOT NULL, state JSONB NOT NULL,
                   PRIMARY KEY (stream, version))"""
        )
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/baseline/{stream}", status_code=201)
async def append(stream: str, body: dict) -> dict:  # type: ignore[type-arg]
    async with pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            "SELECT coalesce(max(version), 0) FROM bench_events WHERE stream = %s", (stream,)
        )
        row = await cursor.fetchone()
        version = (row[0] if row else 0) + 1
        await conn.execute(
            "INSERT INTO bench_events (stream, version, state) VALUES (%s, %s, %s)",
            (stream, version, json.dumps(body)),
        )
    return {"version": version}
