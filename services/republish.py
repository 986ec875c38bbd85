"""Republish history from a position to a topic, leaving the live relay alone.

For a consumer that lost its data, a new topic to fill, or a new downstream
service: ``careplan relay --from N [--topic T]`` publishes every event from
notification ``N`` on (with the same keys, headers and values as the live
relay) and exits once caught up. It records no position, so the live relay's
tracked position is untouched and running it again starts again at ``N``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import structlog

from services.bootstrap import bootstrap
from services.publisher import Relay, ensure_topic, make_producer
from services.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Republished:
    count: int
    topic: str
    first: int
    last: int  # the last notification id published (first - 1: nothing was)


def republish(stop: threading.Event, settings: Settings, *, first: int, topic: str) -> Republished:
    """Publish notifications ``first``.. to ``topic`` until caught up (or stopped)."""
    careplan = bootstrap(settings)
    try:
        servers = settings.kafka_bootstrap_servers or ""
        ensure_topic(
            servers,
            topic,
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
        )
        relay = Relay(
            recorder=careplan.app.recorder,
            mapper=careplan.app.mapper,
            tracking=None,
            producer=make_producer(servers, client_id="careplan-republish"),
            topic=topic,
            source=settings.event_source,
            batch_size=settings.relay_batch_size,
            schema_base_uri=settings.schema_base_uri,
            start_after=first - 1,
        )
        log.info("relay.republishing", topic=topic, first=first)
        try:
            count = relay.run(stop, until_idle=True)
        finally:
            relay.close()
        log.info("relay.republished", topic=topic, count=count, last=relay.position())
        return Republished(count, topic, first, relay.position())
    finally:
        careplan.close()
