"""A short, realistic treatment course, played through the same application path.

Used by ``careplan demo`` so a newcomer (or an auditor) can see a plan's events,
its current medications and its audit trail without writing a client.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from domain.scales import validated_measurement
from domain.values import (
    Actor,
    CommandContext,
    Diagnosis,
    Discussion,
    Dose,
    Evaluation,
    FollowUpPlan,
    Functioning,
    TaperStep,
)
from services.application import CarePlans

PRESCRIBER = Actor("dr-ada", "prescriber", name="Dr Ada Okafor")
NURSE = Actor("rn-sam", "clinician", name="Sam Reyes, RN")


def play_course(app: CarePlans, patient_id: str, *, start: datetime | None = None) -> UUID:
    """Eight weeks of sertraline for a depressive episode, with a short trazodone add-on
    that is tapered off once sleep recovers.
    """
    day0 = start or datetime.now(UTC) - timedelta(days=56)

    def on(day: int, actor: Actor = PRESCRIBER) -> CommandContext:
        return CommandContext(actor, day0 + timedelta(days=day), correlation_id="demo")

    def due(day: int, modality: str = "in_person") -> FollowUpPlan:
        return FollowUpPlan((day0 + timedelta(days=day)).date(), modality, "medication review")

    plan = app.open_care_plan(patient_id, on(0), date(1988, 4, 2)).care_plan_id
    app.record_evaluation(
        plan,
        Evaluation(
            kind="initial",
            modality="in_person",
            diagnoses=(Diagnosis("F32.1", "Major depressive disorder, single episode, moderate"),),
            symptoms=("low mood", "anhedonia", "early waking"),
            duration="3 months",
            functional_impact="missing work two days a week",
            sleep="wakes at 4am most nights",
            substance_use="alcohol 2 units/week",
            functioning=Functioning(work_or_school="moderate", daily_tasks="mild"),
        ),
        on(0),
    )
    sertraline = app.prescribe(
        plan,
        drug="sertraline",
        dose=Dose(Decimal("25"), "mg"),
        frequency="daily",
        route="oral",
        indication="F32.1 major depressive disorder",
        follow_up=due(14, "telehealth"),
        ctx=on(0),
        discussion=Discussion(
            options_considered=("sertraline", "CBT", "watchful waiting"),
            expected_benefit="better mood and sleep, back to full weeks at work",
            side_effects_discussed=("nausea", "headache", "sexual side effects"),
            timeline="a first effect in 2-4 weeks, the full effect by 6-8 weeks",
            decision="agrees",
        ),
    ).created_id
    assert sertraline is not None
    first_visit = app.care_plan(plan).follow_ups
    app.change_dose(
        plan,
        sertraline,
        dose=Dose(Decimal("50"), "mg"),
        reason="tolerating 25 mg; increase to usual starting dose",
        follow_up=None,
        ctx=on(7),
    )
    app.complete_follow_up(
        plan,
        next(iter(first_visit)),
        modality="telehealth",
        measurements=[validated_measurement("PHQ-9", 16)],
        side_effects=["mild nausea"],
        adherence="taking daily",
        ctx=on(14, NURSE),
    )
    trazodone = app.prescribe(
        plan,
        drug="trazodone",
        dose=Dose(Decimal("50"), "mg"),
        frequency="at_bedtime",
        route="oral",
        indication="insomnia with depression",
        follow_up=due(35),
        ctx=on(14),
        discussion=Discussion(
            options_considered=("trazodone", "sleep hygiene", "CBT for insomnia"),
            expected_benefit="sleeping through while sertraline takes effect",
            side_effects_discussed=("morning drowsiness", "dizziness"),
            timeline="from the first nights; for a few weeks only",
            decision="agrees",
        ),
    ).created_id
    assert trazodone is not None
    second_visit = next(f for f in app.care_plan(plan).follow_ups.values() if f.is_pending)
    app.complete_follow_up(
        plan,
        second_visit.follow_up_id,
        modality="in_person",
        measurements=[validated_measurement("PHQ-9", 9), validated_measurement("GAD-7", 6)],
        side_effects=[],
        adherence="taking daily",
        ctx=on(35),
    )
    app.schedule_follow_up(plan, due(49), on(35))
    half = Dose(Decimal("25"), "mg")
    app.start_taper(
        plan,
        trazodone,
        steps=[TaperStep((day0 + timedelta(days=35)).date(), half)],
        reason="sleep restored; no longer needed",
        ctx=on(35),
    )
    app.change_dose(plan, trazodone, dose=half, reason="taper step 1", follow_up=None, ctx=on(35))
    app.discontinue(
        plan, trazodone, reason="taper completed", reason_code="taper_completed", ctx=on(42)
    )
    return plan
