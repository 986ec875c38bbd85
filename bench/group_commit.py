"""Group commit without HTTP: N writer threads in one process, each writing adherence
notes to its own care plan through ``CarePlans`` on PostgreSQL, with group commit on
and then off (every command alone) in the same run.

It isolates the write path (judge, store, views in the same transaction) from the
web stack that ``bench.commands`` also measures.

    python -m bench.group_commit [--seconds 5] [--writers 1,8,32]
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bench.scratch_database import scratch_database
from domain.values import Actor, CommandContext
from services.bootstrap import bootstrap
from services.logging import configure_logging
from services.metrics import REGISTRY
from services.settings import Settings

console = Console()
NURSE = Actor("rn-bench", "clinician")


def batches() -> tuple[float, float]:
    """(transactions, commands) written by group commit so far in this process."""
    count = REGISTRY.get_sample_value("careplan_command_batch_size_count") or 0.0
    return count, REGISTRY.get_sample_value("careplan_command_batch_size_sum") or 0.0


def run(database_url: str, writers: int, seconds: float, *, grouped: bool) -> tuple[float, float]:
    """(commands/s, commands per transaction) for ``writers`` threads."""
    with tempfile.TemporaryDirectory() as tmp:
        careplan = bootstrap(Settings(data_dir=tmp, database_url=database_url))
        try:
            app = careplan.app
            if not grouped:
                app.group_commit = None
            ctx = CommandContext(NURSE, datetime.now(UTC))
            plans = [app.open_care_plan(f"pt-{n}", ctx).care_plan_id for n in range(writers)]
            done = [0] * writers
            stop = time.monotonic() + seconds

            def write(n: int) -> None:
                while time.monotonic() < stop:
                    now = CommandContext(NURSE, datetime.now(UTC))
                    app.record_adherence(plans[n], adherence="taking_as_prescribed", ctx=now)
                    done[n] += 1

            before = batches()
            threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            after = batches()
        finally:
            careplan.close()
    per_transaction = (after[1] - before[1]) / max(1.0, after[0] - before[0]) if grouped else 1.0
    return sum(done) / elapsed, per_transaction


def main(
    seconds: Annotated[float, typer.Option(help="Seconds per measurement.")] = 5.0,
    writers: Annotated[str, typer.Option(help="Writer threads, comma-separated.")] = "1,8,32",
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
) -> None:
    configure_logging(level="WARNING")
    table = Table(
        "writers", "alone /s", "grouped /s", "ratio", "per txn", title="Group commit, in process"
    )
    for level in [int(n) for n in writers.split(",")]:
        with scratch_database(database_url) as url:
            alone, _ = run(url, level, seconds, grouped=False)
        with scratch_database(database_url) as url:
            grouped, per_transaction = run(url, level, seconds, grouped=True)
        table.add_row(
            str(level),
            f"{alone:.0f}",
            f"{grouped:.0f}",
            f"{grouped / alone:.2f}",
            f"{per_transaction:.1f}",
        )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
