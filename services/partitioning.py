"""Kafka's default key partitioning, with each key's hash remembered.

A plan's events must land in the partition every Kafka client picks for its key
(murmur2, as the Java client), or a republished history and the live relay
would disagree. kafka-python computes murmur2 in pure Python for every message;
the relay sends many events of the same plan, so remembering the hash per key
takes that off the hot path without changing a single partition.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from kafka.partitioner import DefaultPartitioner, murmur2

#: Plans whose key hash is kept: a few megabytes at most.
REMEMBERED_KEYS = 65_536

_hash = lru_cache(maxsize=REMEMBERED_KEYS)(murmur2)


class KeyHashPartitioner(DefaultPartitioner):
    """The same partition as ``DefaultPartitioner`` for every key, computed once per key."""

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or not partitions:
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        ordered = sorted(partitions)
        return int(ordered[(_hash(serialized_key) & 0x7FFFFFFF) % len(ordered)])
