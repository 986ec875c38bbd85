"""How fast an auditor's replay is: a plan of 1,000 events replayed to random versions.

Target (issue: auditors): any version in under 50 ms. Measured on PostgreSQL (a
fresh database on CAREPLAN_BENCH_DATABASE_URL, default the local server). Each
replay is timed with the answer built (``document``), as the API returns it:

- the HTTP answer: the state at the version and the last 100 events that led
  there, from the newest snapshot (one every 100 events, taken by the commands);
- the same with snapshots off: every event up to the version decoded and folded;
- every event in the answer (what the CLI prints), with snapshots;
- as known at a random time, and as it was on a random day (both read every
  event: the times they filter on are inside the events).

The baseline is reading all the plan's rows with one plain query, so the ratio
says what decoding and folding cost. CPU time is shown beside wall time: the
machine may be shared, and the wall-clock tail then tells about the neighbours.
Commands are timed while the plan is built, those that handed a snapshot to the
background thread apart.

    python -m bench.replay [--events 1000] [--samples 200]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bench.percentiles import percentile
from bench.scratch_database import scratch_database
from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.bootstrap import Careplan, bootstrap
from services.logging import configure_logging
from services.replay import document, replay
from services.settings import Settings

console = Console()
DR = Actor("dr-bench", "prescriber", name="Dr Bench")
NURSE = Actor("rn-bench", "clinician")
PAGE = 100  # the HTTP answer's default page of events


def build_plan(careplan: Careplan, events: int) -> tuple[str, list[float], list[float]]:
    """A long course: a start, then adherence notes, side effects and measurements.
    Returns the plan and the times (ms) of the commands that took a snapshot and not."""
    app = careplan.app
    start = datetime.now(UTC) - timedelta(days=400)
    plan = app.open_care_plan("pt-bench", CommandContext(DR, start)).care_plan_id
    app.record_evaluation(
        plan,
        Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),)),
        CommandContext(DR, start),
    )
    app.prescribe(
        plan,
        drug="sertraline",
        dose=Dose(Decimal(25), "mg"),
        frequency="daily",
        route="oral",
        indication="MDD",
        follow_up=FollowUpPlan((start + timedelta(days=14)).date()),
        ctx=CommandContext(DR, start),
    )
    snapshotting: list[float] = []
    plain: list[float] = []
    n, version = 0, app.care_plan(plan).version
    while version < events:
        at = CommandContext(NURSE, start + timedelta(hours=n + 1))
        started = time.perf_counter()
        if n % 3 == 0:
            result = app.record_measurement(plan, instrument="PHQ-9", total=(n % 27), ctx=at)
        elif n % 3 == 1:
            result = app.record_adherence(plan, adherence="taking_as_prescribed", ctx=at)
        else:
            result = app.report_side_effect(
                plan, description="dry mouth", severity="mild", action="monitor", ctx=at
            )
        took = (time.perf_counter() - started) * 1000
        crossed = app.plan_snapshots.due(version, result.version)
        (snapshotting if crossed else plain).append(took)
        version = result.version
        n += 1
    return str(plan), snapshotting, plain


def timed(call: Callable[[], Any], samples: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each call."""
    wall, cpu = [], []
    for _ in range(samples):
        started, used = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return wall, cpu


def baseline(careplan: Careplan, plan: str) -> float:
    """One plain query for the plan's stored events (no decoding): the floor."""
    datastore = careplan.app.factory.datastore  # type: ignore[attr-defined]
    table = careplan.app.recorder.events_table_name  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        started = time.perf_counter()
        cursor.execute(f"SELECT * FROM {table} WHERE originator_id = %s", (plan,))
        cursor.fetchall()
        return (time.perf_counter() - started) * 1000


def measure(careplan: Careplan, plan: str, samples: int) -> dict[str, tuple[list[float], ...]]:
    app = careplan.app
    top = app.care_plan(plan).version
    rng = random.Random(7)
    versions = [rng.randint(1, top) for _ in range(samples)]
    first = app.care_plan(plan, version=1).opened_at
    moments = [first + (datetime.now(UTC) - first) * rng.random() for _ in range(samples)]

    def each(ask: Callable[[Any], Any], points: list[Any]) -> tuple[list[float], list[float]]:
        it = iter(points)
        return timed(lambda: document(ask(next(it))), samples)

    results: dict[str, tuple[list[float], ...]] = {}
    page = lambda v: replay(app, plan, version=v, events_limit=PAGE)  # noqa: E731
    results[f"version, last {PAGE} events (HTTP)"] = each(page, versions)
    interval, app.plan_snapshots.interval = app.plan_snapshots.interval, 0
    results["  same, snapshots off"] = each(page, versions)
    app.plan_snapshots.interval = interval
    results["version, every event (CLI)"] = each(lambda v: replay(app, plan, version=v), versions)
    results["as known at a random time"] = each(lambda t: replay(app, plan, known_at=t), moments)
    as_it_was = lambda t: replay(app, plan, clinical_at=t, events_limit=PAGE)  # noqa: E731
    results[f"as it was on a random day, last {PAGE}"] = each(as_it_was, moments)
    results["load the plan as it stands"] = timed(lambda: app.care_plan(plan), samples)
    floor = [baseline(careplan, plan) for _ in range(samples)]
    results["baseline: select all rows"] = (floor, [])
    return results


def main(
    events: Annotated[int, typer.Option(help="Events in the plan.")] = 1000,
    samples: Annotated[int, typer.Option(help="Replays to time, per measure.")] = 200,
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
) -> None:
    configure_logging("console", "WARNING")
    with tempfile.TemporaryDirectory() as tmp, scratch_database(database_url) as url:
        settings = Settings(data_dir=Path(tmp), database_url=url, jwt_secret="x" * 40)
        careplan = bootstrap(settings)
        try:
            console.print(f"building a plan of {events} events on PostgreSQL…")
            plan, snapshotting, plain = build_plan(careplan, events)
            careplan.app.settle_snapshots()
            top = careplan.app.care_plan(plan).version
            results = measure(careplan, plan, samples)
        finally:
            careplan.close()
    base = statistics.median(results["baseline: select all rows"][0])
    every = settings.snapshot_interval
    table = Table(
        "measure", "p50 ms", "p99 ms", "CPU p50", "CPU p99", "p50 / baseline",
        title=f"Replay to random versions, {top} events, a snapshot every {every}",
    )  # fmt: skip
    for name, (wall, cpu) in results.items():
        p50 = statistics.median(wall)
        table.add_row(
            name,
            f"{p50:.1f}",
            f"{percentile(wall, 0.99):.1f}",
            f"{statistics.median(cpu):.1f}" if cpu else "",
            f"{percentile(cpu, 0.99):.1f}" if cpu else "",
            f"{p50 / base:.1f}x",
        )
    console.print(table)
    console.print(
        f"commands: p50 {statistics.median(plain):.1f} ms; the {len(snapshotting)} that handed "
        f"a snapshot over: p50 {statistics.median(snapshotting or [0]):.1f} ms, "
        f"max {max(snapshotting or [0]):.1f} ms"
    )
    off = percentile(results["  same, snapshots off"][0], 0.99)
    worst = percentile(results[f"version, last {PAGE} events (HTTP)"][0], 0.99)
    verdict = "met" if worst < 50 else "NOT met"
    console.print(
        f"target: any version under 50 ms → p99 {worst:.1f} ms ({off:.1f} ms without "
        f"snapshots): {verdict}"
    )


if __name__ == "__main__":
    typer.run(main)
