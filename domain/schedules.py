"""Timing rules: how soon the patient is seen after a change, how fast lamotrigine rises.

Under-25s starting an antidepressant are seen weekly for the first four weeks
(the antidepressants' boxed warning); adults within 1-4 weeks of a start or change.
Lamotrigine: 25 mg/day in weeks 1-2, 50 in weeks 3-4, 100 in week 5, 200 from
week 6; with valproate, half of each (25 mg every other day to start).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain.formulary import Drug
from domain.safety import Finding

YOUNG_ADULT_AGE = 25
YOUNG_ADULT_MAX_DAYS = 7
ADULT_MAX_DAYS = 28
FOLLOW_UP_SOURCE = (
    "Antidepressant US prescribing information, boxed warning and section 5.1 (suicidal "
    "thoughts and behaviours: close observation of patients under 25 when starting); APA "
    "Practice Guideline for the Treatment of Patients With Major Depressive Disorder, 3rd "
    "ed., 2010 (adults seen within 1-4 weeks of a start or change)"
)

# (first day on which the ceiling applies, mg/day) in label order.
LAMOTRIGINE_STEPS = ((0, Decimal(25)), (14, Decimal(50)), (28, Decimal(100)), (35, Decimal(200)))


def follow_up_interval(
    drug: Drug, age: int | None, starting: bool, planned_on: date, due_on: date | None
) -> list[Finding]:
    """The next contact must be close enough to catch early harm or non-response."""
    if due_on is None:
        return []
    young = age is not None and age < YOUNG_ADULT_AGE
    weekly = young and starting and drug.area == "antidepressant"
    limit = YOUNG_ADULT_MAX_DAYS if weekly else ADULT_MAX_DAYS
    days = (due_on - planned_on).days
    if days <= limit:
        return []
    who = (
        f"a patient under {YOUNG_ADULT_AGE} starting an antidepressant should be seen"
        if weekly
        else "after a start or a dose change, the patient should be seen"
    )
    return [
        Finding(
            "follow_up.interval_too_long",
            "warn",
            f"The next follow-up is {days} days away; {who} within {limit} days.",
            FOLLOW_UP_SOURCE,
        )
    ]


def lamotrigine_titration(
    drug: Drug, daily: Decimal, days_on: int, with_valproate: bool
) -> list[Finding]:
    """Faster than the label's escalation raises the risk of serious rash (SJS/TEN)."""
    if drug.name != "lamotrigine":
        return []
    ceiling = next(c for first, c in reversed(LAMOTRIGINE_STEPS) if days_on >= first)
    if with_valproate:
        ceiling = ceiling / 2
    if daily <= ceiling:
        return []
    context = " with valproate" if with_valproate else ""
    return [
        Finding(
            "lamotrigine.titration_too_fast",
            "block",
            f"Lamotrigine {daily} mg/day on day {days_on + 1}{context} exceeds the label's "
            f"escalation ({ceiling} mg/day at this point).",
            drug.source("dosing"),
        )
    ]
