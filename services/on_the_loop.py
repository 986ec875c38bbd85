"""Command handlers run on the event loop, without a thread of their own.

A command handler is plain blocking code: it calls ``CarePlans``, which waits for
its group commit's batch. On a thread of its own, every command cost three
hand-offs between threads (to the pool, from the batch's leader, back to the
event loop), about a tenth of the server's interpreter time under load. Here the
handler runs in a greenlet on the event loop instead, and where it would wait it
switches back to the loop to await (``wait_for``): group commit answers a whole
batch with one call onto the loop, and the batches are written by a thread of
their own.

The greenlet must never block the loop: anything else it does that waits (the
database, above all) goes through ``off_the_loop``, which runs it on a pool
thread and awaits it; ``refuse_blocking`` makes a database connection taken on the
loop fail loudly instead of stalling every request (a defect the end-to-end
tests would meet on the route that has it). This is SQLAlchemy's asyncio bridge,
with greenlet, the library SQLAlchemy uses for it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ParamSpec, TypeVar

from greenlet import getcurrent, greenlet
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


class BlockingOnTheLoop(RuntimeError):
    """A blocking call was made by a handler running on the event loop."""


class _Handler(greenlet):  # type: ignore[misc]  # greenlet ships no complete stubs
    """A handler's greenlet; its parent is the coroutine that awaits for it."""


def on_the_loop() -> bool:
    """Whether this code runs in a handler's greenlet on the event loop."""
    return isinstance(getcurrent(), _Handler)


def wait_for(awaitable: Awaitable[T]) -> T:
    """Await from a handler's greenlet: the loop runs on meanwhile."""
    current = getcurrent()
    if not isinstance(current, _Handler):
        if inspect.iscoroutine(awaitable):
            awaitable.close()  # never to be awaited: no "never awaited" warning
        msg = "wait_for outside a handler running on the event loop"
        raise RuntimeError(msg)
    result: T = current.parent.switch(awaitable)
    return result


async def run_on_the_loop(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a greenlet, in a copy of this context, awaiting
    whatever it hands to ``wait_for``."""
    handler = _Handler(function, getcurrent())
    handler.gr_context = contextvars.copy_context()
    step = handler.switch(*args, **kwargs)
    while not handler.dead:
        try:
            value = await step
        except BaseException as error:  # thrown into the handler, where it was awaited
            step = handler.throw(error)
        else:
            step = handler.switch(value)
    result: T = step
    return result


def off_the_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)``, on a pool thread when called from a handler on
    the event loop (in this context), directly otherwise."""
    if not on_the_loop():
        return function(*args, **kwargs)
    return wait_for(on_a_thread(contextvars.copy_context(), function, *args, **kwargs))


async def on_a_thread(
    context: contextvars.Context, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """``function(*args, **kwargs)`` on a pool thread, in ``context``: a handler's own
    (its greenlet's), which the task awaiting for it does not see."""
    return await run_in_threadpool(context.run, function, *args, **kwargs)


def refuse_blocking(
    open_: Callable[P, AbstractContextManager[T]],
) -> Callable[P, AbstractContextManager[T]]:
    """A datastore's way of opening a connection or transaction, refusing on the loop."""

    @functools.wraps(open_)
    @contextmanager
    def guarded(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        if on_the_loop():
            msg = f"{open_.__qualname__} in a handler on the event loop (use off_the_loop)"
            raise BlockingOnTheLoop(msg)
        with open_(*args, **kwargs) as opened:
            yield opened

    return guarded
