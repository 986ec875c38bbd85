"""A command is stored at most once whatever the connection to PostgreSQL does: the
event store knows its own events when it meets them again, and a keyed command's
stored result answers for it when nobody could say whether it was stored.

The faults are real: a TCP proxy between the service and PostgreSQL loses the
connection just after the insert's COMMIT has gone out (the commit happens, its
answer never arrives), or just before (it never happens), or stays down.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import structlog
from eventsourcing.persistence import OperationalError

from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.bootstrap import Careplan, bootstrap
from services.command_result import CommandResult
from services.exactly_once import COMMAND_KEY, CommitUnconfirmed
from services.settings import Settings
from tests.conftest import TEST_SECRET
from tests.support.cutting_proxy import CuttingProxy

DR = Actor("dr-ada", "prescriber")
#: The event store's second trip: the links, the outcomes and the COMMIT.
SECOND_TRIP = b'INSERT INTO "public"."careplan_event_chain"'


def ctx() -> CommandContext:
    return CommandContext(DR, datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture
def proxy(postgres_database: str) -> Iterator[CuttingProxy]:
    parts = urlsplit(postgres_database)
    running = CuttingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield running
    running.close()


@pytest.fixture
def careplan(postgres_database: str, proxy: CuttingProxy, tmp_path: Path) -> Iterator[Careplan]:
    parts = urlsplit(postgres_database)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    url = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    running = bootstrap(Settings(data_dir=tmp_path, database_url=url, jwt_secret=TEST_SECRET))
    yield running
    proxy.up()
    running.close()


def evaluated_plan(careplan: Careplan) -> str:
    app = careplan.app
    plan = app.open_care_plan("pt-once", ctx(), birth_date=datetime(1986, 4, 2).date())
    evaluation = Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),))
    app.record_evaluation(plan.care_plan_id, evaluation, ctx())
    return str(plan.care_plan_id)


def prescribe(careplan: Careplan, plan: str) -> CommandResult:
    return careplan.app.prescribe(
        plan,
        drug="sertraline",
        dose=Dose(Decimal(25), "mg"),
        frequency="daily",
        route="oral",
        indication="MDD",
        follow_up=FollowUpPlan((datetime.now(UTC) + timedelta(days=14)).date()),
        ctx=ctx(),
    )


def prescriptions(careplan: Careplan, plan: str) -> list[str]:
    return [
        type(event).__name__
        for event in careplan.app.history(plan)
        if type(event).__name__ == "MedicationPrescribed"
    ]


def test_a_commit_whose_answer_was_lost_is_not_stored_again(
    careplan: Careplan, proxy: CuttingProxy
) -> None:
    plan = evaluated_plan(careplan)
    proxy.cut_after(SECOND_TRIP)
    with structlog.testing.capture_logs() as logs:
        result = prescribe(careplan, plan)
    assert proxy.cuts == 1
    assert "event_store.commit_recognised" in [entry["event"] for entry in logs]
    assert len(prescriptions(careplan, plan)) == 1
    assert careplan.app.care_plan(plan).version == result.version


def test_a_commit_that_never_arrived_is_stored_once(
    careplan: Careplan, proxy: CuttingProxy
) -> None:
    plan = evaluated_plan(careplan)
    proxy.cut_before(SECOND_TRIP)
    with structlog.testing.capture_logs() as logs:
        result = prescribe(careplan, plan)
    assert proxy.cuts == 1
    assert "event_store.commit_recognised" not in [entry["event"] for entry in logs]
    assert len(prescriptions(careplan, plan)) == 1
    assert careplan.app.care_plan(plan).version == result.version


def test_an_unconfirmed_commit_is_resolved_by_its_stored_result(
    careplan: Careplan, proxy: CuttingProxy
) -> None:
    """The store stays out of reach after the COMMIT went out: nobody can say, so the
    command says so; once the store is back, the key finds the command's result."""
    plan = evaluated_plan(careplan)
    proxy.cut_after(SECOND_TRIP, stay_down=True)
    token = COMMAND_KEY.set(("dr-ada", "key-1"))
    try:
        with pytest.raises(CommitUnconfirmed):
            prescribe(careplan, plan)
    finally:
        COMMAND_KEY.reset(token)
    proxy.up()
    stored = careplan.app.command_outcome("dr-ada", "key-1")
    assert stored is not None
    prescribed = careplan.app.care_plan(plan)
    assert stored.created_id in prescribed.prescriptions
    assert stored.version == prescribed.version
    assert len(prescriptions(careplan, plan)) == 1
    assert careplan.app.command_outcome("dr-ada", "another-key") is None


def test_a_store_out_of_reach_before_the_commit_is_a_plain_failure(
    careplan: Careplan, proxy: CuttingProxy
) -> None:
    """Nothing went out: the outcome is known (not stored), and the key finds nothing."""
    plan = evaluated_plan(careplan)
    careplan.app.care_plan(plan)  # loaded while the store is there
    proxy.down()
    token = COMMAND_KEY.set(("dr-ada", "key-2"))
    try:
        with pytest.raises(OperationalError):
            prescribe(careplan, plan)
    finally:
        COMMAND_KEY.reset(token)
    proxy.up()
    assert careplan.app.command_outcome("dr-ada", "key-2") is None
    assert prescriptions(careplan, plan) == []
