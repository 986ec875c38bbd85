"""The relay against real crashes: SIGKILLed at random points, and its broker restarted.

Both tests run ``careplan relay`` as its own process while a thread keeps writing
commands to PostgreSQL. Kill points are random; the seed is printed (shown with
a failure) and ``CAREPLAN_CRASH_SEED=<seed>`` replays the same choices (timing on
a busy machine still varies a little).

The broker is Tansu, which keeps everything in memory: a restarted Tansu is an
empty broker. The restart test therefore reads everything from the old broker
before stopping it and checks old + new together.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.tansu import Tansu, free_port
from services.bootstrap import Careplan, bootstrap
from services.dedupe import Deduplicator
from services.settings import Settings
from tests.integration.kafka_helpers import Received, new_topic, read_topic, unique_topic
from tests.integration.relay_processes import (
    CAREPLAN_SCRIPT,
    RelayProcess,
    Writing,
    newest,
    relay_env,
    relay_position,
)
from tests.integration.test_relay import assert_topic_holds_exactly, ce_id

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

KILLS = 20
SOURCE = "urn:careplan"  # the CLI's default event source


def seeded() -> random.Random:
    seed = int(os.environ.get("CAREPLAN_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"relay crash test: CAREPLAN_CRASH_SEED={seed}")
    return random.Random(seed)


@pytest.fixture
def writer(postgres_database: str, tmp_path: Path) -> Iterator[Careplan]:
    running = bootstrap(Settings(database_url=postgres_database, data_dir=tmp_path / "var"))
    yield running
    running.close()


def stored(careplan: Careplan) -> list[tuple[int, Any]]:
    """(notification id, event) of every stored event, in commit order."""
    app = careplan.app
    notifications = app.recorder.select_notifications(start=None, limit=1_000_000)
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]


def first_occurrences(records: list[Received]) -> tuple[list[Received], int]:
    """What a consumer deduplicating on ``ce_id`` keeps, in the order it reads them, and
    how many repeats it dropped; a version arriving before an earlier one fails."""
    dedupe = Deduplicator()
    kept = []
    for record in records:
        delivery = dedupe.check(record.ce_id)
        assert delivery.verdict != "gap", f"{record.ce_id} came before {delivery.missing}"
        if delivery.should_apply:
            dedupe.record(delivery)
            kept.append(record)
    return kept, len(records) - len(kept)


def run_until_idle(env: dict[str, str]) -> None:
    done = subprocess.run(
        [str(CAREPLAN_SCRIPT), "relay", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_relay_killed_at_random_points_loses_nothing(
    postgres_database: str, kafka: str, writer: Careplan, tmp_path: Path
) -> None:
    rng = seeded()
    topic = new_topic(kafka)
    env = relay_env(postgres_database, kafka, topic, tmp_path / "var")
    log_path = tmp_path / "relay.log"
    positions: list[int] = []
    behind_at_kill = 0
    with Writing(writer) as writing:
        for _ in range(KILLS):
            relay = RelayProcess(env, log_path)
            if rng.random() < 0.25:
                time.sleep(rng.uniform(0.0, 1.5))  # while starting, connecting, creating
            else:
                relay.wait_until_started()
                time.sleep(rng.uniform(0.0, 0.4))  # while publishing (or idle)
            relay.kill()
            positions.append(relay_position(writer))
            behind_at_kill += positions[-1] < newest(writer)
    assert writing.plans >= 3, "too few commands were written to test anything"
    assert positions == sorted(positions), f"a restarted relay went backwards: {positions}"
    assert positions[-1] > positions[0], f"the relay never made progress: {positions}"
    print(f"positions at each kill {positions}; killed behind the log {behind_at_kill}x")

    run_until_idle(env)  # the last restart, left to finish
    events = stored(writer)
    assert relay_position(writer) == events[-1][0]
    records = read_topic(kafka, topic, at_least=len(events), timeout=30)
    kept, repeats = first_occurrences(records)
    print(f"{len(events)} events, {len(records)} records, {repeats} repeats")
    assert_topic_holds_exactly(kept, [event for _, event in events], SOURCE)


def test_broker_restart_mid_stream_loses_nothing(
    postgres_database: str, writer: Careplan, tmp_path: Path
) -> None:
    rng = seeded()
    broker = Tansu(free_port()).start()
    topic = unique_topic()
    env = relay_env(postgres_database, broker.servers, topic, tmp_path / "var")
    relay = RelayProcess(env, tmp_path / "relay.log")
    try:
        with Writing(writer):
            relay.wait_until_started()
            deadline = time.monotonic() + 20
            while relay_position(writer) == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.0))

            # Freeze the relay, take everything the old broker holds, then stop it.
            os.kill(relay.process.pid, signal.SIGSTOP)
            frozen_at = relay_position(writer)
            assert frozen_at > 0, relay.log()[-3000:]
            old = read_topic(broker.servers, topic, at_least=1, idle_ms=500)
            broker.stop()
            os.kill(relay.process.pid, signal.SIGCONT)
            old_ids = {record.ce_id for record in old}
            held = 0  # the highest notification id up to which the old broker holds all
            for notification_id, event in stored(writer):
                if ce_id(event) not in old_ids:
                    break
                held = notification_id
            assert frozen_at <= held, "the relay recorded a position the broker never acked"

            # Broker down: the relay keeps trying, stays up, and records nothing new.
            down_positions = []
            for _ in range(15):
                time.sleep(0.2)
                down_positions.append(relay_position(writer))
            assert max(down_positions) <= held, (held, down_positions)
            assert relay.process.poll() is None, relay.log()[-3000:]

            broker.start()  # same port, empty: no topic, no producer ids
        events = stored(writer)
        deadline = time.monotonic() + 40
        while relay_position(writer) < events[-1][0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert relay_position(writer) == events[-1][0], relay.log()[-3000:]
        assert relay.stop() == 0, relay.log()[-3000:]
        assert "relay.reconnected" in relay.log()

        new = read_topic(broker.servers, topic, at_least=1, timeout=30)
        # The new broker holds every event after what the relay had recorded as published.
        new_ids = {record.ce_id for record in new}
        after = [ce_id(event) for n, event in events if n > max(down_positions)]
        assert set(after) <= new_ids
        # One log as a consumer following both brokers reads it: the old one's, then the new.
        after_old = 1 + max(record.offset for record in old)
        kept, repeats = first_occurrences(
            old + [replace(record, offset=after_old + record.offset) for record in new]
        )
        print(
            f"old broker {len(old)}, new broker {len(new)}, {len(events)} events, "
            f"{repeats} repeats, position when frozen {frozen_at}, old broker held {held}"
        )
        assert_topic_holds_exactly(kept, [event for _, event in events], SOURCE)
    finally:
        if relay.process.poll() is None:
            os.kill(relay.process.pid, signal.SIGCONT)
            relay.kill()
        broker.stop()
