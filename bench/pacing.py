"""Open-loop load: requests start on a fixed schedule, whether or not earlier ones
have answered, and each latency counts from when its request was due. A closed
loop (wait for the answer, then send the next) slows down with the server and
hides its queueing (coordinated omission); a clinic's clients do not wait for
each other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx


async def paced(
    rate: float, seconds: float, request: Callable[[httpx.AsyncClient, int], Awaitable[int]]
) -> tuple[list[float], int]:
    """(latencies in ms from each request's scheduled start, failures) at ``rate``/s."""
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        began = time.perf_counter()

        async def one(n: int) -> None:
            nonlocal failures
            due = began + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status = await request(http, n)
            if status >= 300:
                failures += 1
            latencies.append((time.perf_counter() - due) * 1000)

        await asyncio.gather(*(one(n) for n in range(total)))
    return latencies, failures


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
