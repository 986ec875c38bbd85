"""The relay against a real broker: every stored event on Kafka, once, in order.

Each test writes to its own topic, so tests never see each other's records.
The store-parametrised tests run on SQLite and PostgreSQL (``careplan`` fixture);
the CLI tests run ``careplan relay`` as its own process against PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from kafka.errors import KafkaError, KafkaTimeoutError

from domain.values import CommandContext, Dose, FollowUpPlan
from services.bootstrap import Careplan, bootstrap
from services.demo import PRESCRIBER, play_course
from services.event_json import iso_time, message_value
from services.publisher import RELAY_NAME, Relay, make_producer
from services.settings import Settings
from tests.integration.kafka_helpers import (
    CrashingProducer,
    ProducerCrash,
    Received,
    UnacknowledgingProducer,
    by_key,
    deduplicated,
    new_topic,
    read_topic,
    record_count,
    unique_topic,
    wait_for_records,
)
from tests.support.schemas import schema_validator, validate_message

pytestmark = [pytest.mark.kafka]

SOURCE = "urn:careplan:relay-tests"
CAREPLAN_SCRIPT = Path(sys.executable).parent / "careplan"


# -- writing events ---------------------------------------------------------------


def more_commands(careplan: Careplan, plan_id: UUID) -> None:
    """A dose change (with its follow-up) and an extra follow-up on an existing plan."""
    app = careplan.app
    now = datetime.now(UTC)
    ctx = CommandContext(PRESCRIBER, now, correlation_id=f"relay-test-{uuid4().hex[:6]}")
    sertraline = next(rx for rx in app.care_plan(plan_id).active_prescriptions)
    app.change_dose(
        plan_id,
        sertraline.prescription_id,
        dose=Dose(sertraline.dose.amount + 25, sertraline.dose.unit),
        reason="partial response; titrate up",
        follow_up=FollowUpPlan((now + timedelta(days=14)).date(), "telehealth"),
        ctx=ctx,
    )
    app.schedule_follow_up(plan_id, FollowUpPlan((now + timedelta(days=42)).date()), ctx)


def write_plans(careplan: Careplan, count: int) -> list[UUID]:
    """``count`` full treatment courses, plus extra commands on the first plan."""
    plans = [play_course(careplan.app, f"relay-{uuid4().hex[:8]}") for _ in range(count)]
    more_commands(careplan, plans[0])
    return plans


def stored_events(careplan: Careplan) -> list[Any]:
    """Every stored event, in notification (commit) order."""
    app = careplan.app
    notifications = app.recorder.select_notifications(start=None, limit=100_000)
    return [app.mapper.to_domain_event(n) for n in notifications]


def ce_id(event: Any) -> str:
    return f"{event.originator_id}:{event.originator_version}"


# -- the relay under test -----------------------------------------------------------


def make_relay(careplan: Careplan, servers: str, topic: str, **kwargs: Any) -> Relay:
    """A relay as a fresh process would build one: new producer, shared tracking."""
    producer = kwargs.pop("producer", None) or make_producer(servers)
    return Relay(
        recorder=careplan.app.recorder,
        mapper=careplan.app.mapper,
        tracking=kwargs.pop("tracking", careplan.views.tracking),
        producer=producer,
        topic=topic,
        source=SOURCE,
        **kwargs,
    )


def run_until_idle(relay: Relay) -> int:
    try:
        return relay.run(threading.Event(), until_idle=True)
    finally:
        relay.close()


def max_notification_id(careplan: Careplan) -> int:
    return careplan.app.recorder.max_notification_id() or 0


# -- what the topic must hold -------------------------------------------------------


def expected_headers(event: Any, source: str = SOURCE) -> dict[str, bytes]:
    plan_id = str(event.originator_id)
    return {
        "ce_specversion": b"1.0",
        "ce_id": f"{plan_id}:{event.originator_version}".encode(),
        "ce_type": f"careplan.{type(event).__name__}.v{type(event).class_version}".encode(),
        "ce_source": source.encode(),
        "ce_subject": plan_id.encode(),
        "ce_time": iso_time(event.timestamp).encode(),
        "ce_dataschema": (
            f"https://careplan.example/schemas/careplan.{type(event).__name__}"
            f".v{type(event).class_version}.json"
        ).encode(),
        "content-type": b"application/json",
    }


def assert_record_is(record: Received, event: Any, source: str = SOURCE) -> None:
    assert record.key == str(event.originator_id).encode()
    assert record.value == message_value(event)
    assert record.value["care_plan_id"] == str(event.originator_id)
    assert record.value["version"] == event.originator_version
    assert record.headers == expected_headers(event, source)
    assert record.headers["ce_time"].decode() == record.value["recorded_at"]
    validate_message(record.value, record.headers["ce_type"].decode())
    assert schema_validator(record.headers["ce_type"].decode()).schema["$id"] == (
        record.headers["ce_dataschema"].decode()
    )


def assert_topic_holds_exactly(
    records: list[Received], events: list[Any], source: str = SOURCE, *, from_version_1: bool = True
) -> None:
    """Each event once, with its exact record, and per plan in version order (without
    gaps, and from version 1 unless history was republished from a later position)."""
    by_id = {ce_id(event): event for event in events}
    ids = [record.ce_id for record in records]
    assert len(ids) == len(set(ids)), "a record was published twice"
    assert sorted(ids) == sorted(by_id), "the topic does not hold exactly the stored events"
    for record in records:
        assert_record_is(record, by_id[record.ce_id], source)
    expected_versions: dict[bytes, list[int]] = {}
    for event in events:
        expected_versions.setdefault(str(event.originator_id).encode(), []).append(
            event.originator_version
        )
    for key, group in by_key(records).items():
        assert key is not None
        assert len({r.partition for r in group}) == 1, "one plan's records span partitions"
        assert [r.value["version"] for r in group] == expected_versions[key]
        first = 1 if from_version_1 else expected_versions[key][0]
        assert expected_versions[key] == list(range(first, first + len(group)))


# -- in-process relay, both stores --------------------------------------------------


def test_publishes_every_stored_event_once_in_order(careplan: Careplan, kafka: str) -> None:
    plans = write_plans(careplan, 3)
    events = stored_events(careplan)
    assert len({e.originator_id for e in events}) == 3
    assert len(events) > 3 * 8
    topic = new_topic(kafka)

    relay = make_relay(careplan, kafka, topic, batch_size=7)  # several batches
    published = run_until_idle(relay)

    assert published == len(events)
    assert relay.position() == max_notification_id(careplan)
    records = read_topic(kafka, topic, at_least=len(events))
    assert_topic_holds_exactly(records, events)
    for plan_id in plans:
        history = list(careplan.app.history(plan_id))
        on_topic = by_key(records)[str(plan_id).encode()]
        assert [r.value for r in on_topic] == [message_value(e) for e in history]


def test_second_relay_resumes_where_the_first_stopped(careplan: Careplan, kafka: str) -> None:
    plans = write_plans(careplan, 3)
    topic = new_topic(kafka)
    first = make_relay(careplan, kafka, topic)
    assert first.position() == 0
    assert run_until_idle(first) == len(stored_events(careplan))
    position = first.position()
    assert position == max_notification_id(careplan)

    # A restart with nothing new written: nothing is published again.
    idle = make_relay(careplan, kafka, topic)
    assert idle.position() == position
    assert run_until_idle(idle) == 0
    assert idle.position() == position
    assert record_count(kafka, topic) == len(stored_events(careplan))

    # New commands on an old plan and a new plan: only they go out.
    before = len(stored_events(careplan))
    more_commands(careplan, plans[1])
    plans.append(play_course(careplan.app, f"relay-{uuid4().hex[:8]}"))
    events = stored_events(careplan)
    new_events = events[before:]
    assert len(new_events) > 3

    resumed = make_relay(careplan, kafka, topic, batch_size=4)
    assert run_until_idle(resumed) == len(new_events)
    assert resumed.position() == max_notification_id(careplan)
    records = read_topic(kafka, topic, at_least=len(events))
    assert_topic_holds_exactly(records, events)
    assert len(by_key(records)) == 4


def test_crash_mid_batch_does_not_advance_and_a_fresh_relay_republishes(
    careplan: Careplan, kafka: str
) -> None:
    write_plans(careplan, 3)
    events = stored_events(careplan)
    topic = new_topic(kafka)
    batch = 10
    partial = 4  # sent (and delivered) before the crash, but never tracked

    producer = CrashingProducer(make_producer(kafka), crash_after=batch + partial)
    crashing = make_relay(careplan, kafka, topic, producer=producer, batch_size=batch)
    with pytest.raises(ProducerCrash):
        run_until_idle(crashing)  # closes (and so flushes) the producer, as on the way down

    first_batch = careplan.app.recorder.select_notifications(start=None, limit=batch)
    assert crashing.position() == first_batch[-1].id  # only the acknowledged batch
    assert record_count(kafka, topic) == batch + partial

    fresh = make_relay(careplan, kafka, topic, batch_size=batch)
    assert fresh.position() == crashing.position()
    assert run_until_idle(fresh) == len(events) - batch
    assert fresh.position() == max_notification_id(careplan)

    records = read_topic(kafka, topic, at_least=len(events) + partial)
    assert len(records) == len(events) + partial  # at-least-once: the partial batch twice
    kept = deduplicated(records)
    duplicates = [r.ce_id for r in records if r not in kept]
    assert sorted(duplicates) == sorted(ce_id(e) for e in events[batch : batch + partial])
    assert_topic_holds_exactly(kept, events)


def test_unacknowledged_batch_is_not_tracked_and_is_republished(
    careplan: Careplan, kafka: str
) -> None:
    write_plans(careplan, 3)
    events = stored_events(careplan)
    topic = new_topic(kafka)
    acked = 5  # the broker acknowledges these, then stops answering

    producer = UnacknowledgingProducer(make_producer(kafka), ack_first=acked)
    stalled = make_relay(careplan, kafka, topic, producer=producer)  # one batch: all events
    with pytest.raises(KafkaTimeoutError):
        stalled.publish_next_batch()
    assert stalled.position() == 0, "position recorded for a batch the broker did not ack"
    stalled.close()

    fresh = make_relay(careplan, kafka, topic)
    assert run_until_idle(fresh) == len(events)
    assert fresh.position() == max_notification_id(careplan)
    records = read_topic(kafka, topic, at_least=len(events) + acked)
    assert len(records) == len(events) + acked
    assert_topic_holds_exactly(deduplicated(records), events)


def test_a_failed_batch_drops_the_batch_read_ahead_and_resumes_after_the_last_ack(
    careplan: Careplan, kafka: str
) -> None:
    """The next batch is read while one is acknowledged: when the acknowledgement fails,
    that batch must not go out; the relay starts again after the last acknowledged one."""
    write_plans(careplan, 3)
    events = stored_events(careplan)
    topic = new_topic(kafka)
    batch = 10
    acked = batch + 4  # the first batch, then part of the second, reach the broker

    failing = UnacknowledgingProducer(make_producer(kafka), ack_first=acked)
    relay = make_relay(
        careplan,
        kafka,
        topic,
        producer=failing,
        batch_size=batch,
        reconnect=lambda: make_producer(kafka),
    )
    errors: list[Exception] = []
    try:
        published = relay.run(threading.Event(), until_idle=True, on_error=errors.append)
    finally:
        relay.close()

    assert [type(e) for e in errors] == [KafkaTimeoutError]
    assert published == len(events)
    assert relay.position() == max_notification_id(careplan)
    records = read_topic(kafka, topic, at_least=len(events) + acked - batch)
    # Only the second batch's acknowledged part went out twice: nothing of the batch
    # read ahead was sent before the failure.
    assert len(records) == len(events) + acked - batch
    kept = deduplicated(records)
    duplicates = [r.ce_id for r in records if r not in kept]
    assert sorted(duplicates) == sorted(ce_id(e) for e in events[batch:acked])
    assert_topic_holds_exactly(kept, events)


def test_closed_producer_fails_the_batch_without_advancing(careplan: Careplan, kafka: str) -> None:
    write_plans(careplan, 3)
    events = stored_events(careplan)
    topic = new_topic(kafka)

    dead = make_relay(careplan, kafka, topic)
    dead.producer.close(timeout=5)
    with pytest.raises(KafkaError, match="closed"):
        dead.publish_next_batch()
    assert dead.position() == 0
    assert record_count(kafka, topic) == 0

    fresh = make_relay(careplan, kafka, topic)
    assert run_until_idle(fresh) == len(events)
    assert_topic_holds_exactly(read_topic(kafka, topic, at_least=len(events)), events)


# -- the CLI, as its own process, on PostgreSQL ------------------------------------


@pytest.fixture
def cli_env(postgres_database: str, kafka: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREPLAN_", "KAFKA_"))}
    env.update(
        CAREPLAN_DATABASE_URL=postgres_database,
        KAFKA_BOOTSTRAP_SERVERS=kafka,
        CAREPLAN_KAFKA_TOPIC=unique_topic(),
        CAREPLAN_KAFKA_PARTITIONS="3",
        CAREPLAN_DATA_DIR=str(tmp_path / "var"),
        CAREPLAN_RELAY_POLL_SECONDS="0.1",
        CAREPLAN_LOG_FORMAT="json",
    )
    return env


@pytest.fixture
def writer(cli_env: dict[str, str]) -> Iterator[Careplan]:
    """The application in the test process, writing to the CLI's database."""
    running = bootstrap(
        Settings(
            database_url=cli_env["CAREPLAN_DATABASE_URL"],
            data_dir=Path(cli_env["CAREPLAN_DATA_DIR"]),
        )
    )
    yield running
    running.close()


def careplan_relay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CAREPLAN_SCRIPT), "relay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.postgres
def test_cli_until_idle_publishes_everything_then_resumes(
    cli_env: dict[str, str], writer: Careplan, kafka: str
) -> None:
    write_plans(writer, 3)
    events = stored_events(writer)
    topic = cli_env["CAREPLAN_KAFKA_TOPIC"]

    done = careplan_relay(cli_env, "--until-idle")
    assert done.returncode == 0, done.stdout + done.stderr
    records = read_topic(kafka, topic, at_least=len(events))
    assert_topic_holds_exactly(records, events, source="urn:careplan")
    assert writer.views.tracking.max_tracking_id(RELAY_NAME) == max_notification_id(writer)

    again = careplan_relay(cli_env, "--until-idle")
    assert again.returncode == 0, again.stdout + again.stderr
    assert record_count(kafka, topic) == len(events)

    more_commands(writer, events[0].originator_id)
    events = stored_events(writer)
    resumed = careplan_relay(cli_env, "--until-idle")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    records = read_topic(kafka, topic, at_least=len(events))
    assert_topic_holds_exactly(records, events, source="urn:careplan")


@pytest.mark.postgres
def test_cli_relay_follows_new_events_and_stops_on_sigterm(
    cli_env: dict[str, str], writer: Careplan, kafka: str, tmp_path: Path
) -> None:
    write_plans(writer, 1)
    topic = cli_env["CAREPLAN_KAFKA_TOPIC"]
    log_path = tmp_path / "relay.log"
    with log_path.open("w") as log:
        relay = subprocess.Popen(
            [str(CAREPLAN_SCRIPT), "relay"], env=cli_env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        # Once the first events are out, the relay is in its loop (signals handled).
        wait_for_records(kafka, topic, len(stored_events(writer)), timeout=30)

        write_plans(writer, 2)
        events = stored_events(writer)
        records = wait_for_records(kafka, topic, len(events), timeout=20)
        assert_topic_holds_exactly(records, events, source="urn:careplan")

        relay.send_signal(signal.SIGTERM)
        assert relay.wait(timeout=10) == 0, log_path.read_text()
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait(timeout=10)
    assert writer.views.tracking.max_tracking_id(RELAY_NAME) == max_notification_id(writer)
