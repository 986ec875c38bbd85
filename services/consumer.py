"""The reference consumer: current medications per plan, from the event topic alone.

It shows downstream teams the contract in use. Each poll's records are checked
against the dedupe (``services/dedupe.py``), applied to the state in one
SQLite transaction together with the versions, and only then are the group's
offsets committed. A crash anywhere re-delivers records the dedupe drops, so
the result is the same as if every record had come once.

Where it starts reading: a state in memory, or a state file that has applied
nothing yet, reads every assigned partition from the beginning, whatever the
group has committed (the history is the only way to rebuild). A state file
that holds events resumes at the group's committed offsets. One state belongs
to one running consumer: with several in a group, each holds its partitions'
plans and a partition moving between them is reported as a gap.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import CommitFailedError

from services.dedupe import Deduplicator, Delivery
from services.medication_state import MedicationState

log = structlog.get_logger(__name__)

DEFAULT_GROUP = "careplan.current-medications"


class GapError(RuntimeError):
    """A plan's versions skipped some (strict mode): the state would be incomplete."""


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    batches: int = 0


def make_consumer(bootstrap_servers: str, group_id: str, **overrides: Any) -> KafkaConsumer:
    """A group member that commits only what it has applied."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers.split(","),
        "client_id": "careplan-consumer",
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 500,
    }
    config.update(overrides)
    return KafkaConsumer(**config)


def ce_id_of(headers: Iterable[tuple[str, bytes]] | None) -> bytes:
    for name, value in headers or ():
        if name == "ce_id":
            return value
    msg = "a record without a ce_id header: not a Careplan event"
    raise ValueError(msg)


class _FromTheBeginning(ConsumerRebalanceListener):
    """Seek newly assigned partitions to their start when the state cannot resume."""

    def __init__(self, owner: MedicationConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Nothing to hand over: every applied batch is already committed."""

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.owner.assigned = True
        if assigned and self.owner.reads_from_beginning:
            self.owner.consumer.seek_to_beginning(*assigned)
            log.info("consumer.reading_from_beginning", partitions=len(assigned))


class MedicationConsumer:
    """Polls, drops repeats, applies, then commits: the loop a downstream team copies."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        topic: str,
        state: MedicationState,
        *,
        strict: bool = False,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.state = state
        self.strict = strict
        self.dedupe = Deduplicator(state.applied_versions())
        self.reads_from_beginning = state.in_memory or len(self.dedupe) == 0
        self.assigned = False
        self.stats = ConsumerStats()
        consumer.subscribe([topic], listener=_FromTheBeginning(self))

    def poll_once(self, timeout_ms: int = 500) -> int:
        """Apply one poll's records and commit them; return how many records came."""
        polled = self.consumer.poll(timeout_ms=timeout_ms)
        records = [record for batch in polled.values() for record in batch]
        if not records:
            return 0
        applied = self._apply(records)
        try:
            self.consumer.commit()
        except CommitFailedError as error:
            # The group rebalanced: the records come again and the dedupe drops them.
            log.warning("consumer.commit_failed", error=str(error))
        self.stats.batches += 1
        log.info("consumer.applied", applied=applied, records=len(records))
        return len(records)

    def _apply(self, records: list[Any]) -> int:
        applied = 0
        before = self.dedupe.applied()
        try:
            with self.state.transaction():
                for record in records:
                    delivery = self.dedupe.check(ce_id_of(record.headers))
                    if not delivery.should_apply:
                        self.stats.duplicates += 1
                        continue
                    if delivery.verdict == "gap":
                        self._gap(delivery)
                    self.state.apply(json.loads(record.value))
                    self.dedupe.record(delivery)
                    applied += 1
        except BaseException:
            self.dedupe = Deduplicator(before)  # the rows rolled back; so does the dedupe
            raise
        self.stats.applied += applied
        return applied

    def _gap(self, delivery: Delivery) -> None:
        assert delivery.missing is not None
        first, last = delivery.missing
        self.stats.gaps += 1
        log.warning(
            "consumer.gap",
            care_plan_id=delivery.care_plan_id,
            version=delivery.version,
            missing_from=first,
            missing_to=last,
        )
        if self.strict:
            missing = f"version {first}" if first == last else f"versions {first}-{last}"
            msg = (
                f"care plan {delivery.care_plan_id}: {missing} never arrived "
                f"before version {delivery.version}"
            )
            raise GapError(msg)

    def run(
        self,
        stop: threading.Event,
        *,
        idle_seconds: float | None = None,
        join_timeout_seconds: float = 120.0,
    ) -> ConsumerStats:
        """Consume until stopped; with ``idle_seconds``, until nothing came for that long.

        The idle clock starts once the group has assigned partitions (joining can
        take seconds); a join that takes longer than ``join_timeout_seconds`` fails.
        """
        started = last_record = time.monotonic()
        while not stop.is_set():
            if self.poll_once():
                last_record = time.monotonic()
            if idle_seconds is None:
                continue
            now = time.monotonic()
            if not self.assigned:
                last_record = now
                if now - started > join_timeout_seconds:
                    msg = f"no partitions of {self.topic} assigned in {join_timeout_seconds}s"
                    raise TimeoutError(msg)
            elif now - last_record >= idle_seconds:
                break
        return self.stats

    def close(self) -> None:
        self.consumer.close()
        self.state.close()
