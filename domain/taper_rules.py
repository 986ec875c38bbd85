"""Rules for stopping: who needs a taper, and whether a taper plan is sound.

Taper every antidepressant (paroxetine and venlafaxine most of all, per their
labels); benzodiazepines 5-25% every 2-4 weeks (ASAM-led joint guideline, 2025);
alprazolam no faster than 0.5 mg every 3 days (label). An abrupt stop of a drug
that needs a taper needs a recorded reason: only an adverse reaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from domain.errors import InvalidValue
from domain.formulary import Drug
from domain.safety import Finding, daily_amount, sentence
from domain.values import Dose, TaperStep

BENZODIAZEPINE_GUIDELINE = (
    "ASAM et al. Joint Clinical Practice Guideline on Benzodiazepine Tapering, 2025"
)
MAX_BENZODIAZEPINE_STEP = Decimal("0.25")  # of the dose before the step
MIN_BENZODIAZEPINE_INTERVAL_DAYS = 14
ALPRAZOLAM_MAX_DROP_PER_3_DAYS = Decimal("0.5")
#: Like follow-ups, no step is planned further ahead than this.
TAPER_HORIZON = timedelta(days=2 * 366)


#: A plain stop that says "switched" is a switch only if another drug for the same
#: use was started in the plan this many days before it (or on the same day).
SWITCH_WINDOW_DAYS = 7


def stop_needs_taper(
    drug: Drug | None,
    daily: Decimal,
    taper: Sequence[TaperStep],
    steps_taken: int,
    reason_code: str,
    today: date,
    *,
    replaced: bool,
) -> list[Finding]:
    """Stopping a drug that needs a taper is judged by where the taper really is: its
    last step reached (taken as a dose change, its date come), or a dose at or below
    the one the label stops from. Otherwise it is an abrupt stop: blocked, unless it
    harms now (an adverse reaction) or another drug takes over (a switch), which warn.
    """
    if drug is None or not drug.needs_taper:
        return []
    completed = bool(taper) and steps_taken >= len(taper) and taper[-1].starts_on <= today
    low_enough = drug.stop_from_daily is not None and daily <= drug.stop_from_daily
    if completed or low_enough:
        return []
    severity = "warn" if reason_code == "adverse_reaction" or replaced else "block"
    where = f"{format(daily, 'f')} mg/day"
    if taper:
        where += f", {steps_taken} of the {len(taper)} steps of its taper taken"
    stop_from = (
        f" (it can be stopped from {format(drug.stop_from_daily, 'f')} mg/day)"
        if drug.stop_from_daily is not None
        else ""
    )
    not_a_switch = (
        f"Nothing was started in place of {drug.name} in the last {SWITCH_WINDOW_DAYS} days, "
        "so this is a stop, not a switch (a switch goes through the switch command). "
        if reason_code == "switched" and not replaced
        else ""
    )
    return [
        Finding(
            "discontinuation.taper_required",
            severity,
            f"{not_a_switch}{sentence(drug.name)} is taken at {where}: "
            f"stopping now is an abrupt stop{stop_from}. {drug.taper}",
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
        if step.starts_on > date.fromisoformat(today_iso) + TAPER_HORIZON:
            raise InvalidValue(
                "taper.too_far",
                f"Step {number} starts on {step.starts_on}, more than two years away; "
                "plan the taper in nearer steps.",
            )
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
