"""Open-loop load: requests start on a fixed schedule, whether or not earlier ones
have answered, and each latency counts from when its request was due. A closed
loop (wait for the answer, then send the next) slows down with the server and
hides its queueing (coordinated omission); a clinic's clients do not wait for
each other.

The client is a few lines of HTTP/1.1 over kept-alive connections: on a small
machine the load generator shares the CPU with the server it measures, and a
full client library costs about a millisecond of CPU per request, which at 500
requests/s is most of a core.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class KeepAlive:
    """Requests to one server over at most ``connections`` persistent connections."""

    def __init__(self, host: str, port: int, connections: int = 256) -> None:
        self.host, self.port, self.connections = host, port, connections
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        self._opened = 0

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> int:
        """The status; the body is read and dropped (responses carry Content-Length)."""
        reader, writer = await self._connection()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            self._opened -= 1
            raise
        self._idle.put_nowait((reader, writer))
        return int(head[9:12])

    async def _connection(self) -> Connection:
        if self._idle.empty() and self._opened < self.connections:
            self._opened += 1
            return await asyncio.open_connection(self.host, self.port)
        return await self._idle.get()

    async def close(self) -> None:
        while not self._idle.empty():
            _, writer = self._idle.get_nowait()
            writer.close()


async def paced(
    rate: float, seconds: float, request: Callable[[int], Awaitable[int]]
) -> tuple[list[float], int]:
    """(latencies in ms from each request's scheduled start, failures) at ``rate``/s.

    Each request is started at its time by one dispatching loop. (Creating every
    request's task up front cost the client about a tenth of a second before the
    first was sent, and the first fifty requests of a run at 500/s were counted
    that late: enough to set the p99 of a ten-second run, ours and the baseline's.)
    """
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0

    async def one(n: int, due: float) -> None:
        nonlocal failures
        try:
            status = await request(n)
        except OSError:
            status = 599
        if status >= 300:
            failures += 1
        latencies.append((time.perf_counter() - due) * 1000)

    began = time.perf_counter()
    started = []
    for n in range(total):
        due = began + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        started.append(asyncio.ensure_future(one(n, due)))
    await asyncio.gather(*started)
    return latencies, failures
