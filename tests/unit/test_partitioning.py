"""The relay's partitioner picks exactly the partition kafka-python's default picks."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from kafka.partitioner import DefaultPartitioner

from services.partitioning import KeyHashPartitioner


class Cluster:
    """The two questions a partitioner asks of the cluster metadata."""

    def __init__(self, partitions: int) -> None:
        self._partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions if topic == "t" else None

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


@pytest.mark.parametrize("count", [1, 3, 6, 7, 64])
def test_every_key_goes_where_the_default_partitioner_sends_it(count: int) -> None:
    cluster: Any = Cluster(count)
    ours, theirs = KeyHashPartitioner(), DefaultPartitioner()
    keys = [str(uuid4()).encode() for _ in range(300)] + [b"", b"a", b"\xff" * 40]
    for key in keys * 2:  # the second time from the remembered hash
        assert ours.partition("t", None, key, None, b"v", cluster) == theirs.partition(
            "t", None, key, None, b"v", cluster
        )


def test_an_unknown_topic_is_refused_as_by_the_default() -> None:
    with pytest.raises(ValueError, match="not found"):
        KeyHashPartitioner().partition("other", None, b"k", None, b"v", Cluster(3))
