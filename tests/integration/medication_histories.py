"""Many care plans with varied medication histories, written through the application.

Each plan starts sertraline and then, by a seeded random draw, titrates it,
adds prazosin (kept, changed, stopped, or marked entered in error) and switches
or stops the SSRI: every way the current-medication view changes.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from domain.care_plan import CarePlan
from domain.values import CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan, Functioning
from services.application import CarePlans
from services.demo import PRESCRIBER

EVALUATION = Evaluation(
    kind="initial",
    modality="in_person",
    diagnoses=(Diagnosis("F32.1", "Major depressive disorder, moderate"),),
    functioning=Functioning("moderate", "mild", "none"),
)


def mg(amount: int) -> Dose:
    return Dose(Decimal(amount), "mg")


def write_varied_plans(app: CarePlans, count: int, *, seed: int = 7) -> list[UUID]:
    rng = random.Random(seed)
    return [one_plan(app, rng, f"meds-{index}-{uuid4().hex[:6]}") for index in range(count)]


def one_plan(app: CarePlans, rng: random.Random, patient_id: str) -> UUID:
    ctx = CommandContext(PRESCRIBER, datetime.now(UTC), correlation_id=patient_id)
    in_two_weeks = FollowUpPlan(date.today() + timedelta(days=14), "telehealth")
    plan = app.open_care_plan(patient_id, ctx).care_plan_id
    app.record_evaluation(plan, EVALUATION, ctx)
    ssri = app.prescribe(
        plan,
        drug="sertraline",
        dose=mg(25),
        frequency="daily",
        route="oral",
        indication="MDD",
        follow_up=in_two_weeks,
        ctx=ctx,
    ).created_id
    assert ssri is not None
    steps = rng.randint(0, 3)
    for step in range(1, steps + 1):
        app.change_dose(
            plan, ssri, dose=mg(25 + 25 * step), reason="titrate", follow_up=None, ctx=ctx
        )
    # Above 25 mg (the dose sertraline's label stops from) an abrupt stop needs a reason.
    abrupt = steps > 0
    if rng.random() < 0.7:
        add_prazosin(app, plan, rng.choice(["kept", "changed", "stopped", "in_error"]), ctx)
    fate = rng.choice(["kept", "kept", "switched", "stopped"])
    if fate == "switched":
        app.switch(
            plan,
            ssri,
            strategy="direct",
            reason="no response",
            drug="escitalopram",
            dose=mg(10),
            frequency="daily",
            route="oral",
            indication="MDD",
            follow_up=None,
            ctx=ctx,
            acknowledgements={"discontinuation.taper_required": "same-class switch"}
            if abrupt
            else {},
        )
    elif fate == "stopped":
        app.discontinue(
            plan,
            ssri,
            reason="rash",
            reason_code="adverse_reaction",
            ctx=ctx,
            acknowledgements={"discontinuation.taper_required": "rash: stop at once"}
            if abrupt
            else {},
        )
    return plan


def add_prazosin(app: CarePlans, plan: UUID, fate: str, ctx: CommandContext) -> None:
    rx = app.prescribe(
        plan,
        drug="prazosin",
        dose=mg(1),
        frequency="at_bedtime",
        route="oral",
        indication="nightmares",
        follow_up=None,
        ctx=ctx,
    ).created_id
    assert rx is not None
    if fate == "changed":
        app.change_dose(plan, rx, dose=mg(2), reason="nightmares persist", follow_up=None, ctx=ctx)
    elif fate == "stopped":
        app.discontinue(plan, rx, reason="nightmares resolved", ctx=ctx)
    elif fate == "in_error":
        prescribed = next(
            event.originator_version
            for event in app.history(plan)
            if isinstance(event, CarePlan.MedicationPrescribed) and event.prescription_id == rx
        )
        app.mark_entry_in_error(plan, version=prescribed, reason="wrong patient", ctx=ctx)
