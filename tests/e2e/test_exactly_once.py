"""Through HTTP, with PostgreSQL behind a proxy that loses connections on cue: a
command whose commit could not be confirmed is answered 503 (never 500, never
"failed"), and a retry with its Idempotency-Key gets the first answer from the
command's stored result, without storing it twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.e2e.careplan_api import Api, assert_problem, client, prescription
from tests.e2e.conftest import Server, running_server
from tests.support.cutting_proxy import CuttingProxy
from tests.support.postgres import fresh_database

SECOND_TRIP = b'INSERT INTO "public"."careplan_event_chain"'


@pytest.fixture(scope="module")
def database(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture(scope="module")
def proxy(database: str) -> Iterator[CuttingProxy]:
    parts = urlsplit(database)
    running = CuttingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield running
    running.close()


@pytest.fixture(scope="module")
def server(
    database: str, proxy: CuttingProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    parts = urlsplit(database)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    url = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    data_dir: Path = tmp_path_factory.mktemp("careplan-exactly-once")
    with running_server("postgres", data_dir, url) as running:
        yield running


@pytest.fixture
def prescriber(server: Server, proxy: CuttingProxy) -> Iterator[Api]:
    proxy.up()
    with client(server.base_url, role="prescriber", sub="dr-ada") as http:
        yield Api(http, actor_id="dr-ada")
    proxy.up()


def prescriptions_of(prescriber: Api, plan: str) -> list[str]:
    return [
        event["type"]
        for event in prescriber.events(plan)
        if event["type"] == "MedicationPrescribed"
    ]


def test_an_unconfirmed_command_is_503_and_its_retry_gets_the_first_answer(
    prescriber: Api, proxy: CuttingProxy, server: Server
) -> None:
    plan = prescriber.ready_evaluated_plan()
    key = {"Idempotency-Key": "rx-unconfirmed-1"}
    proxy.cut_after(SECOND_TRIP, stay_down=True)
    unknown = prescriber.prescribe(plan, headers=key)
    body = assert_problem(unknown, 503, "command.outcome_unknown")
    assert unknown.headers["Retry-After"] == "1"
    assert "same Idempotency-Key" in body["detail"]
    proxy.up()
    retried = prescriber.prescribe(plan, headers=key)
    assert retried.status_code == 201, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    rx = retried.json()["prescription_id"]
    assert rx in {p["prescription_id"] for p in prescriber.plan(plan).json()["prescriptions"]}
    assert len(prescriptions_of(prescriber, plan)) == 1
    again = prescriber.prescribe(plan, headers=key)
    assert (again.status_code, again.json()) == (201, retried.json())
    assert "status=500" not in server.stderr()


def test_without_a_key_the_answer_says_how_to_learn_the_outcome(
    prescriber: Api, proxy: CuttingProxy
) -> None:
    plan = prescriber.ready_evaluated_plan()
    proxy.cut_after(SECOND_TRIP, stay_down=True)
    unknown = prescriber.prescribe(plan)
    body = assert_problem(unknown, 503, "command.outcome_unknown")
    assert "history" in body["detail"]
    proxy.up()
    assert len(prescriptions_of(prescriber, plan)) == 1  # it was, in fact, stored


def test_a_key_whose_answer_was_never_kept_is_answered_from_the_store(
    prescriber: Api, database: str
) -> None:
    """As if the server died between storing the command and keeping its answer: the
    retry finds the stored result and does not run the command again."""
    plan = prescriber.ready_evaluated_plan()
    key = {"Idempotency-Key": "rx-crashed-1"}
    first = prescriber.prescribe(plan, headers=key)
    assert first.status_code == 201, first.text
    with psycopg.connect(database, autocommit=True) as sql:
        forgotten = sql.execute(
            "UPDATE careplan_idempotency SET status = NULL, body = NULL, content_type = NULL "
            "WHERE actor_id = 'dr-ada' AND idempotency_key = 'rx-crashed-1'"
        ).rowcount
    assert forgotten == 1
    retried = prescriber.prescribe(plan, headers=key)
    assert retried.status_code == 201, retried.text
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.json() == first.json()
    assert len(prescriptions_of(prescriber, plan)) == 1


def test_connections_lost_between_requests_cost_nobody_an_answer(
    prescriber: Api, proxy: CuttingProxy, server: Server
) -> None:
    """Every pooled connection dropped at once (a database restart, a failover): the
    next read and command are answered as if nothing happened."""
    plan = prescriber.ready_evaluated_plan()
    proxy.down()
    proxy.up()
    assert prescriber.plan(plan).status_code == 200
    command = prescriber.prescribe(plan, prescription("sertraline", "25"))
    assert command.status_code == 201, command.text
    assert len(prescriptions_of(prescriber, plan)) == 1
    assert "status=500" not in server.stderr()
