"""The worklist, on both stores: what is due, as the plan itself judges it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.care_plan import CarePlan
from domain.values import CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from projections.current_medications import TAKEN_NOW
from projections.worklist import WorklistQuery, worklist
from services.bootstrap import Careplan
from tests.integration.conftest import Played
from tests.integration.course import PRESCRIBER


def today() -> Any:
    return datetime.now(UTC).date()


def checks(items: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return sorted(
        (i["prescription_id"], i["test"], i["due_on"]) for i in items if i["kind"] == "monitoring"
    )


def follow_ups(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((i["follow_up_id"], i["status"]) for i in items if i["kind"] == "follow_up")


def expected_checks(plan: CarePlan) -> list[tuple[str, str, Any]]:
    """The plan's own due items, less those of drugs no longer taken (stopped, or
    entered in error), which the worklist takes off the list."""
    return sorted(
        (due.prescription_id, due.item.test, due.item.due_on)
        for due in plan.due_items(today())
        if plan.prescriptions[due.prescription_id].status in TAKEN_NOW
    )


def test_the_checks_due_are_the_plans_own_at_every_step(played: Played) -> None:
    for name, step in played.steps.items():
        assert checks(step.worklist) == expected_checks(step.plan), name
    lithium = played.course.rx["lithium"]
    assert {test for rx, test, _ in checks(played.last.worklist) if rx == lithium} == {
        "renal_function",
        "thyroid_function",
        "calcium",
    }  # the level on day 7 was answered by the result
    assert "lithium_level" in {
        test for _, test, _ in checks(played.steps["prescribe lithium"].worklist)
    }
    bupropion = played.course.rx["bupropion"]
    assert bupropion in {rx for rx, _, _ in checks(played.steps["prescribe bupropion"].worklist)}
    assert bupropion not in {rx for rx, _, _ in checks(played.last.worklist)}


def test_pending_follow_ups_are_listed_and_a_missed_one_until_rebooked(played: Played) -> None:
    for name, step in played.steps.items():
        pending = [
            (f.follow_up_id, "scheduled")
            for f in step.plan.follow_ups.values()
            if f.is_pending and f.due_on <= today() and step.plan.status == "open"
        ]
        listed = [item for item in follow_ups(step.worklist) if item[1] == "scheduled"]
        assert listed == sorted(pending), name
    missed = played.course.follow_ups["after raise"]
    assert (missed, "missed") in follow_ups(played.steps["missed"].worklist)
    assert missed not in {f for f, _ in follow_ups(played.steps["rebooked"].worklist)}
    every = played.last.worklist
    assert all(item["overdue"] == (item["due_on"] < today()) for item in every)
    assert {item["patient_id"] for item in every} == {played.patient_id}


def test_by_prescriber_and_by_date(played: Played) -> None:
    views = played.careplan.views
    plan = str(played.course.plan)
    day = played.course.day

    def listed(**query: Any) -> list[dict[str, Any]]:
        items, truncated = worklist(views, WorklistQuery(on=today(), **query))
        assert not truncated
        return [item for item in items if item["care_plan_id"] == plan]

    nurse = listed(prescriber="rn-sam")
    assert [(i["kind"], i["due_on"]) for i in nurse] == [("follow_up", day(35).date())]
    assert {i["prescriber_id"] for i in listed(prescriber="dr-ada")} == {"dr-ada"}
    window = listed(since=day(20).date(), to=day(30).date())
    assert [(i["kind"], i["due_on"]) for i in window] == [("follow_up", day(28).date())]
    early, truncated = worklist(views, WorklistQuery(on=today(), limit=1))
    assert (len(early), truncated) == (1, True)


def test_a_closed_plan_has_nothing_to_chase(played: Played) -> None:
    far = today() + timedelta(days=60)
    closed = str(played.course.closed_plan)
    before = played.steps["book second"].plan
    assert [f.status for f in before.follow_ups.values()] == ["scheduled"]
    items, _ = worklist(played.careplan.views, WorklistQuery(on=today(), to=far))
    assert closed not in {item["care_plan_id"] for item in items}


def test_stopping_a_drug_takes_its_checks_off_and_a_stop_in_error_puts_them_back(
    careplan: Careplan,
) -> None:
    app = careplan.app
    day0 = datetime.now(UTC) - timedelta(days=10)

    def on(day: int) -> CommandContext:
        return CommandContext(PRESCRIBER, day0 + timedelta(days=day))

    plan = app.open_care_plan("pt-stop", on(0)).care_plan_id
    app.record_evaluation(
        plan, Evaluation("initial", "in_person", (Diagnosis("F20.9", "Schizophrenia"),)), on(0)
    )
    rx = app.prescribe(
        plan,
        drug="quetiapine",
        dose=Dose(Decimal(25), "mg"),
        frequency="twice_daily",
        route="oral",
        indication="F20.9",
        follow_up=FollowUpPlan((day0 + timedelta(days=7)).date()),
        ctx=on(0),
    ).created_id
    assert rx is not None

    def due_tests() -> list[str]:
        items, _ = worklist(careplan.views, WorklistQuery(on=today()))
        return sorted(i["test"] for i in items if i["kind"] == "monitoring")

    everything = due_tests()
    assert {"aims", "weight", "lipids"} <= set(everything)
    app.record_measurement(plan, instrument="AIMS", total=2, ctx=on(1))
    assert "aims" not in due_tests()
    scored = max(e.originator_version for e in app.history(plan))
    app.mark_entry_in_error(plan, version=scored, reason="other patient", ctx=on(2))
    assert due_tests() == everything

    app.discontinue(
        plan,
        rx,
        reason="rash",
        reason_code="adverse_reaction",
        ctx=on(3),
        acknowledgements={"discontinuation.taper_required": "stop now"},
    )
    assert due_tests() == []
    stop = next(
        e.originator_version
        for e in app.history(plan)
        if type(e).__name__ == "MedicationDiscontinued"
    )
    app.mark_entry_in_error(plan, version=stop, reason="wrong drug stopped", ctx=on(4))
    assert due_tests() == everything
    scheduled = next(
        e.originator_version for e in app.history(plan) if type(e).__name__ == "MonitoringScheduled"
    )
    app.mark_entry_in_error(plan, version=scheduled, reason="scheduled twice", ctx=on(4))
    assert due_tests() == []
