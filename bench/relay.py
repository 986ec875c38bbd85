"""How fast the relay moves events to Kafka, and how soon a committed event arrives.

    python -m bench.relay [--events 50000] [--rate 50] [--seconds 10]

Three measures in one run, on PostgreSQL (a scratch database on
CAREPLAN_BENCH_DATABASE_URL) and a local Tansu broker:

- throughput: ``--events`` events stored in bulk through the event store's recorder
  (real domain events, written in chunks, not command by command), then published
  by the relay as it runs in production (acks=all, idempotent producer, position
  recorded after each acknowledged batch);
- the baseline: kafka-python alone producing the same keys, values and headers,
  encoded beforehand, with the same producer settings: the ceiling for the relay;
- latency: ``careplan relay`` as its own process while commands are committed at
  ``--rate`` per second; each message's delay is its arrival at a consumer minus
  the event's recording time (taken before the commit, so the figure errs high).

Targets (issue: Kafka): at least 20,000 events/s; commit-to-broker p99 under 250 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import psycopg
import typer
from kafka import KafkaConsumer, TopicPartition
from rich.console import Console
from rich.table import Table

from bench.percentiles import percentile
from bench.scratch_database import scratch_database
from bench.tansu import Tansu, tansu_broker
from domain.care_plan import CarePlan
from domain.values import Actor, CommandContext, Diagnosis, Evaluation
from services.bootstrap import Careplan, bootstrap
from services.logging import configure_logging
from services.publisher import Relay, cloud_event_headers, encode_value, ensure_topic, make_producer
from services.settings import Settings

console = Console()
DR = Actor("dr-bench", "prescriber", name="Dr Bench")
NURSE = Actor("rn-bench", "clinician")
EVENTS_PER_PLAN = 100
CHUNK = 2_000  # events per insert: one transaction each, as a busy writer's would be
SOURCE = "urn:careplan"
CAREPLAN = Path(sys.executable).parent / "careplan"


# -- data -------------------------------------------------------------------------


def plan_events(n: int) -> list[Any]:
    """One plan's events, made by the domain itself (so they decode like real ones)."""
    start = datetime.now(UTC) - timedelta(days=400)
    plan = CarePlan.open(f"pt-bench-{n}", CommandContext(DR, start))
    plan.record_evaluation(
        Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),)), CommandContext(DR, start)
    )
    for i in range(EVENTS_PER_PLAN - 2):
        at = CommandContext(NURSE, start + timedelta(hours=i + 1))
        if i % 2:
            plan.record_measurement("PHQ-9", at, total=i % 27)
        else:
            plan.report_side_effect("dry mouth", "mild", "monitor", at)
    return list(plan.collect_events())


def store_in_bulk(careplan: Careplan, total: int) -> int:
    """``total`` events (rounded up to whole plans) straight into the recorder."""
    app = careplan.app
    pending: list[Any] = []
    stored = 0
    n = 0
    while stored + len(pending) < total:
        pending.extend(app.mapper.to_stored_event(e) for e in plan_events(n))
        n += 1
        while len(pending) >= CHUNK:
            app.recorder.insert_events(pending[:CHUNK])
            stored += CHUNK
            pending = pending[CHUNK:]
    if pending:
        app.recorder.insert_events(pending)
        stored += len(pending)
    return stored


def settle(url: str) -> None:
    """Let PostgreSQL absorb the bulk load first (statistics, dirty pages), so the relay's
    figure is not charged for the load's aftermath (autovacuum, a checkpoint)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


# -- measures ---------------------------------------------------------------------


def relay_throughput(careplan: Careplan, servers: str, topic: str, batch: int) -> float:
    """Events/s of the live relay publishing everything stored, tracked as in production."""
    relay = Relay(
        recorder=careplan.app.recorder,
        mapper=careplan.app.mapper,
        tracking=careplan.views.tracking,
        producer=make_producer(servers),
        topic=topic,
        source=SOURCE,
        batch_size=batch,
    )
    started = time.perf_counter()
    try:
        published = relay.run(threading.Event(), until_idle=True)
    finally:
        relay.close()
    return published / (time.perf_counter() - started)


def baseline_throughput(careplan: Careplan, servers: str, topic: str) -> float:
    """Events/s of kafka-python alone: the same messages, encoded before the clock starts."""
    app = careplan.app
    notifications = app.recorder.select_notifications(start=None, limit=10_000_000)
    messages = []
    for notification in notifications:
        event = app.mapper.to_domain_event(notification)
        messages.append(
            (
                str(event.originator_id).encode(),
                encode_value(event),
                cloud_event_headers(event, SOURCE),
            )
        )
    producer = make_producer(servers)
    started = time.perf_counter()
    futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in messages]
    producer.flush(timeout=120)
    for future in futures:
        future.get(timeout=30)
    elapsed = time.perf_counter() - started
    producer.close(timeout=10)
    return len(messages) / elapsed


@contextmanager
def relay_process(url: str, servers: str, topic: str, tmp: str) -> Iterator[None]:
    """``careplan relay`` with the default settings, as an operator would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPLAN_", "KAFKA_"))}
    env |= {
        "CAREPLAN_DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": servers,
        "CAREPLAN_KAFKA_TOPIC": topic,
        "CAREPLAN_DATA_DIR": tmp,
        "CAREPLAN_LOG_FORMAT": "json",
    }
    log_path = Path(tmp) / "relay.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(CAREPLAN), "relay"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while "relay.started" not in log_path.read_text():
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"the relay did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def arrivals(servers: str, topic: str, expected: int, stop: threading.Event) -> list[float]:
    """Delays (ms) of the messages on ``topic``: arrival minus the event's recording time."""
    consumer = KafkaConsumer(
        bootstrap_servers=servers.split(","),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        consumer_timeout_ms=200,
    )
    delays: list[float] = []
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        while len(delays) < expected and not stop.is_set():
            for message in consumer:
                arrived = time.time()
                recorded = dict(message.headers)["ce_time"].decode().replace("Z", "+00:00")
                delays.append((arrived - datetime.fromisoformat(recorded).timestamp()) * 1000)
    finally:
        consumer.close()
    return delays


def commit_to_consumer(
    careplan: Careplan, broker: Tansu, url: str, tmp: str, rate: float, seconds: float
) -> list[float]:
    """Commands at a steady ``rate`` while the relay runs: each event's delay in ms."""
    topic = "careplan.bench.latency"
    ensure_topic(broker.servers, topic, partitions=6, replication_factor=1)
    app = careplan.app
    start = datetime.now(UTC) - timedelta(days=1)
    plans: list[UUID] = [
        app.open_care_plan(f"pt-live-{n}", CommandContext(DR, start)).care_plan_id for n in range(8)
    ]
    with relay_process(url, broker.servers, topic, tmp):
        total = int(rate * seconds) + len(plans)
        stop = threading.Event()
        delays: list[float] = []
        consumer = threading.Thread(
            target=lambda: delays.extend(arrivals(broker.servers, topic, total, stop))
        )
        consumer.start()
        began = time.monotonic()
        for i in range(total - len(plans)):
            time.sleep(max(0.0, began + i / rate - time.monotonic()))
            ctx = CommandContext(NURSE, datetime.now(UTC))
            app.record_measurement(plans[i % len(plans)], instrument="PHQ-9", total=i % 27, ctx=ctx)
        consumer.join(timeout=60)
        stop.set()
        consumer.join()
    return delays[len(plans) :] if len(delays) > len(plans) else delays


def main(
    events: Annotated[int, typer.Option(help="Events stored in bulk and relayed.")] = 50_000,
    rate: Annotated[float, typer.Option(help="Commands per second for the latency.")] = 50.0,
    seconds: Annotated[float, typer.Option(help="Seconds of commands for the latency.")] = 10.0,
    database_url: Annotated[str, typer.Option(envvar="CAREPLAN_BENCH_DATABASE_URL")] = (
        "postgresql://postgres@127.0.0.1:5432/test"
    ),
) -> None:
    configure_logging("console", "WARNING")
    batch = Settings().relay_batch_size
    with (
        tempfile.TemporaryDirectory() as tmp,
        scratch_database(database_url) as url,
        tansu_broker() as broker,
    ):
        careplan = bootstrap(Settings(data_dir=Path(tmp), database_url=url, jwt_secret="x" * 40))
        try:
            console.print(f"storing {events} events in bulk on PostgreSQL…")
            stored = store_in_bulk(careplan, events)
            settle(url)
            for topic in ("careplan.bench.relay", "careplan.bench.baseline"):
                ensure_topic(broker.servers, topic, partitions=6, replication_factor=1)
            console.print(f"relaying {stored} events…")
            ours = relay_throughput(careplan, broker.servers, "careplan.bench.relay", batch)
            console.print("baseline: kafka-python alone…")
            theirs = baseline_throughput(careplan, broker.servers, "careplan.bench.baseline")
            console.print(f"latency: {rate:.0f} commands/s for {seconds:.0f} s…")
            delays = commit_to_consumer(careplan, broker, url, tmp, rate, seconds)
        finally:
            careplan.close()
    table = Table("measure", "value", "baseline", "ratio", title=f"Relay, {stored} events")
    table.add_row("throughput, events/s", f"{ours:,.0f}", f"{theirs:,.0f}", f"{ours / theirs:.2f}")
    p50, p99 = statistics.median(delays), percentile(delays, 0.99)
    table.add_row("commit → consumer p50 ms", f"{p50:.1f}", "", "")
    table.add_row("commit → consumer p99 ms", f"{p99:.1f}", "", "")
    table.add_row("latency samples", str(len(delays)), "", "")
    console.print(table)
    console.print(
        f"targets: ≥ 20,000 events/s → {ours:,.0f}: {'met' if ours >= 20_000 else 'NOT met'}; "
        f"p99 < 250 ms → {p99:.1f}: {'met' if p99 < 250 else 'NOT met'}"
    )


if __name__ == "__main__":
    typer.run(main)
