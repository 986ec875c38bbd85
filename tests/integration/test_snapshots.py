"""Snapshots on both stores: in their own table, outside the events and the hash
chain; taken after commands, also when two processes write one plan; checked
against the events, rebuilt and cleared by `careplan snapshots`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from domain.care_plan import CarePlan
from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.bootstrap import Careplan, bootstrap
from services.chain.verify import verify
from services.cli import cli
from services.replay import document, replay
from services.settings import Settings
from services.snapshots.codec import encode_plan, fingerprint
from services.snapshots.rebuild import check
from tests.unit.exact import state

DR = Actor("dr-ada", "prescriber")
NURSE = Actor("rn-sam", "clinician")
INTERVAL = 5


def ctx(actor: Actor = DR) -> CommandContext:
    return CommandContext(actor, datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture
def every_five(settings: Settings) -> Iterator[Careplan]:
    running = bootstrap(settings.model_copy(update={"snapshot_interval": INTERVAL}))
    yield running
    running.close()


def a_plan(careplan: Careplan, notes: int) -> str:
    app = careplan.app
    plan = str(app.open_care_plan("pt-snap", ctx()).care_plan_id)
    app.record_evaluation(
        plan, Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),)), ctx()
    )
    app.prescribe(
        plan,
        drug="sertraline",
        dose=Dose(Decimal(25), "mg"),
        frequency="daily",
        route="oral",
        indication="MDD",
        follow_up=FollowUpPlan((datetime.now(UTC) + timedelta(days=14)).date()),
        ctx=ctx(),
    )
    for _ in range(notes):
        app.record_adherence(plan, adherence="taking_as_prescribed", ctx=ctx(NURSE))
    app.settle_snapshots()
    return plan


def rows(careplan: Careplan, sql: str, plan: str) -> list[Any]:
    sqlite = careplan.views.is_sqlite
    key: object = UUID(plan).hex if sqlite else UUID(plan)
    with careplan.app.factory.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute(sql.replace("%s", "?") if sqlite else sql, (key,))
        return [
            list(row.values()) if isinstance(row, dict) else list(row) for row in cursor.fetchall()
        ]


def folded(careplan: Careplan, plan: str, version: int) -> CarePlan:
    result: Any = None
    for event in careplan.app.history(plan, up_to=version):
        result = event.mutate(result)
    return result  # type: ignore[no-any-return]


def test_snapshots_stay_out_of_the_events_and_the_chain(every_five: Careplan) -> None:
    plan = a_plan(every_five, notes=20)
    top = every_five.app.care_plan(plan).version
    events_table = every_five.app.recorder.events_table_name  # type: ignore[attr-defined]
    versions = rows(
        every_five, f"SELECT originator_version FROM {events_table} WHERE originator_id = %s", plan
    )
    assert sorted(v for (v,) in versions) == list(range(1, top + 1))
    links = rows(
        every_five,
        "SELECT originator_version FROM careplan_event_chain WHERE originator_id = %s",
        plan,
    )
    assert len(links) == top
    taken = rows(
        every_five,
        "SELECT originator_version FROM careplan_snapshots WHERE originator_id = %s",
        plan,
    )
    assert len(taken) == top // INTERVAL
    result = verify(every_five.app, plan)
    assert result.intact
    assert result.events == top
    for version in range(1, top + 1):
        replayed = replay(every_five.app, plan, version=version, events_limit=3)
        assert replayed.plan is not None
        assert state(replayed.plan) == state(folded(every_five, plan, version))


def test_two_processes_writing_one_plan_take_each_snapshot_once(
    every_five: Careplan, settings: Settings
) -> None:
    plan = a_plan(every_five, notes=0)
    start = every_five.app.care_plan(plan).version
    other = bootstrap(settings.model_copy(update={"snapshot_interval": INTERVAL}))
    failures: list[BaseException] = []

    def write(careplan: Careplan) -> None:
        try:
            for _ in range(12):
                careplan.app.record_adherence(plan, adherence="missed_some_doses", ctx=ctx(NURSE))
        except BaseException as error:
            failures.append(error)

    try:
        threads = [threading.Thread(target=write, args=(c,)) for c in (every_five, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every_five.app.settle_snapshots()
        other.app.settle_snapshots()
    finally:
        other.close()
    assert failures == []
    top = every_five.app.care_plan(plan).version
    assert top == start + 24
    taken = every_five.app.plan_snapshots.store.all_of(UUID(plan), fingerprint())
    assert [version for version, _ in taken] == list(range(INTERVAL, top + 1, INTERVAL))
    checked = check(every_five.app, UUID(plan))
    assert (checked.snapshots, checked.wrong) == (top // INTERVAL, [])
    assert verify(every_five.app, plan).intact


def test_check_rebuild_and_clear_from_the_command_line(
    every_five: Careplan, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = a_plan(every_five, notes=9)
    monkeypatch.setenv("CAREPLAN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("CAREPLAN_JWT_SECRET", settings.resolved_jwt_secret())
    monkeypatch.setenv("CAREPLAN_SNAPSHOT_INTERVAL", str(INTERVAL))
    if settings.database_url:
        monkeypatch.setenv("CAREPLAN_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("CAREPLAN_DATABASE_URL", raising=False)
    runner = CliRunner()
    clean = runner.invoke(cli, ["snapshots", "check"])
    assert clean.exit_code == 0, clean.output
    assert "all match their events: 2 snapshot(s) of 1 plan(s)" in clean.output
    # A snapshot that decodes but lies (another dose), sealed with the key (a defect of
    # the code that took it): check names it.
    liar = folded(every_five, plan, INTERVAL)
    next(iter(liar.prescriptions.values())).dose = Dose(Decimal(200), "mg")
    snapshots = every_five.app.plan_snapshots
    store = snapshots.store
    store.clear(UUID(plan))
    sealed = snapshots.seal(UUID(plan), INTERVAL, fingerprint(), encode_plan(liar))
    store.put(UUID(plan), INTERVAL, fingerprint(), sealed)
    wrong = runner.invoke(cli, ["snapshots", "check", "--plan", plan])
    assert wrong.exit_code == 1
    assert f"{plan} v{INTERVAL}: differs from the events" in wrong.output
    rebuilt = runner.invoke(cli, ["snapshots", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "2 snapshot(s) of 1 plan(s) taken" in rebuilt.output
    assert runner.invoke(cli, ["snapshots", "check"]).exit_code == 0
    doses = {
        m["drug"]: m["dose"]["amount"]
        for m in document(replay(every_five.app, plan, version=INTERVAL + 1))["medications"]
    }
    assert doses == {"sertraline": "25"}
    cleared = runner.invoke(cli, ["snapshots", "clear"])
    assert "2 snapshot(s) deleted" in cleared.output
    assert store.all_of(UUID(plan), fingerprint()) == []
    assert verify(every_five.app, plan).intact


def test_a_forged_snapshot_is_ignored_and_reported(every_five: Careplan) -> None:
    """Someone able to write the database edits a snapshot (another dose): without the
    key its seal fails, so replays fold the events instead, and verify names it."""
    plan = a_plan(every_five, notes=4)
    liar = folded(every_five, plan, INTERVAL)
    next(iter(liar.prescriptions.values())).dose = Dose(Decimal(200), "mg")
    store = every_five.app.plan_snapshots.store
    store.clear(UUID(plan))
    store.put(UUID(plan), INTERVAL, fingerprint(), encode_plan(liar))  # no key: no seal
    doses = {
        m["drug"]: m["dose"]["amount"]
        for m in document(replay(every_five.app, plan, version=INTERVAL))["medications"]
    }
    assert doses == {"sertraline": "25"}
    checked = verify(every_five.app, plan)
    assert [(f.version, f.what) for f in checked.findings] == [(INTERVAL, "snapshot_forged")]
    assert check(every_five.app, UUID(plan)).wrong == [
        (plan, INTERVAL, "forged: its seal does not hold")
    ]
