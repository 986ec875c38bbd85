"""Helpers for the relay tests: unique topics, bounded reads, a producer that crashes.

Reads never join a consumer group (Tansu is slow to form one): they assign every
partition of the topic, start from the earliest offset and read until the topic
has been quiet for a moment; every wait is bounded.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from services.publisher import ensure_topic


def unique_topic(prefix: str = "careplan.events.test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_topic(servers: str, *, partitions: int = 3) -> str:
    """A fresh topic nobody else writes to, created the way the relay creates its own."""
    topic = unique_topic()
    assert ensure_topic(servers, topic, partitions=partitions, replication_factor=1)
    return topic


@dataclass(frozen=True)
class Received:
    """One record as a consumer sees it, decoded."""

    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any]
    headers: dict[str, bytes]

    @property
    def ce_id(self) -> str:
        return self.headers["ce_id"].decode()


def _assign_all(consumer: KafkaConsumer, topic: str, deadline: float) -> list[TopicPartition]:
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)  # auto_offset_reset: from the earliest
            return assigned
        if time.monotonic() > deadline:
            msg = f"topic {topic} has no partitions (does it exist?)"
            raise TimeoutError(msg)
        time.sleep(0.1)


def _consumer(servers: str, idle_ms: int) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=servers.split(","),
        client_id="careplan-relay-tests",
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
    )


def read_topic(
    servers: str, topic: str, *, at_least: int = 0, idle_ms: int = 1000, timeout: float = 20.0
) -> list[Received]:
    """Every record on the topic, in (partition, offset) order, duplicates included.

    Reads until at least ``at_least`` records are in and then nothing more has
    arrived for ``idle_ms``, so extras (a record published twice) are seen too.
    ``timeout`` bounds the whole read. (Tansu's ListOffsets answers do not give
    the real end offsets, so "quiet for a while" is what marks the end.)
    """
    deadline = time.monotonic() + timeout
    consumer = _consumer(servers, idle_ms)
    records: list[Received] = []
    try:
        _assign_all(consumer, topic, deadline)
        while time.monotonic() < deadline:
            for message in consumer:  # ends after idle_ms without a record
                records.append(
                    Received(
                        partition=message.partition,
                        offset=message.offset,
                        key=message.key,
                        value=json.loads(message.value),
                        headers=dict(message.headers or []),
                    )
                )
                if time.monotonic() > deadline:
                    break
            if len(records) >= at_least:
                break
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def record_count(servers: str, topic: str) -> int:
    """How many records the topic holds (read until quiet)."""
    return len(read_topic(servers, topic))


def wait_for_records(
    servers: str, topic: str, count: int, *, timeout: float = 20.0
) -> list[Received]:
    """Wait (bounded) until the topic holds at least ``count`` records; return them all."""
    records = read_topic(servers, topic, at_least=count, timeout=timeout)
    if len(records) < count:
        msg = f"only {len(records)} of {count} records reached {topic} in {timeout}s"
        raise AssertionError(msg)
    return records


def by_key(records: list[Received]) -> dict[bytes | None, list[Received]]:
    """Records grouped by key, each group in the order a consumer of its partition sees."""
    grouped: dict[bytes | None, list[Received]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        grouped.setdefault(record.key, []).append(record)
    return grouped


def deduplicated(records: list[Received]) -> list[Received]:
    """What an idempotent consumer keeps: the first record of each ``ce_id``."""
    seen: set[str] = set()
    kept = []
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        if record.ce_id not in seen:
            seen.add(record.ce_id)
            kept.append(record)
    return kept


class ProducerCrash(RuntimeError):
    """Raised by :class:`CrashingProducer` to stand in for a process dying mid-batch."""


class CrashingProducer:
    """A real producer that "dies" on its ``crash_after + 1``-th send.

    Sends before that really go to the broker (and are acknowledged once
    flushed), which is what a crash after a partial batch leaves behind.
    """

    def __init__(self, producer: KafkaProducer, *, crash_after: int) -> None:
        self.producer = producer
        self.crash_after = crash_after
        self.sent = 0

    def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.sent >= self.crash_after:
            msg = f"producer crashed after {self.sent} sends"
            raise ProducerCrash(msg)
        self.sent += 1
        return self.producer.send(*args, **kwargs)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self.producer.close(timeout=timeout)


class _Unacknowledged:
    """A send future the broker never answers: ``get`` times out, as kafka-python's would."""

    def get(self, timeout: float | None = None) -> Any:
        msg = f"no acknowledgement within {timeout}s"
        raise KafkaTimeoutError(msg)


class UnacknowledgingProducer(CrashingProducer):
    """A real producer whose sends after the first ``ack_first`` are never acknowledged."""

    def __init__(self, producer: KafkaProducer, *, ack_first: int) -> None:
        super().__init__(producer, crash_after=ack_first)

    def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.sent >= self.crash_after:
            return _Unacknowledged()
        self.sent += 1
        return self.producer.send(*args, **kwargs)
