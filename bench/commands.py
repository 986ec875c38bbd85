"""Command throughput through HTTP at 1, 8 and 32 concurrent clients, on PostgreSQL,
against the baseline app (bench/baseline_app.py) driven by the same client in the
same run. Each client writes to its own care plan (one adherence note per command:
one event), so the figures are about the write path, not about clients racing on
one plan. "per txn" is how many commands group commit wrote per transaction; the
CPU columns are milliseconds of CPU per request of each server and of this client
(Linux), which show where a ratio comes from on a machine with few cores.

    python -m bench.commands [--seconds 8] [--clients 1,8,32] [--own-connections] [--rounds 3]

With ``--rounds`` each level alternates careplan and the baseline that many times
and reports medians (the ratio: the median of each round's): on a shared host the
machine's speed drifts by a tenth or more within minutes.

Last, a request the API refuses before running its command (422) shows what the
web stack alone costs the server per request (auth, validation, problem+json).

Targets (issue: the HTTP API): at least 0.8 of the baseline at 8 clients and 1.0
at 32.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from bench.percentiles import percentile
from bench.scratch_database import scratch_database
from bench.tansu import free_port
from services.tokens import issue_token

console = Console(width=150)
SECRET = "bench-secret-" + "x" * 32
CAREPLAN = Path(sys.executable).parent / "careplan"


def start(
    command: list[str], env: dict[str, str], port: int, health: str
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1).status_code < 500:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"{command[0]} did not start")


def start_baseline(port: int, database_url: str) -> subprocess.Popen[bytes]:
    """The baseline app (bench/baseline_app.py) on ``port``, storing in ``database_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREPLAN_")}
    command = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    return start(command, env | {"BENCH_DATABASE_URL": database_url}, port, "/docs")


async def drive(
    clients: int,
    seconds: float,
    request: Callable[[httpx.AsyncClient, int], Awaitable[int]],
    *,
    own_connections: bool = False,
) -> tuple[float, list[float]]:
    """(commands/s, latencies in ms) with ``clients`` concurrent callers: sharing one
    pool of as many connections, or (``own_connections``) each with its own client
    and connection, as separate clinical apps would be. httpx's shared pool costs
    its client about three times the CPU per request at 32 connections as at 8,
    so there the shared client, not the servers, sets the pace."""
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client(connections: int) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        return httpx.AsyncClient(timeout=30, limits=limits)

    async def caller(http: httpx.AsyncClient, n: int) -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            status = await request(http, n)
            assert status < 300, status
            latencies.append((time.perf_counter() - started) * 1000)

    async def alone(n: int) -> None:
        async with client(1) as http:
            await caller(http, n)

    began = time.monotonic()
    if own_connections:
        await asyncio.gather(*(alone(n) for n in range(clients)))
    else:
        async with client(clients) as http:
            await asyncio.gather(*(caller(http, n) for n in range(clients)))
    elapsed = time.monotonic() - began
    return len(latencies) / elapsed, latencies


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used so far; None where /proc is not."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """One side's run at one level: requests/s, latencies (ms), and the server's and
    this client's CPU per request (ms; None where /proc is not)."""

    rate: float
    latencies: list[float]
    server_cpu: float | None
    client_cpu: float


def cpu_per_request(
    pid: int,
    clients: int,
    seconds: float,
    request: Callable[[httpx.AsyncClient, int], Awaitable[int]],
    *,
    own_connections: bool = False,
) -> Measured:
    """``drive``, and the server's and this client's CPU per request (where the
    ratio stops, it shows which side ran out: the client's cost grows with clients)."""
    server_before, client_before = cpu_seconds(pid), time.process_time()
    rate, latencies = asyncio.run(drive(clients, seconds, request, own_connections=own_connections))
    server_after, client_after = cpu_seconds(pid), time.process_time()
    count = max(1.0, rate * seconds)
    client = (client_after - client_before) / count * 1000
    if server_before is None or server_after is None:
        return Measured(rate, latencies, None, client)
    return Measured(rate, latencies, (server_after - server_before) / count * 1000, client)


def median_of(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.2f}" if known else "n/a"


def main(
    seconds: Annotated[float, typer.Option(help="Seconds per measurement.")] = 8.0,
    clients: Annotated[str, typer.Option(help="Concurrency levels.")] = "1,8,32",
    own_connections: Annotated[
        bool, typer.Option(help="Each client its own HTTP client and connection.")
    ] = False,
    rounds: Annotated[
        int, typer.Option(min=1, help="Alternating careplan/baseline runs per level (medians).")
    ] = 1,
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
) -> None:
    levels = [int(n) for n in clients.split(",")]
    token = issue_token(SECRET, sub="dr-bench", role="prescriber")
    auth = {"Authorization": f"Bearer {token}"}
    admin = {"Authorization": f"Bearer {issue_token(SECRET, sub='ops-bench', role='admin')}"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(database_url) as careplan_db,
        scratch_database(database_url) as baseline_db,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREPLAN_")}
        careplan_port, baseline_port = free_port(), free_port()
        careplan = start(
            [str(CAREPLAN), "serve"],
            env
            | {
                "CAREPLAN_DATABASE_URL": careplan_db,
                "CAREPLAN_JWT_SECRET": SECRET,
                "CAREPLAN_PORT": str(careplan_port),
                "CAREPLAN_DATA_DIR": tmp,
                "CAREPLAN_LOG_LEVEL": "WARNING",
            },
            careplan_port,
            "/health",
        )
        baseline = start_baseline(baseline_port, baseline_db)
        try:
            base_url = f"http://127.0.0.1:{careplan_port}"
            plans = []
            for n in range(max(levels)):
                opened = httpx.post(
                    f"{base_url}/v1/care-plans", json={"patient_id": f"pt-{n}"}, headers=auth
                )
                plans.append(opened.json()["care_plan_id"])

            async def command(http: httpx.AsyncClient, n: int) -> int:
                body = {"adherence": "taking_as_prescribed", "note": "bench"}
                response = await http.post(
                    f"{base_url}/v1/care-plans/{plans[n]}/adherence", json=body, headers=auth
                )
                return response.status_code

            async def refused(http: httpx.AsyncClient, n: int) -> int:
                """A command refused before it runs (no such adherence value): the
                web stack's own cost (auth, validation, problem+json), no command.
                Its expected 422 counts as success (200)."""
                body = {"adherence": "not-a-value", "note": "bench"}
                response = await http.post(
                    f"{base_url}/v1/care-plans/{plans[n]}/adherence", json=body, headers=auth
                )
                return 200 if response.status_code == 422 else response.status_code

            async def raw(http: httpx.AsyncClient, n: int) -> int:
                response = await http.post(
                    f"http://127.0.0.1:{baseline_port}/baseline/stream-{n}",
                    json={"adherence": "taking_as_prescribed", "note": "bench"},
                )
                return response.status_code

            table = Table(
                "clients",
                "careplan /s",
                "p50 ms",
                "p99 ms",
                "baseline /s",
                "p50 ms",
                "p99 ms",
                "ratio",
                "per txn",
                "CPU ms: server",
                "baseline",
                "client",
                title="Commands through HTTP, PostgreSQL",
            )

            def batches() -> tuple[float, float]:
                """(transactions, commands) written by group commit so far."""
                text = httpx.get(f"{base_url}/metrics", headers=admin).text
                found = dict.fromkeys(("count", "sum"), 0.0)
                for line in text.splitlines():
                    for kind in found:
                        if line.startswith(f"careplan_command_batch_size_{kind} "):
                            found[kind] = float(line.split()[-1])
                return found["count"], found["sum"]

            for level in levels:
                ours: list[Measured] = []
                theirs: list[Measured] = []
                before = batches()
                for _ in range(rounds):  # alternating: the host's drift hits both alike
                    ours.append(
                        cpu_per_request(
                            careplan.pid, level, seconds, command, own_connections=own_connections
                        )
                    )
                    theirs.append(
                        cpu_per_request(
                            baseline.pid, level, seconds, raw, own_connections=own_connections
                        )
                    )
                after = batches()
                per_transaction = (after[1] - before[1]) / max(1.0, after[0] - before[0])
                our_ms = [ms for run in ours for ms in run.latencies]
                their_ms = [ms for run in theirs for ms in run.latencies]
                ratios = [mine.rate / base.rate for mine, base in zip(ours, theirs, strict=True)]
                table.add_row(
                    str(level),
                    f"{statistics.median(run.rate for run in ours):.0f}",
                    f"{statistics.median(our_ms):.1f}",
                    f"{percentile(our_ms, 0.99):.1f}",
                    f"{statistics.median(run.rate for run in theirs):.0f}",
                    f"{statistics.median(their_ms):.1f}",
                    f"{percentile(their_ms, 0.99):.1f}",
                    f"{statistics.median(ratios):.2f}",
                    f"{per_transaction:.1f}",
                    median_of([run.server_cpu for run in ours]),
                    median_of([run.server_cpu for run in theirs]),
                    median_of([run.client_cpu for run in ours]),
                )
            console.print(table)
            # Where a command's server CPU goes, at the middle level: the part no
            # command can avoid in this stack, beside the whole command and the baseline.
            level = levels[len(levels) // 2]
            floor = cpu_per_request(
                careplan.pid, level, seconds, refused, own_connections=own_connections
            )
            console.print(
                f"At {level} clients a request refused before its command runs (auth, "
                f"validation, problem+json; {floor.rate:.0f}/s) costs the server "
                f"{median_of([floor.server_cpu])} ms of CPU: the web stack's share of "
                "careplan's CPU per command above."
            )
        finally:
            for process in (careplan, baseline):
                process.terminate()
                process.wait(timeout=15)


if __name__ == "__main__":
    typer.run(main)
