"""One care plan that records every event type, for tests of the published contract."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from domain.care_plan import CarePlan
from domain.scales import validated_measurement
from domain.values import Actor, Discussion, Evaluation, FollowUpPlan, Functioning, TaperStep
from tests.unit.clinic import FORMULARY, NOW, NURSE_SAM, ctx, evaluated_plan, in_weeks, mg

DISCUSSED = Discussion(
    options_considered=("lithium", "quetiapine", "psychotherapy"),
    expected_benefit="fewer and milder mood episodes",
    side_effects_discussed=("tremor", "thirst", "weight gain"),
    timeline="levels guide the dose over 1-2 weeks; full effect over weeks to months",
    decision="agrees",
)
SUPERVISED = Actor(
    "pa-kim", "prescriber", name="Kim Lee, PA", supervisor_id="dr-ada", profession="psychiatrist"
)


def every_event_type() -> list[Any]:
    """A plan through its whole life: prescribing, monitoring, record keeping, closing."""
    plan = evaluated_plan()
    lithium, _ = plan.prescribe(
        "lithium",
        mg("300"),
        "twice_daily",
        "oral",
        "bipolar I",
        in_weeks(1),
        ctx(),
        formulary=FORMULARY,
        discussion=DISCUSSED,
    )
    plan.change_dose(lithium, mg("450"), "level low", None, ctx(), formulary=FORMULARY)
    sertraline, warnings = plan.prescribe(
        "sertraline", mg("100"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
    )
    for finding in warnings:
        plan.acknowledge_warning(sertraline, finding.code, "seen before, tolerated", ctx())
    bupropion, _ = plan.switch(
        sertraline,
        strategy="cross_taper",
        reason="sexual side effects",
        drug="bupropion",
        dose=mg("150"),
        frequency="daily",
        route="oral",
        indication="MDD",
        follow_up=None,
        ctx=ctx(),
        formulary=FORMULARY,
        taper=[TaperStep(NOW.date() + timedelta(days=7), mg("50"))],
    )
    plan.discontinue(
        lithium, "toxicity", ctx(), reason_code="adverse_reaction", formulary=FORMULARY
    )
    first, second, third = (
        plan.schedule_follow_up(FollowUpPlan(NOW.date() + timedelta(days=d)), ctx())[0]
        for d in (0, 10, 20)
    )
    plan.complete_follow_up(
        first, "in_person", [validated_measurement("PHQ-9", 8)], ["dry mouth"], "daily", ctx()
    )
    plan.cancel_follow_up(second, "seen at the first visit", ctx())
    plan.reschedule_follow_up(third, NOW.date() + timedelta(days=21), None, "holiday", ctx())
    pending, _ = plan.schedule_follow_up(FollowUpPlan(NOW.date()), ctx())
    plan.mark_follow_up_missed(pending, "no answer", ctx(NURSE_SAM))
    plan.report_side_effect("tremor", "mild", "monitor", ctx(NURSE_SAM), prescription_id=lithium)
    plan.record_adherence("missed_some_doses", ctx(NURSE_SAM), note="weekends")
    plan.record_measurement("PHQ-9", ctx(NURSE_SAM), items=[1, 1, 1, 0, 0, 1, 0, 0, 0])
    plan.record_lab_result(
        "lithium_level", Decimal("0.8"), "mEq/L", NOW - timedelta(hours=2), ctx(NURSE_SAM)
    )
    plan.record_check("rash_check", False, ctx(NURSE_SAM), formulary=FORMULARY, note="no rash")
    reassessment = Evaluation(
        "reassessment",
        "telehealth",
        (),
        conditions=frozenset({"hepatic_impairment_moderate"}),
        weight_kg=Decimal("70"),
        functioning=Functioning("moderate", "mild", None),
    )
    reviewed = plan.record_evaluation(reassessment, ctx(), FORMULARY)  # bupropion over 100 mg
    assert reviewed.flagged, "the reassessment flags bupropion (MedicationReviewFlagged)"
    plan.review_medication(bupropion, "continue", "tolerated; too early to judge", ctx())
    plan.refer_to_therapy("cbt", "Riverside Psychology", "relapse prevention", "routine", ctx())
    plan.change_care_team(
        "pa-kim", "physician_assistant", "joined", ctx(), name="Kim", supervisor_id="dr-ada"
    )
    adherence = next(e for e in plan.pending_events if isinstance(e, CarePlan.AdherenceRecorded))
    plan.mark_entry_in_error(adherence.originator_version, adherence, "other patient", ctx())
    events = list(plan.pending_events)
    return [*events, *closed_plan_events(), *supervised_events()]


def closed_plan_events() -> list[Any]:
    plan = evaluated_plan()
    plan.record_treatment_decision(
        "medication_declined", "prefers to try therapy first", ["CBT"], ctx()
    )
    plan.close("patient_declined", "prefers therapy alone", ctx())
    return list(plan.pending_events)


def supervised_events() -> list[Any]:
    """An actor with every optional field (supervisor, profession) set."""
    plan = CarePlan.open("pt-2", ctx(SUPERVISED))
    return list(plan.pending_events)
