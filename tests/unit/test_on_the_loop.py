"""The bridge that runs blocking-style command handlers on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pytest

from services.on_the_loop import (
    BlockingOnTheLoop,
    off_the_loop,
    on_the_loop,
    refuse_blocking,
    run_on_the_loop,
    wait_for,
)

REQUEST: ContextVar[str] = ContextVar("request", default="none")


def handler(value: int) -> tuple[int, str, bool]:
    """Blocking-style code: awaits twice, in the middle of plain calls."""
    doubled = wait_for(asyncio.sleep(0, result=value * 2))
    tripled = wait_for(asyncio.sleep(0.001, result=value * 3))
    return doubled + tripled, REQUEST.get(), on_the_loop()


def test_a_handler_awaits_where_it_would_wait_and_returns_its_answer() -> None:
    async def main() -> tuple[int, str, bool]:
        REQUEST.set("req-1")
        return await run_on_the_loop(handler, 2)

    assert asyncio.run(main()) == (10, "req-1", True)
    assert not on_the_loop()


def test_many_handlers_interleave_on_one_loop() -> None:
    order: list[str] = []

    def step(name: str) -> str:
        order.append(f"{name}:start")
        wait_for(asyncio.sleep(0.01))
        order.append(f"{name}:end")
        return name

    async def main() -> list[str]:
        return await asyncio.gather(*(run_on_the_loop(step, n) for n in ("a", "b", "c")))

    assert asyncio.run(main()) == ["a", "b", "c"]
    assert order[:3] == ["a:start", "b:start", "c:start"]  # none blocked the others


def test_an_error_awaited_is_raised_where_the_handler_waited() -> None:
    async def fails() -> None:
        raise ValueError("refused")

    def catching() -> str:
        try:
            wait_for(fails())
        except ValueError as error:
            return f"caught {error}"
        return "not raised"

    def not_catching() -> None:
        wait_for(fails())

    assert asyncio.run(run_on_the_loop(catching)) == "caught refused"
    with pytest.raises(ValueError, match="refused"):
        asyncio.run(run_on_the_loop(not_catching))


def test_wait_for_outside_a_handler_is_refused() -> None:
    with pytest.raises(RuntimeError, match="outside a handler"):
        wait_for(asyncio.sleep(0))


def test_off_the_loop_runs_on_a_thread_from_a_handler_and_in_place_otherwise() -> None:
    def where() -> tuple[bool, str]:
        return threading.current_thread() is threading.main_thread(), REQUEST.get()

    async def main() -> tuple[bool, str]:
        REQUEST.set("req-2")
        return await run_on_the_loop(off_the_loop, where)

    assert asyncio.run(main()) == (False, "req-2")  # a pool thread, the request's context
    assert off_the_loop(where) == (True, "none")


def test_a_datastore_opened_on_the_loop_is_refused_and_elsewhere_opened() -> None:
    opened: list[str] = []

    @contextmanager
    def connection() -> Iterator[str]:
        opened.append("connection")
        yield "connection"

    guarded = refuse_blocking(connection)

    def query() -> str:
        with guarded() as conn:
            return conn

    with pytest.raises(BlockingOnTheLoop):
        asyncio.run(run_on_the_loop(query))
    assert opened == []
    assert asyncio.run(run_on_the_loop(off_the_loop, query)) == "connection"
    assert query() == "connection"
