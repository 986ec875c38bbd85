"""Through HTTP: a plan whose chain lost a link takes nothing new (503 chain.broken,
nothing stored) and stays readable, so an auditor can look."""

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
    data_dir: Path = tmp_path_factory.mktemp("careplan-tamper")
    with running_server("postgres", data_dir, database) as running:
        yield running


def test_a_plan_with_a_deleted_link_takes_nothing_new(server: Server, database: str) -> None:
    with client(server.base_url, role="prescriber", sub="dr-ada") as http:
        prescriber = Api(http, actor_id="dr-ada")
        plan = prescriber.ready_evaluated_plan()
        with psycopg.connect(database, autocommit=True) as sql:
            sql.execute(
                "DELETE FROM careplan_event_chain WHERE originator_id = %s "
                "AND originator_version = 2",
                (plan,),
            )
        before = prescriber.events(plan)
        refused = prescriber.prescribe(plan)
        assert_problem(refused, 503, "chain.broken")
        assert prescriber.events(plan) == before
        assert prescriber.plan(plan).status_code == 200
    assert "status=500" not in server.stderr()
