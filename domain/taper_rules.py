"""Rules for stopping: who needs a taper, and whether a taper plan is sound.

CLINICAL.md: taper every antidepressant (paroxetine and venlafaxine most of
all); benzodiazepines 5-25% every 2-4 weeks (ASAM-led joint guideline, 2025);
alprazolam no faster than 0.5 mg every 3 days (label). An abrupt stop of a drug
that needs a taper needs a recorded reason: only an adverse reaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from domain.errors import InvalidValue
from domain.formulary import Drug
from domain.safety import Finding, daily_amount
from domain.values import Dose, TaperStep

BENZODIAZEPINE_GUIDELINE = (
    "ASAM et al. Joint Clinical Practice Guideline on Benzodiazepine Tapering, 2025"
)
MAX_BENZODIAZEPINE_STEP = Decimal("0.25")  # of the dose before the step
MIN_BENZODIAZEPINE_INTERVAL_DAYS = 14
ALPRAZOLAM_MAX_DROP_PER_3_DAYS = Decimal("0.5")


def taper_required(drug: Drug | None, reason_code: str, tapering: bool) -> list[Finding]:
    """Stopping a drug that needs a taper, without one: blocked, unless it harms now
    (an adverse reaction) or another drug takes over at once (a direct switch); those
    warn and need a justification.
    """
    # "taper_completed" is a reason, not a taper: without one the stop is still abrupt.
    if drug is None or not drug.needs_taper or tapering:
        return []
    severity = "warn" if reason_code in ("adverse_reaction", "switched") else "block"
    return [
        Finding(
            "discontinuation.taper_required",
            severity,
            f"{drug.name} should be tapered, not stopped abruptly: {drug.taper}",
            drug.source("taper"),
        )
    ]


def check_taper_plan(current: Dose, steps: Sequence[TaperStep], today_iso: str) -> None:
    """A taper goes down, step by step, on later and later dates, ending at a dose."""
    if not steps:
        raise InvalidValue("taper.no_steps", "A taper needs at least one dated step.")
    previous_dose, previous_date = current, None
    for number, step in enumerate(steps, start=1):
        if step.dose.unit != current.unit:
            raise InvalidValue("taper.unit_mismatch", f"Step {number} is not in {current.unit}.")
        if step.dose.amount >= previous_dose.amount:
            raise InvalidValue("taper.not_decreasing", f"Step {number} does not lower the dose.")
        if step.starts_on.isoformat() < today_iso or (
            previous_date is not None and step.starts_on <= previous_date
        ):
            raise InvalidValue(
                "taper.dates_not_increasing", f"Step {number} must come after the one before."
            )
        previous_dose, previous_date = step.dose, step.starts_on


def taper_pace(
    drug: Drug, current: Dose, frequency: str, steps: Sequence[TaperStep], started_on: date
) -> list[Finding]:
    """Warn when a benzodiazepine taper runs faster than the guideline or the label."""
    if drug.drug_class != "benzodiazepine":
        return []
    findings: list[Finding] = []
    before = daily_amount(current.amount, frequency)
    previous_date = started_on
    for number, step in enumerate(steps, start=1):
        after = daily_amount(step.dose.amount, frequency)
        drop = before - after
        # The first step may start at once; later ones wait for the body to adjust.
        days = (step.starts_on - previous_date).days if number > 1 else None
        if drop > before * MAX_BENZODIAZEPINE_STEP or (
            days is not None and days < MIN_BENZODIAZEPINE_INTERVAL_DAYS
        ):
            findings.append(
                Finding(
                    "taper.too_fast",
                    "warn",
                    f"Step {number} of the {drug.name} taper cuts {drop} mg/day"
                    + (f" after {days} days" if days is not None else "")
                    + "; reduce 5-25% every 2-4 weeks.",
                    BENZODIAZEPINE_GUIDELINE,
                )
            )
        too_fast = days is not None and drop > ALPRAZOLAM_MAX_DROP_PER_3_DAYS * days / 3
        if drug.name == "alprazolam" and too_fast:
            findings.append(
                Finding(
                    "taper.alprazolam_too_fast",
                    "warn",
                    f"Step {number} lowers alprazolam faster than 0.5 mg every 3 days.",
                    drug.source("taper"),
                )
            )
        before, previous_date = after, step.starts_on
    return findings
