"""The reference consumer against the real broker and the real relay.

What it builds from the topic alone must equal the current-medications
projection, row for row, even when the relay published part of a batch twice;
with a state file it resumes at the group's committed offsets.
"""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.bootstrap import Careplan
from services.consumer import ConsumerStats, GapError, MedicationConsumer, make_consumer
from services.medication_state import MedicationState
from services.publisher import cloud_event_headers, encode_value, make_producer
from tests.integration.kafka_helpers import CrashingProducer, ProducerCrash, new_topic
from tests.integration.medication_histories import write_varied_plans
from tests.integration.test_relay import (
    CAREPLAN_SCRIPT,
    SOURCE,
    cli_env,  # noqa: F401 (fixture)
    make_relay,
    run_until_idle,
    stored_events,
    writer,  # noqa: F401 (fixture)
)

pytestmark = [pytest.mark.kafka]

# Tansu forms a group in about half the session timeout: keep it short here.
FAST_GROUP = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500}
COLUMNS = "prescription_id, care_plan_id, drug, dose_amount, dose_unit, frequency, route, status"
sqlite_only = pytest.mark.parametrize("settings", ["sqlite"], indirect=True)


def projection_rows(careplan: Careplan) -> list[dict[str, Any]]:
    """The projection's rows, as the consumer keeps them (sorted here: PostgreSQL's
    collation may order text differently from SQLite's bytes)."""
    with careplan.views.reading() as sql:
        rows = sql.execute(f"SELECT {COLUMNS} FROM current_medications").fetchall()
    return sorted(rows, key=lambda row: (row["care_plan_id"], row["prescription_id"]))


def medication_consumer(
    servers: str,
    topic: str,
    state: MedicationState,
    group: str | None = None,
    *,
    strict: bool = False,
    **overrides: Any,
) -> MedicationConsumer:
    kafka_consumer = make_consumer(servers, group or f"group-{topic}", **FAST_GROUP, **overrides)
    return MedicationConsumer(kafka_consumer, topic, state, strict=strict)


def consume_until_idle(consumer: MedicationConsumer) -> ConsumerStats:
    return consumer.run(threading.Event(), idle_seconds=1.5, join_timeout_seconds=30)


def publish_with_a_crash(careplan: Careplan, servers: str, topic: str, repeated: int) -> int:
    """Relay everything, crashing once mid-batch: ``repeated`` records go out twice."""
    batch = 40
    crashing = make_relay(
        careplan,
        servers,
        topic,
        producer=CrashingProducer(make_producer(servers), crash_after=batch + repeated),
        batch_size=batch,
    )
    with pytest.raises(ProducerCrash):
        run_until_idle(crashing)
    return run_until_idle(make_relay(careplan, servers, topic, batch_size=batch))


def test_thirty_plans_from_the_topic_alone_equal_the_projection(
    careplan: Careplan, kafka: str
) -> None:
    plans = write_varied_plans(careplan.app, 30)
    events = stored_events(careplan)
    kinds = Counter(type(event).__name__ for event in events)
    for kind in ("DoseChanged", "MedicationDiscontinued", "MedicationSwitched"):
        assert kinds[kind] >= 5, kinds
    assert kinds["EntryMarkedInError"] >= 3, kinds
    topic = new_topic(kafka)
    publish_with_a_crash(careplan, kafka, topic, repeated=7)

    consumer = medication_consumer(kafka, topic, MedicationState())
    try:
        stats = consume_until_idle(consumer)
        rows = consumer.state.medications()
    finally:
        consumer.close()

    assert (stats.applied, stats.duplicates, stats.gaps) == (len(events), 7, 0)
    assert rows == projection_rows(careplan)
    assert {row["care_plan_id"] for row in rows} == {str(plan) for plan in plans}
    assert {row["status"] for row in rows} == {"active", "discontinued", "entered_in_error"}


@sqlite_only
def test_a_state_file_resumes_where_the_group_committed(
    careplan: Careplan, kafka: str, tmp_path: Path
) -> None:
    write_varied_plans(careplan.app, 6)
    topic = new_topic(kafka)
    first_count = run_until_idle(make_relay(careplan, kafka, topic))
    path = tmp_path / "medications.db"
    group = f"resuming-{topic}"

    # The first run applies one small poll (then commits it) and stops.
    first = medication_consumer(kafka, topic, MedicationState(path), group, max_poll_records=10)
    try:
        while first.stats.applied == 0:
            first.poll_once()
        applied_first = first.stats.applied
    finally:
        first.close()
    assert applied_first < first_count

    # The next run resumes at the committed offsets: nothing again, nothing missed.
    write_varied_plans(careplan.app, 3, seed=8)
    total = len(stored_events(careplan))
    run_until_idle(make_relay(careplan, kafka, topic))
    second = medication_consumer(kafka, topic, MedicationState(path), group)
    try:
        stats = consume_until_idle(second)
        rows = second.state.medications()
    finally:
        second.close()
    assert (stats.applied, stats.duplicates, stats.gaps) == (total - applied_first, 0, 0)
    assert rows == projection_rows(careplan)


@sqlite_only
def test_a_state_in_memory_reads_from_the_beginning_whatever_was_committed(
    careplan: Careplan, kafka: str
) -> None:
    write_varied_plans(careplan.app, 4)
    topic = new_topic(kafka)
    published = run_until_idle(make_relay(careplan, kafka, topic))
    group = f"memory-{topic}"
    for _ in range(2):  # the second run finds the first run's offsets committed
        consumer = medication_consumer(kafka, topic, MedicationState(), group)
        try:
            stats = consume_until_idle(consumer)
            assert stats.applied == published
            assert consumer.state.medications() == projection_rows(careplan)
        finally:
            consumer.close()


@sqlite_only
def test_missing_versions_are_counted_or_in_strict_mode_refused(
    careplan: Careplan, kafka: str
) -> None:
    write_varied_plans(careplan.app, 2)
    events = stored_events(careplan)
    lost = {id(event) for event in events if event.originator_version == 3}
    topic = new_topic(kafka)
    producer = make_producer(kafka)
    for event in events:
        if id(event) not in lost:
            producer.send(
                topic,
                key=str(event.originator_id).encode(),
                value=encode_value(event),
                headers=cloud_event_headers(event, SOURCE),
            )
    producer.flush()
    producer.close()

    lenient = medication_consumer(kafka, topic, MedicationState())
    try:
        assert consume_until_idle(lenient).gaps == 2
    finally:
        lenient.close()
    strict = medication_consumer(kafka, topic, MedicationState(), strict=True)
    try:
        with pytest.raises(GapError, match="version 3 never arrived before version 4"):
            consume_until_idle(strict)
        # The batch with the gap rolled back: nothing after the gap was applied.
        assert all(v < 3 for v in strict.state.applied_versions().values())
    finally:
        strict.close()


@pytest.mark.postgres
def test_the_consume_command_keeps_its_state_in_a_file(
    cli_env: dict[str, str],  # noqa: F811
    writer: Careplan,  # noqa: F811
    tmp_path: Path,
) -> None:
    write_varied_plans(writer.app, 5)
    relayed = subprocess.run(
        [str(CAREPLAN_SCRIPT), "relay", "--until-idle"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert relayed.returncode == 0, relayed.stderr
    state = tmp_path / "medications.db"
    env = {
        **cli_env,
        "CAREPLAN_CONSUMER_SESSION_TIMEOUT_MS": "2000",
        "CAREPLAN_CONSUMER_GROUP": f"cli-{cli_env['CAREPLAN_KAFKA_TOPIC']}",
    }
    consumed = subprocess.run(
        [str(CAREPLAN_SCRIPT), "consume", "--until-idle", "--state", str(state)],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert consumed.returncode == 0, consumed.stderr
    events = stored_events(writer)
    assert f"applied {len(events)}, dropped 0 repeats, 0 gaps" in consumed.stderr
    assert "prazosin" in consumed.stdout or "sertraline" in consumed.stdout
    saved = MedicationState(state)
    try:
        assert saved.medications() == projection_rows(writer)
    finally:
        saved.close()
