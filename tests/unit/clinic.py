"""Small builders so unit tests read like the clinic, not like plumbing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain.care_plan import CarePlan
from domain.formulary import load_formulary
from domain.values import (
    Actor,
    CommandContext,
    Diagnosis,
    Discussion,
    Dose,
    Evaluation,
    FollowUpPlan,
)

FORMULARY = load_formulary()
DR_ADA = Actor("dr-ada", "prescriber", name="Dr Ada")
NURSE_SAM = Actor("rn-sam", "clinician")
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
#: A 40-year-old: age rules apply to a known age (a plan without one is tested apart).
BIRTH_DATE = date(1985, 6, 15)
#: What a prescriber explains before a start, and the patient's agreement.
AGREED = Discussion(
    options_considered=("an SSRI", "psychotherapy", "watchful waiting"),
    expected_benefit="less low mood and better sleep",
    side_effects_discussed=("nausea", "headache", "sexual side effects"),
    timeline="several weeks before the full effect",
    decision="agrees",
)


def ctx(actor: Actor = DR_ADA, at: datetime = NOW) -> CommandContext:
    return CommandContext(actor, at, correlation_id="req-1")


def mg(amount: str) -> Dose:
    return Dose(Decimal(amount), "mg")


def in_weeks(weeks: int) -> FollowUpPlan:
    return FollowUpPlan(NOW.date() + timedelta(weeks=weeks), "telehealth")


def initial_evaluation() -> Evaluation:
    return Evaluation(
        kind="initial",
        modality="in_person",
        diagnoses=(Diagnosis("F32.1", "Major depressive disorder, moderate"),),
        symptoms=("low mood",),
    )


def evaluated_plan() -> CarePlan:
    plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
    plan.record_evaluation(initial_evaluation(), ctx())
    return plan


def on_sertraline(amount: str = "25") -> tuple[CarePlan, str]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        "sertraline",
        mg(amount),
        "daily",
        "oral",
        "MDD",
        in_weeks(2),
        ctx(),
        formulary=FORMULARY,
        discussion=AGREED,
    )
    return plan, rx


def replay(plan: CarePlan) -> CarePlan:
    """Rebuild a plan from the events it has produced so far."""
    rebuilt = None
    for event in plan.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert isinstance(rebuilt, CarePlan)
    return rebuilt
