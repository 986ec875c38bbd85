"""``careplan consume``: run the reference consumer (current medications from Kafka)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.consumer import ConsumerStats, GapError, MedicationConsumer, make_consumer
from services.logging import configure_logging
from services.medication_state import IN_MEMORY, MedicationState
from services.settings import Settings
from services.signals import run_until_signalled


def consume(
    state: Annotated[
        Path | None,
        typer.Option(help="SQLite file to keep the state in (resumable); default: memory."),
    ] = None,
    until_idle: Annotated[
        bool, typer.Option(help="Exit once nothing has arrived for --idle-seconds.")
    ] = False,
    idle_seconds: Annotated[float, typer.Option(min=0.1)] = 2.0,
    strict: Annotated[
        bool, typer.Option(help="Stop (exit 1) when a plan's versions skip some.")
    ] = False,
) -> None:
    """Build the current-medication list per plan from the event topic (KAFKA_BOOTSTRAP_SERVERS)."""
    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        Console(stderr=True).print("[red]Set KAFKA_BOOTSTRAP_SERVERS to the broker(s).[/red]")
        raise typer.Exit(2)
    configure_logging(settings.effective_log_format, settings.log_level)
    path = str(state) if state else IN_MEMORY

    def work(stop: threading.Event) -> ConsumerStats:
        consumer = MedicationConsumer(
            make_consumer(
                settings.kafka_bootstrap_servers or "",
                settings.consumer_group,
                session_timeout_ms=settings.consumer_session_timeout_ms,
                heartbeat_interval_ms=min(3000, settings.consumer_session_timeout_ms // 4),
            ),
            settings.kafka_topic,
            MedicationState(path),
            strict=strict,
        )
        try:
            stats = consumer.run(stop, idle_seconds=idle_seconds if until_idle else None)
            if until_idle:
                Console().print(medications_table(consumer.state))
            return stats
        finally:
            consumer.close()

    try:
        stats = run_until_signalled(work)
    except GapError as error:
        Console(stderr=True).print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    typer.echo(
        f"applied {stats.applied}, dropped {stats.duplicates} repeats, {stats.gaps} gaps",
        err=True,
    )


def medications_table(state: MedicationState) -> Table:
    table = Table("care plan", "drug", "dose", "frequency", "route", "status")
    for row in state.medications():
        table.add_row(
            row["care_plan_id"],
            row["drug"],
            f"{row['dose_amount']} {row['dose_unit']}",
            row["frequency"],
            row["route"],
            row["status"],
        )
    return table
