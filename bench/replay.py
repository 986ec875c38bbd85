"""How fast an auditor's replay is: a plan of 1,000 events replayed to random versions.

Target (issue: auditors): any version in under 50 ms. Measured on PostgreSQL (a
fresh database on CAREPLAN_BENCH_DATABASE_URL, default the local server); the
baseline is reading the same rows with one plain query in the same run, so the
ratio says what decoding and folding the events costs.

    python -m bench.replay [--events 1000] [--samples 200]
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.scratch_database import scratch_database
from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.bootstrap import Careplan, bootstrap
from services.logging import configure_logging
from services.replay import replay
from services.settings import Settings

console = Console()
DR = Actor("dr-bench", "prescriber", name="Dr Bench")
NURSE = Actor("rn-bench", "clinician")


def build_plan(careplan: Careplan, events: int) -> str:
    """A long course: a start, then adherence notes, side effects and measurements."""
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
    n = 0
    while app.care_plan(plan).version < events:
        at = CommandContext(NURSE, start + timedelta(hours=n + 1))
        if n % 3 == 0:
            app.record_measurement(plan, instrument="PHQ-9", total=(n % 27), ctx=at)
        elif n % 3 == 1:
            app.record_adherence(plan, adherence="taking_as_prescribed", ctx=at)
        else:
            app.report_side_effect(
                plan, description="dry mouth", severity="mild", action="monitor", ctx=at
            )
        n += 1
    return str(plan)


def timed(call, samples: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def baseline(careplan: Careplan, plan: str) -> float:
    """One plain query for the plan's stored events (no decoding): the floor."""
    datastore = careplan.app.factory.datastore  # type: ignore[attr-defined]
    table = careplan.app.recorder.events_table_name  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        started = time.perf_counter()
        cursor.execute(f"SELECT * FROM {table} WHERE originator_id = %s", (plan,))
        cursor.fetchall()
        return (time.perf_counter() - started) * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main(
    events: Annotated[int, typer.Option(help="Events in the plan.")] = 1000,
    samples: Annotated[int, typer.Option(help="Replays to time.")] = 200,
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
) -> None:
    configure_logging("console", "WARNING")
    with tempfile.TemporaryDirectory() as tmp, scratch_database(database_url) as url:
        careplan = bootstrap(Settings(data_dir=Path(tmp), database_url=url, jwt_secret="x" * 40))
        try:
            console.print(f"building a plan of {events} events on PostgreSQL…")
            plan = build_plan(careplan, events)
            top = careplan.app.care_plan(plan).version
            random.seed(7)
            versions = [random.randint(1, top) for _ in range(samples)]
            it = iter(versions)
            replays = timed(lambda: replay(careplan.app, plan, version=next(it)), samples)
            latest = timed(lambda: careplan.app.care_plan(plan), samples)
            floor = [baseline(careplan, plan) for _ in range(samples)]
        finally:
            careplan.close()
    table = Table("measure", "p50 ms", "p99 ms", "p50 / baseline", title=f"Replay, {top} events")
    base = statistics.median(floor)
    for name, values in (
        ("replay to a random version", replays),
        ("load the plan as it stands", latest),
        ("baseline: select the rows", floor),
    ):
        p50 = statistics.median(values)
        table.add_row(name, f"{p50:.1f}", f"{percentile(values, 0.99):.1f}", f"{p50 / base:.1f}x")
    console.print(table)
    worst = percentile(replays, 0.99)
    verdict = "met" if worst < 50 else "NOT met"
    console.print(f"target: any version under 50 ms → p99 {worst:.1f} ms: {verdict}")


if __name__ == "__main__":
    typer.run(main)
