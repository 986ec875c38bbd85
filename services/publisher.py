"""The relay: publish every stored event to Kafka, in order, never losing one.

It follows the notification log from its recorded position, sends a batch with
``acks=all``, waits for the broker to acknowledge every message, and only then
records the new position. A crash in between republishes the batch: delivery is
at-least-once, and ``ce_id`` is stable so consumers drop the duplicates.

A failed batch (broker down, restarted, or refusing the producer) leaves the
position where it was; with ``reconnect`` the relay then drops its producer and
builds a new one before the next attempt, because a kafka-python producer whose
broker lost its producer id stays failed for good.

Without a tracking recorder it republishes history from a given position and
records nothing, so the live relay's position is never disturbed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.persistence import ApplicationRecorder, Mapper, Tracking, TrackingRecorder
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.event_json import DEFAULT_SCHEMA_BASE_URI
from services.partitioning import KeyHashPartitioner
from services.relay_messages import Message, MessageEncoder, cloud_event_headers, encode_value

# The message functions lived here first; the bench and the tests still import them from here.
__all__ = [
    "RELAY_NAME",
    "Relay",
    "cloud_event_headers",
    "encode_value",
    "ensure_topic",
    "make_producer",
]

log = structlog.get_logger(__name__)

RELAY_NAME = "careplan.relay"
SEND_TIMEOUT_SECONDS = 30.0
ERROR_BACKOFF_SECONDS = 1.0


def make_producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """A producer that keeps per-key order and survives broker retries without duplicates."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers.split(","),
        "client_id": "careplan-relay",
        "acks": "all",
        "enable_idempotence": True,
        "max_in_flight_requests_per_connection": 1,
        "linger_ms": 5,
        # Room for a whole relay batch per partition: with one request in flight,
        # kafka-python wakes its sender on every send while two batches wait for a
        # partition, and on a slow machine that wake-up costs as much as the send.
        "batch_size": 1_048_576,
        "partitioner": KeyHashPartitioner(),  # the default's partitions, hashed once per plan
        "retries": 10,
        "request_timeout_ms": 15_000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


def ensure_topic(
    bootstrap_servers: str, topic: str, *, partitions: int, replication_factor: int
) -> bool:
    """Create the event topic (key = plan id, retention unlimited) if it is missing."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers.split(","), client_id="careplan")
    try:
        if topic in admin.list_topics():
            return False
        admin.create_topics(
            [
                NewTopic(
                    topic,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs={"retention.ms": "-1", "cleanup.policy": "delete"},
                )
            ]
        )
        log.info("relay.topic_created", topic=topic, partitions=partitions)
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()


@dataclass(frozen=True)
class _Batch:
    """Events read from the log after position ``after``, encoded and ready to send."""

    after: int
    last: int
    messages: list[Message]


class Relay:
    """Moves events from the notification log to one Kafka topic.

    With ``tracking``, the position is recorded under ``name`` after each
    acknowledged batch. With ``tracking=None`` it is kept in memory only,
    starting after ``start_after``: a one-off republication of history.
    """

    def __init__(
        self,
        *,
        recorder: ApplicationRecorder,
        mapper: Mapper,
        tracking: TrackingRecorder | None,
        producer: KafkaProducer,
        topic: str,
        source: str,
        batch_size: int = 500,
        name: str = RELAY_NAME,
        schema_base_uri: str = DEFAULT_SCHEMA_BASE_URI,
        start_after: int = 0,
        reconnect: Callable[[], KafkaProducer] | None = None,
        send_timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.tracking = tracking
        self.producer: KafkaProducer | None = producer
        self.reconnect = reconnect
        self.send_timeout = send_timeout
        self.topic = topic
        self.source = source
        self.batch_size = batch_size
        self.name = name
        self.schema_base_uri = schema_base_uri
        self.encoder = MessageEncoder(mapper, source, schema_base_uri)
        self._untracked_position = start_after
        #: The batch read while the previous one was being acknowledged (see
        #: ``publish_next_batch``); used only if the position is still its ``after``.
        self._prepared: _Batch | None = None

    def position(self) -> int:
        """The last notification id published and acknowledged."""
        if self.tracking is None:
            return self._untracked_position
        return self.tracking.max_tracking_id(self.name) or 0

    def _advance(self, notification_id: int) -> None:
        if self.tracking is None:
            self._untracked_position = notification_id
        else:
            self.tracking.insert_tracking(Tracking(self.name, notification_id))

    def _producer(self) -> KafkaProducer:
        if self.producer is None:
            if self.reconnect is None:
                msg = "the relay's producer was dropped and it has no way to reconnect"
                raise RuntimeError(msg)
            self.producer = self.reconnect()
            log.info("relay.reconnected")
        return self.producer

    def _drop_producer(self) -> None:
        """Forget a producer after a failed batch; the next batch builds a new one."""
        if self.reconnect is None or self.producer is None:
            return
        producer, self.producer = self.producer, None
        try:
            producer.close(timeout=0)  # its unacknowledged sends are republished anyway
        except Exception as error:
            log.warning("relay.close_failed", error=str(error))

    def _traceparents(self, after: int, upto: int) -> dict[int, str]:
        """The stored traceparents of a batch (none from a recorder that keeps none)."""
        lookup = getattr(self.recorder, "traceparents", None)
        return lookup(after, upto) if lookup is not None else {}

    def _prepare(self, after: int) -> _Batch | None:
        """The batch after position ``after``, encoded; None when there is none yet."""
        notifications = self.recorder.select_notifications(
            start=after, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return None
        traces = self._traceparents(after, notifications[-1].id)
        encode = self.encoder.encode
        messages = [encode(n, traces.get(n.id)) for n in notifications]
        return _Batch(after, notifications[-1].id, messages)

    def _prepare_ahead(self, after: int) -> _Batch | None:
        """The next batch, read early; a failure here only loses the head start (the
        batch is read again, and the error raised, when its turn comes)."""
        try:
            return self._prepare(after)
        except Exception as error:
            log.warning("relay.read_ahead_failed", error=str(error))
            return None

    def publish_next_batch(self) -> int:
        """Publish the next batch; return how many events went out (0: caught up).

        While the broker acknowledges a batch, the next one is read and encoded, so
        the database's work and the broker's overlap. That batch is sent only after
        this one is acknowledged and its position recorded, and only if the position
        is still the one it was read after: when this batch fails, it is dropped and
        the relay reads again from the last acknowledged position.
        """
        start = self.position()
        batch, self._prepared = self._prepared, None
        if batch is None or batch.after != start:
            batch = self._prepare(start)
        if batch is None:
            return 0
        producer = self._producer()
        send = producer.send
        topic = self.topic
        futures = [send(topic, key=k, value=v, headers=h) for k, v, h in batch.messages]
        self._prepared = self._prepare_ahead(batch.last)
        producer.flush(timeout=self.send_timeout)
        for future in futures:
            future.get(timeout=self.send_timeout)  # raises if the broker did not ack
        self._advance(batch.last)
        log.info("relay.published", count=len(batch.messages), position=batch.last)
        return len(batch.messages)

    def run(
        self,
        stop: threading.Event,
        *,
        poll_seconds: float = 0.5,
        until_idle: bool = False,
        on_error: Callable[[Exception], None] | None = None,
    ) -> int:
        """Publish until stopped (or, with ``until_idle``, until caught up)."""
        published = 0
        while not stop.is_set():
            try:
                count = self.publish_next_batch()
            except Exception as error:
                if on_error is None:
                    raise
                on_error(error)
                self._drop_producer()
                stop.wait(max(ERROR_BACKOFF_SECONDS, poll_seconds * 4))  # no hammering
                continue
            published += count
            if count == 0:
                if until_idle:
                    break
                stop.wait(poll_seconds)
        return published

    def close(self) -> None:
        self._prepared = None
        if self.producer is None:
            return
        self.producer.flush(timeout=self.send_timeout)
        self.producer.close(timeout=self.send_timeout)
