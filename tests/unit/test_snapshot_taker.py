"""Snapshots are taken beside the commands: a failure or a backlog never reaches one."""

from __future__ import annotations

import threading
import time
from uuid import UUID, uuid4

from services.snapshots import taker
from services.snapshots.taker import SnapshotTaker


def test_snapshots_are_taken_in_order_and_a_failure_does_not_stop_the_next() -> None:
    taken: list[int] = []

    def take(_: UUID, version: int) -> None:
        if version == 2:
            raise RuntimeError("the database went away")
        taken.append(version)

    snapshots = SnapshotTaker(take)
    plan = uuid4()
    for version in (1, 2, 3):
        snapshots.submit(plan, version)
    snapshots.wait()
    assert taken == [1, 3]
    snapshots.close()
    snapshots.submit(plan, 4)  # after close: dropped, not taken, not raised
    assert taken == [1, 3]


def test_a_full_backlog_drops_snapshots_instead_of_waiting(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(taker, "BACKLOG", 2)
    release = threading.Event()
    taken: list[int] = []

    def take(_: UUID, version: int) -> None:
        release.wait(5)
        taken.append(version)

    snapshots = SnapshotTaker(take)
    started = time.perf_counter()
    for version in range(10):
        snapshots.submit(uuid4(), version)
    assert time.perf_counter() - started < 1  # no submit waited for the slow taker
    release.set()
    snapshots.wait()
    assert 1 <= len(taken) <= 3
    snapshots.close()
