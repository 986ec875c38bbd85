"""Facts a rule needs but the plan does not have: a finding, never silence.

Without a birth date the age limits (citalopram's 20 mg over 60, weekly contact
for under-25s starting an antidepressant) cannot be judged; without a weight, a
maximum given per kilogram cannot. The prescriber is told which fact is missing
and which rule it blocks, so they can record it (in an evaluation).
"""

from __future__ import annotations

from decimal import Decimal

from domain.formulary import Drug
from domain.safety import PER_KG, Finding
from domain.schedules import FOLLOW_UP_SOURCE, YOUNG_ADULT_AGE

AGE_POPULATIONS = {"age_over_60": 60, "age_over_65": 65}


def missing_facts(
    drug: Drug, age: int | None, weight_kg: Decimal | None, *, starting: bool
) -> list[Finding]:
    """What cannot be judged for this drug, for want of the patient's age or weight."""
    findings = _age_unknown(drug, starting) if age is None else []
    return findings + (_weight_unknown(drug) if weight_kg is None else [])


def _age_unknown(drug: Drug, starting: bool) -> list[Finding]:
    rules, sources = [], []
    ages = {s.population for s in drug.special_maxima} & AGE_POPULATIONS.keys()
    limits = sorted(AGE_POPULATIONS[population] for population in ages)
    if limits:
        rules.append(f"its lower maximum over {limits[0]}")
        sources.append(drug.source("dosing"))
    if starting and drug.area == "antidepressant":
        rules.append(f"weekly contact for patients under {YOUNG_ADULT_AGE}")
        sources.append(FOLLOW_UP_SOURCE)
    if not rules:
        return []
    return [
        Finding(
            "patient.age_unknown",
            "warn",
            f"The patient's birth date is not recorded, so {' and '.join(rules)} cannot be "
            f"checked for {drug.name}; record the birth date in an evaluation.",
            "; ".join(sources),
        )
    ]


def _weight_unknown(drug: Drug) -> list[Finding]:
    per_kg = [s.max_daily for s in drug.special_maxima if s.population == PER_KG]
    if not per_kg or per_kg[0] is None:
        return []
    return [
        Finding(
            "patient.weight_unknown",
            "warn",
            f"The patient's weight is not recorded, so the maximum of {per_kg[0]} mg/kg/day "
            f"cannot be checked for {drug.name}; record the weight in an evaluation.",
            drug.source("dosing"),
        )
    ]
