"""Fail closed: when the read-access log cannot take an entry, the read is refused
(503 with Retry-After), never served unlogged; once the log is back, reads are."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.e2e.careplan_api import Api, assert_problem, client
from tests.e2e.conftest import Server, running_server
from tests.support.postgres import fresh_database


@pytest.fixture(scope="module")
def database(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("careplan-access-faults")
    with running_server("postgres", data_dir, database) as running:
        yield running


def test_a_read_the_log_cannot_hold_is_refused(server: Server, database: str) -> None:
    with client(server.base_url, role="prescriber", sub="dr-ada") as http:
        prescriber = Api(http, actor_id="dr-ada")
        plan = prescriber.ready_evaluated_plan()
        served = http.get(f"/v1/care-plans/{plan}")
        assert served.status_code == 200
        assert "patient_id" in served.text
        with psycopg.connect(database, autocommit=True) as sql:
            sql.execute("ALTER TABLE careplan_access_log RENAME TO careplan_access_log_away")
            try:
                refused = http.get(f"/v1/care-plans/{plan}")
                listed = http.get(f"/v1/care-plans/{plan}/medications")
            finally:
                sql.execute("ALTER TABLE careplan_access_log_away RENAME TO careplan_access_log")
            assert_problem(refused, 503, "access_log.unavailable")
            assert refused.headers["Retry-After"] == "1"
            assert "patient_id" not in refused.text  # nothing of the record went out
            assert_problem(listed, 503, "access_log.unavailable")
            # Back: served, and logged. The refused reads left no entry, the served ones did.
            assert http.get(f"/v1/care-plans/{plan}").status_code == 200
            rows = sql.execute(
                "SELECT status FROM careplan_access_log WHERE care_plan_id = %s ORDER BY id",
                (plan,),
            ).fetchall()
    assert [status for (status,) in rows] == [200, 200]
    assert "access_log.write_failed" in server.stderr()
