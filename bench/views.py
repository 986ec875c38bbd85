"""The views at scale, on PostgreSQL: rebuilding them from a large log, and reading
current medications under load.

A scratch database (CAREPLAN_BENCH_DATABASE_URL, default the local server) gets
``--events`` events over ``--plans`` plans, cloned from plans played through the
application and inserted in batches through the recorder (bench/bulk_events.py).
Then:

(a) ``careplan project rebuild`` of every view, timed, its resident memory
    sampled while it runs: at a quarter of the log and at its end, to show that
    memory does not grow with the number of events;
(b) ``GET /v1/care-plans/{id}/medications`` through HTTP to a real ``careplan
    serve``, open loop at each ``--rates`` (bench/pacing.py), p50 and p99; the
    baseline, in the same run and through the same client, is a plain psycopg
    select and insert behind the same server stack (bench/baseline_app.py); the
    query function alone (no HTTP) is timed too.

    python -m bench.views [--events 1000000] [--plans 20000] [--seconds 10]

Targets (issue: projections): rebuild at least 10,000 events/s with flat memory;
p99 under 10 ms at 500 requests/s.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from bench.bulk_events import generate, insert_all, template_plans
from bench.commands import free_port, start, start_baseline
from bench.pacing import KeepAlive, paced
from bench.percentiles import percentile
from bench.scratch_database import scratch_database
from projections.current_medications import active_medications
from services.bootstrap import bootstrap
from services.logging import configure_logging
from services.settings import Settings
from services.tokens import issue_token

console = Console()
SECRET = "bench-secret-" + "x" * 32
CAREPLAN = Path(sys.executable).parent / "careplan"
SWITCHED = re.compile(r"(\w+): switched at position ([\d,]+) \(([\d,]+) events in ([\d.]+) s\)")


@dataclass
class RebuildRun:
    seconds: float
    head: int
    per_view: dict[str, float] = field(default_factory=dict)  # seconds per view
    samples: list[tuple[float, str, int, int]] = field(default_factory=list)
    peak_kib: int = 0

    def rss_at(self, view: str, fraction: float) -> int:
        """RSS (KiB) at the first sample of ``view`` past ``fraction`` of the log."""
        for _, name, position, rss in self.samples:
            if name == view and position >= self.head * fraction:
                return rss
        return 0

    def rss_last(self, view: str) -> int:
        """RSS (KiB) at the last sample taken while ``view`` was being filled."""
        return next((rss for _, name, _, rss in reversed(self.samples) if name == view), 0)


def careplan_env(database_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREPLAN_")}
    return env | {
        "CAREPLAN_DATABASE_URL": database_url,
        "CAREPLAN_JWT_SECRET": SECRET,
        "CAREPLAN_DATA_DIR": data_dir,
        "CAREPLAN_LOG_LEVEL": "WARNING",
        "CAREPLAN_PROJECTIONS": "external",
        "COLUMNS": "200",
        **extra,
    }


def fill(database_url: str, data_dir: str, events: int, plans: int) -> int:
    settings = Settings(
        data_dir=Path(data_dir), database_url=database_url, jwt_secret=SECRET, log_level="WARNING"
    )
    careplan = bootstrap(settings)
    # the views are built by the rebuild under test
    careplan.app.after_commit = careplan.app.views_with_the_events = None
    try:
        began = time.monotonic()
        templates = template_plans(careplan.app, max(8, events // plans), random.Random(7))
        made = time.monotonic() - began
        console.print(f"{len(templates)} template plans played in {made:.1f} s")

        def progress(written: int) -> None:
            if written % 100_000 < 5000:
                rate = written / (time.monotonic() - began)
                console.print(f"  {written:,} events inserted ({rate:,.0f}/s)")

        began = time.monotonic()
        written = insert_all(careplan.app, generate(templates, plans, events), 5000, progress)
        console.print(f"{written:,} events inserted in {time.monotonic() - began:.1f} s")
        return careplan.app.recorder.max_notification_id() or 0
    finally:
        careplan.close()


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB (0, 0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    found = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)", status, re.MULTILINE))
    return int(found.get("VmRSS", 0)), int(found.get("VmHWM", 0))


def time_rebuild(database_url: str, data_dir: str, head: int, batch_size: int) -> RebuildRun:
    """``careplan project rebuild`` of every view, sampled every 0.2 s."""
    output = Path(data_dir) / "rebuild.out"
    with output.open("wb") as out:
        began = time.monotonic()
        process = subprocess.Popen(
            [str(CAREPLAN), "project", "rebuild", "--batch-size", str(batch_size)],
            env=careplan_env(database_url, data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    run = RebuildRun(seconds=0.0, head=head)
    with psycopg.connect(database_url, autocommit=True) as conn:
        while process.poll() is None:
            rss, peak = rss_kib(process.pid)
            run.peak_kib = max(run.peak_kib, peak)
            try:
                rows = conn.execute(
                    "SELECT application_name, notification_id FROM careplan_tracking "
                    "WHERE application_name LIKE '%\\_next'"
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                rows = []
            for name, position in rows:
                run.samples.append((time.monotonic() - began, name[:-5], int(position), rss))
            time.sleep(0.2)
    run.seconds = time.monotonic() - began
    text = output.read_text(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"careplan project rebuild failed:\n{text}")
    for name, _, _, seconds in SWITCHED.findall(text):
        run.per_view[name] = float(seconds)
    return run


def report_rebuild(run: RebuildRun) -> None:
    table = Table(
        "view",
        "seconds",
        "events/s",
        "RSS at 1/4 MiB",
        "RSS at last sample MiB",
        title=f"careplan project rebuild, {run.head:,} events",
    )
    for view, seconds in run.per_view.items():
        table.add_row(
            view,
            f"{seconds:.1f}",
            f"{run.head / seconds:,.0f}" if seconds else "-",
            f"{run.rss_at(view, 0.25) / 1024:.0f}",
            f"{run.rss_last(view) / 1024:.0f}",
        )
    console.print(table)
    views = len(run.per_view)
    console.print(
        f"all {views} views: {run.seconds:.1f} s, {run.head * views / run.seconds:,.0f} "
        f"view-events/s ({run.head / run.seconds:,.0f} log events/s); "
        f"peak RSS {run.peak_kib / 1024:.0f} MiB"
    )


def query_function_ms(database_url: str, data_dir: str, plans: list[str]) -> list[float]:
    """The query function alone, in this process (no HTTP), one call after another."""
    settings = Settings(
        data_dir=Path(data_dir), database_url=database_url, jwt_secret=SECRET, log_level="WARNING"
    )
    careplan = bootstrap(settings)
    try:
        times = []
        for n in range(2000):
            began = time.perf_counter()
            active_medications(careplan.views, plans[n % len(plans)])
            times.append((time.perf_counter() - began) * 1000)
        return times
    finally:
        careplan.close()


async def load(
    port: int, rate: int, seconds: float, plans: list[str] | None, auth: dict[str, str]
) -> tuple[list[float], int]:
    """Open loop at ``rate``: medications of ``plans`` in turn, or (None) the baseline's
    select and insert; after two seconds at the same rate, not measured, to open the
    connections that rate needs and warm caches."""
    http = KeepAlive("127.0.0.1", port)
    body = b'{"adherence": "taking_as_prescribed"}'
    json = {"Content-Type": "application/json"}

    async def request(n: int) -> int:
        if plans is None:
            return await http.request("POST", f"/baseline/stream-{n % 1000}", json, body)
        return await http.request(
            "GET", f"/v1/care-plans/{plans[n % len(plans)]}/medications", auth
        )

    try:
        await paced(rate, 2, request)
        return await paced(rate, seconds, request)
    finally:
        await http.close()


def latency(
    database_url: str, baseline_url: str, data_dir: str, rates: list[int], seconds: float
) -> None:
    with psycopg.connect(database_url) as conn:
        plans = [
            str(row[0])
            for row in conn.execute(
                "SELECT DISTINCT care_plan_id FROM current_medications LIMIT 5000"
            ).fetchall()
        ]
    function_ms = query_function_ms(database_url, data_dir, plans)
    token = issue_token(SECRET, sub="svc-bench", role="service", extra={"care_team": ["*"]})
    auth = {"Authorization": f"Bearer {token}"}
    port, baseline_port = free_port(), free_port()
    server = start(
        [str(CAREPLAN), "serve"],
        careplan_env(database_url, data_dir, CAREPLAN_PORT=str(port)),
        port,
        "/health",
    )
    baseline = start_baseline(baseline_port, baseline_url)
    try:
        table = Table(
            "req/s",
            "medications p50 ms",
            "p99 ms",
            "failed",
            "baseline p50 ms",
            "p99 ms",
            "failed",
            title="Current medications through HTTP, open loop, PostgreSQL",
        )
        for rate in rates:
            ours, our_failures = asyncio.run(load(port, rate, seconds, plans, auth))
            theirs, their_failures = asyncio.run(load(baseline_port, rate, seconds, None, {}))
            table.add_row(
                str(rate),
                f"{statistics.median(ours):.1f}",
                f"{percentile(ours, 0.99):.1f}",
                str(our_failures),
                f"{statistics.median(theirs):.1f}",
                f"{percentile(theirs, 0.99):.1f}",
                str(their_failures),
            )
        console.print(table)
        console.print(
            f"query function alone ({len(function_ms)} calls, no HTTP): "
            f"p50 {statistics.median(function_ms):.2f} ms, "
            f"p99 {percentile(function_ms, 0.99):.2f} ms"
        )
    finally:
        for process in (server, baseline):
            process.terminate()
            process.wait(timeout=15)


def main(
    events: Annotated[int, typer.Option(min=1000)] = 1_000_000,
    plans: Annotated[int, typer.Option(min=16)] = 20_000,
    seconds: Annotated[float, typer.Option(help="Seconds per load level.")] = 10.0,
    rates: Annotated[str, typer.Option(help="Requests per second, open loop.")] = "200,500",
    rebuild_batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 5000,
    latency_part: Annotated[
        bool, typer.Option("--latency/--no-latency", help="Run (b), the HTTP part.")
    ] = True,
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
) -> None:
    configure_logging("console", "WARNING")
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(database_url) as db,
        scratch_database(database_url) as baseline_db,
    ):
        head = fill(db, tmp, events, plans)
        run = time_rebuild(db, tmp, head, rebuild_batch_size)
        report_rebuild(run)
        if latency_part:
            latency(db, baseline_db, tmp, [int(r) for r in rates.split(",")], seconds)


if __name__ == "__main__":
    typer.run(main)
