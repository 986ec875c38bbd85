"""Operating the relay: republishing history from a position, and its lag.

In-process tests run on SQLite and PostgreSQL; the CLI tests run ``careplan relay
--from`` and ``careplan relay status`` as their own processes on PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.bootstrap import Careplan
from services.publisher import RELAY_NAME
from services.relay_status import relay_lag
from services.republish import republish
from services.settings import Settings
from tests.integration.kafka_helpers import new_topic, read_topic, record_count, unique_topic
from tests.integration.test_relay import (
    CAREPLAN_SCRIPT,
    assert_topic_holds_exactly,
    cli_env,  # noqa: F401 (fixture)
    make_relay,
    max_notification_id,
    more_commands,
    run_until_idle,
    write_plans,
    writer,  # noqa: F401 (fixture)
)


def notified_events(careplan: Careplan) -> list[tuple[int, Any]]:
    """(notification id, event) for everything stored, in log order."""
    app = careplan.app
    notifications = app.recorder.select_notifications(start=None, limit=100_000)
    return [(n.id, app.mapper.to_domain_event(n)) for n in notifications]


def lag_of(careplan: Careplan, **kwargs: Any) -> Any:
    return relay_lag(careplan.app.recorder, careplan.app.mapper, careplan.views.tracking, **kwargs)


@pytest.mark.kafka
def test_republishing_from_a_position_leaves_the_live_relay_where_it_was(
    careplan: Careplan, kafka: str
) -> None:
    plans = write_plans(careplan, 2)
    live_topic = new_topic(kafka)
    run_until_idle(make_relay(careplan, kafka, live_topic))
    live_position = max_notification_id(careplan)
    more_commands(careplan, plans[1])  # written after the live relay stopped
    notified = notified_events(careplan)
    first = notified[9][0]

    replay_topic = new_topic(kafka)
    replay = make_relay(careplan, kafka, replay_topic, tracking=None, start_after=first - 1)
    assert replay.position() == first - 1
    expected = [event for notification_id, event in notified if notification_id >= first]
    assert run_until_idle(replay) == len(expected)
    assert replay.position() == max_notification_id(careplan)

    records = read_topic(kafka, replay_topic, at_least=len(expected))
    assert_topic_holds_exactly(records, expected, from_version_1=False)
    assert careplan.views.tracking.max_tracking_id(RELAY_NAME) == live_position
    resumed = make_relay(careplan, kafka, live_topic)
    assert run_until_idle(resumed) == len(notified) - live_position  # only the new ones
    assert record_count(kafka, live_topic) == len(notified)


@pytest.mark.kafka
def test_republish_creates_the_topic_and_stops_once_caught_up(
    careplan: Careplan, kafka: str
) -> None:
    write_plans(careplan, 1)
    notified = notified_events(careplan)
    topic = unique_topic()
    settings = careplan.settings.model_copy(
        update={"kafka_bootstrap_servers": kafka, "kafka_partitions": 2}
    )
    done = republish(threading.Event(), settings, first=3, topic=topic)
    assert (done.count, done.first, done.last) == (len(notified) - 2, 3, notified[-1][0])
    records = read_topic(kafka, topic, at_least=done.count)
    expected = [event for _, event in notified[2:]]
    assert_topic_holds_exactly(records, expected, source="urn:careplan", from_version_1=False)
    assert careplan.views.tracking.max_tracking_id(RELAY_NAME) is None


@pytest.mark.kafka
def test_the_lag_counts_events_and_seconds_behind(careplan: Careplan, kafka: str) -> None:
    assert lag_of(careplan).as_json() == {
        "position": 0,
        "newest": 0,
        "events_behind": 0,
        "seconds_behind": 0.0,
        "oldest_unpublished_at": None,
    }
    plans = write_plans(careplan, 1)
    notified = notified_events(careplan)
    oldest = notified[0][1].timestamp
    lag = lag_of(careplan, now=oldest + timedelta(seconds=90))
    assert (lag.position, lag.newest, lag.events_behind) == (0, len(notified), len(notified))
    assert (lag.oldest_unpublished_at, lag.seconds_behind) == (oldest, 90.0)

    run_until_idle(make_relay(careplan, kafka, new_topic(kafka)))
    caught_up = lag_of(careplan)
    assert (caught_up.events_behind, caught_up.seconds_behind) == (0, 0.0)
    assert caught_up.oldest_unpublished_at is None

    more_commands(careplan, plans[0])
    behind = lag_of(careplan, now=notified[-1][1].timestamp)  # a clock behind the writes
    first_new = notified_events(careplan)[len(notified)][1]
    assert behind.events_behind == len(notified_events(careplan)) - len(notified)
    assert behind.oldest_unpublished_at == first_new.timestamp
    assert behind.seconds_behind == 0.0  # never negative


# -- the CLI, as its own processes, on PostgreSQL ---------------------------------


def careplan_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CAREPLAN_SCRIPT), *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.kafka
@pytest.mark.postgres
def test_cli_relay_from_republishes_and_status_reports_the_lag(
    cli_env: dict[str, str],  # noqa: F811
    writer: Careplan,  # noqa: F811
    kafka: str,
) -> None:
    write_plans(writer, 2)
    notified = notified_events(writer)
    status = careplan_cli(cli_env, "relay", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout.strip().splitlines()[-1])["events_behind"] == len(notified)

    backfill = unique_topic()
    replayed = careplan_cli(cli_env, "relay", "--from", "5", "--topic", backfill)
    assert replayed.returncode == 0, replayed.stderr
    last = notified[-1][0]
    assert f"republished {len(notified) - 4} events (5..{last}) to {backfill}" in replayed.stdout
    records = read_topic(kafka, backfill, at_least=len(notified) - 4)
    expected = [event for _, event in notified[4:]]
    assert_topic_holds_exactly(records, expected, source="urn:careplan", from_version_1=False)
    assert writer.views.tracking.max_tracking_id(RELAY_NAME) is None  # the live one untouched

    live = careplan_cli(cli_env, "relay", "--until-idle")
    assert live.returncode == 0, live.stderr
    assert record_count(kafka, cli_env["CAREPLAN_KAFKA_TOPIC"]) == len(notified)
    status = careplan_cli(cli_env, "relay", "status")
    assert status.returncode == 0, status.stderr
    assert f"position        {last}" in status.stdout
    assert "events behind   0" in status.stdout
    assert "seconds behind  0.0" in status.stdout


def test_cli_relay_topic_without_from_is_refused(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "CAREPLAN_DATA_DIR": str(tmp_path)}
    refused = careplan_cli(env, "relay", "--topic", "elsewhere")
    assert refused.returncode == 2
    assert "--topic goes with --from" in refused.stderr
    assert not Settings(data_dir=tmp_path).sqlite_path.exists()  # refused before starting
