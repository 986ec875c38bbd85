"""On PostgreSQL the followers are woken by NOTIFY, not by a tight poll; with the
notifications gone (the listening connection killed) the slow poll still catches up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from domain.values import CommandContext
from services.bootstrap import Careplan, bootstrap
from services.settings import Settings
from tests.conftest import TEST_SECRET
from tests.integration.course import PRESCRIBER


def running(database_url: str, tmp_path: Path, poll_seconds: float) -> Careplan:
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        projection_poll_seconds=poll_seconds,
    )
    return bootstrap(settings)


@pytest.fixture
def writer(postgres_database: str, tmp_path: Path) -> Iterator[Careplan]:
    """Another process's application: it stores events and leaves the views alone."""
    careplan = running(postgres_database, tmp_path, 1.0)
    careplan.app.after_commit = None
    yield careplan
    careplan.close()


def seconds_until_views_reach(careplan: Careplan, head: int, limit: float) -> float:
    started = time.monotonic()
    names = list(careplan.followers)
    while min(careplan.views.positions(names).values()) < head:
        if time.monotonic() - started > limit:
            return float("inf")
        time.sleep(0.01)
    return time.monotonic() - started


def write_one(writer: Careplan) -> int:
    patient = f"pt-notified-{uuid4().hex[:8]}"  # a patient has one open plan
    writer.app.open_care_plan(patient, CommandContext(PRESCRIBER, datetime.now(UTC)))
    return writer.app.recorder.max_notification_id() or 0


def test_a_new_event_reaches_the_views_by_notification_long_before_the_poll(
    postgres_database: str, tmp_path: Path, writer: Careplan
) -> None:
    poll = 30.0
    reader = running(postgres_database, tmp_path, poll)
    try:
        reader.start_followers()
        assert reader.notifier is not None
        assert reader.notifier.listening.wait(10)
        time.sleep(0.2)  # the followers' first round is over: they sleep until woken
        for _ in range(3):
            head = write_one(writer)
            assert seconds_until_views_reach(reader, head, poll / 2) < 2.0
    finally:
        reader.close()


def test_with_notifications_lost_the_poll_still_catches_up(
    postgres_database: str, tmp_path: Path, writer: Careplan
) -> None:
    poll = 1.0
    reader = running(postgres_database, tmp_path, poll)
    try:
        reader.start_followers()
        notifier = reader.notifier
        assert notifier is not None
        assert notifier.listening.wait(10)
        notifier.retry_seconds = 600.0  # it will not listen again during this test
        with psycopg.connect(postgres_database, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN %%'"
            ).fetchall()
        assert killed == [(True,)]
        deadline = time.monotonic() + 10
        while notifier.listening.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not notifier.listening.is_set()

        head = write_one(writer)
        assert seconds_until_views_reach(reader, head, poll * 5) < poll * 3
        assert not notifier.listening.is_set()  # caught up by the poll alone
    finally:
        reader.close()
