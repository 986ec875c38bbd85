"""Clinical and workflow rules as pure functions over a care plan's state.

Each rule returns findings instead of raising, so the caller decides: a ``block``
finding refuses the command, a ``warn`` finding travels back to the prescriber.
Rules run before an event is triggered, never inside ``apply``: replaying history
must not re-judge it by today's rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from domain.errors import InvalidValue, RuleViolation
from domain.formulary import Drug, OtherDrug
from domain.values import require_text

if TYPE_CHECKING:
    from domain.care_plan import FollowUp, Prescription

#: ``block`` refuses the command; ``warn`` waits for a prescriber's acknowledgement;
#: ``urgent`` asks for action today (self-harm, a critical lab value, a rash on lamotrigine).
Severity = Literal["block", "warn", "urgent"]

WORKFLOW_SOURCE = "Careplan workflow rule (an order is changed or stopped only while it is taken)"
EVALUATION_SOURCE = (
    "APA Practice Guideline for the Psychiatric Evaluation of Adults, 3rd ed., 2016 "
    "(evaluation before treatment)"
)
FOLLOW_UP_PLANNED_SOURCE = (
    "APA Practice Guideline for the Treatment of Patients With Major Depressive Disorder, "
    "3rd ed., 2010 (systematic follow-up after starting or changing a medication)"
)


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str
    source: str


def requires_initial_evaluation(has_initial_evaluation: bool) -> list[Finding]:
    """No prescription before the patient has been evaluated."""
    if has_initial_evaluation:
        return []
    return [
        Finding(
            "prescription.requires_evaluation",
            "block",
            "Record an initial evaluation before prescribing.",
            EVALUATION_SOURCE,
        )
    ]


def one_active_prescription_per_drug(
    drug: str, prescriptions: Iterable[Prescription]
) -> list[Finding]:
    """A drug has one active prescription; a change is a new dose, not a second order."""
    for rx in prescriptions:
        if rx.is_active and rx.drug == drug:
            return [
                Finding(
                    "prescription.already_active",
                    "block",
                    f"{sentence(drug)} is already prescribed ({rx.prescription_id}); "
                    "change its dose instead.",
                    "OpenMRS order model: one active order per drug",
                )
            ]
    return []


def prescription_must_be_active(prescription: Prescription) -> list[Finding]:
    """Dose changes and stops apply only to a prescription the patient is on."""
    if prescription.is_active:
        return []
    return [
        Finding(
            "prescription.not_active",
            "block",
            f"Prescription {prescription.prescription_id} is {prescription.status}.",
            WORKFLOW_SOURCE,
        )
    ]


def follow_up_must_be_planned(
    carries_follow_up: bool, follow_ups: Mapping[str, FollowUp]
) -> list[Finding]:
    """Follow-up is planned from the start: a start or change needs one pending."""
    if carries_follow_up or any(f.is_pending for f in follow_ups.values()):
        return []
    return [
        Finding(
            "follow_up.required",
            "block",
            "Plan a follow-up with this prescription or dose change.",
            FOLLOW_UP_PLANNED_SOURCE,
        )
    ]


def acknowledged(warnings: list[Finding], given: Mapping[str, str] | None) -> dict[str, str]:
    """The acknowledgements that answer a warning of this command; others are refused."""
    given = dict(given or {})
    raised = {finding.code for finding in warnings}
    stray = sorted(set(given) - raised)
    if stray:
        raise InvalidValue(
            "acknowledgement.unexpected",
            f"Acknowledged {', '.join(stray)}, but this command raised no such warning.",
        )
    return {
        code: require_text(text, "acknowledgement.justification_required", "Justification")
        for code, text in given.items()
    }


def refuse_blocking(findings: Iterable[Finding]) -> list[Finding]:
    """Raise on the first blocking finding; hand back the warnings for the caller."""
    findings = list(findings)
    for finding in findings:
        if finding.severity == "block":
            raise RuleViolation(finding.code, finding.message, finding.source)
    return findings


# -- dosing -------------------------------------------------------------------

# Doses per day as (doses, days): exact, so 140 mg weekly is 20 mg/day, not 20.000…01.
DOSES_PER_DAY: dict[str, tuple[int, int]] = {
    "daily": (1, 1),
    "twice_daily": (2, 1),
    "three_times_daily": (3, 1),
    "four_times_daily": (4, 1),
    "at_bedtime": (1, 1),
    "every_other_day": (1, 2),
    "weekly": (1, 7),
    # As needed: judged per dose taken once a day; the PRN ceiling is the prescriber's.
    "as_needed": (1, 1),
}


def daily_amount(amount: Decimal, frequency: str) -> Decimal:
    """Amount per day, as labels state maxima (mg/day)."""
    doses, days = DOSES_PER_DAY[frequency]
    return (amount * doses / days).normalize()


def _mg(amount: Decimal) -> str:
    return f"{format(amount.normalize(), 'f')} mg/day"


def sentence(text: str) -> str:
    """A message starts as a sentence does, even when it starts with a drug's name."""
    return text[:1].upper() + text[1:]


#: Special maxima about how the drug is used, not who takes it: when one applies it
#: replaces the usual maximum (it may be higher: paroxetine 60 mg for OCD), and the
#: patient's own caps (age, liver, inhibitors) then apply on top.
USE_POPULATION_PREFIXES = ("form_",)
USE_POPULATIONS = frozenset(
    {"bipolar_depression", "bipolar_mania", "mdd_adjunct", "panic_disorder", "ocd", "inpatient"}
)
PER_KG = "mg_per_kg_body_weight"


def _is_use(population: str) -> bool:
    return population in USE_POPULATIONS or population.startswith(USE_POPULATION_PREFIXES)


def effective_maximum(
    drug: Drug, populations: frozenset[str], weight_kg: Decimal | None = None
) -> tuple[Decimal | None, str]:
    """The ceiling for this use and this patient: the use's own maximum (form,
    indication, setting) in place of the usual one, then the lowest patient cap.
    A per-kilogram maximum counts once a weight has been recorded."""
    limit, why = drug.max_daily, "adult maximum"
    uses = [s for s in drug.special_maxima if _is_use(s.population) and s.population in populations]
    capped = [(s.max_daily, s.population) for s in uses if s.max_daily is not None]
    if capped:
        limit, population = min(capped)
        why = f"maximum for {population.replace('_', ' ')}"
    base = limit  # factors scale this use's maximum, not a cap found below
    for special in drug.special_maxima:
        if _is_use(special.population):
            continue
        if special.population == PER_KG:
            if weight_kg is None or special.max_daily is None:
                continue
            cap: Decimal | None = (special.max_daily * weight_kg).normalize()
            reason = f"{special.max_daily} mg/kg at {weight_kg} kg"
        elif special.population in populations:
            cap = special.max_daily
            if cap is None and special.factor is not None and base is not None:
                cap = base * special.factor
            reason = special.population.replace("_", " ")
        else:
            continue
        if cap is not None and (limit is None or cap < limit):
            limit, why = cap, reason
    return limit, why


def dose_within_maximum(
    drug: Drug, daily: Decimal, populations: frozenset[str], weight_kg: Decimal | None = None
) -> list[Finding]:
    """Never above the label's maximum, including the lower ones for special populations."""
    limit, why = effective_maximum(drug, populations, weight_kg)
    if limit is None or daily <= limit:
        return []
    return [
        Finding(
            "dose.above_maximum",
            "block",
            f"{sentence(drug.name)} {_mg(daily)} exceeds the maximum of {_mg(limit)} ({why}).",
            drug.source("dosing"),
        )
    ]


def dose_within_ceiling(drug: Drug, daily: Decimal) -> list[Finding]:
    """Every drug has a ceiling no patient reaches, even where the label doses by
    serum level or weight (lithium, divalproex): above it the dose is an error."""
    if drug.ceiling_daily is None or daily <= drug.ceiling_daily:
        return []
    return [
        Finding(
            "dose.above_ceiling",
            "block",
            f"{sentence(drug.name)} {_mg(daily)} is above {_mg(drug.ceiling_daily)}, more than "
            "any patient is given; check the amount, the unit and the frequency.",
            drug.source("ceiling"),
        )
    ]


def dose_within_practical_maximum(
    drug: Drug, daily: Decimal, populations: frozenset[str], weight_kg: Decimal | None = None
) -> list[Finding]:
    """Where the label sets no maximum for this patient (dosed by level, or by weight
    not yet recorded), a dose above the practical maximum needs a reason."""
    limit, _ = effective_maximum(drug, populations, weight_kg)
    practical = drug.practical_max_daily
    if limit is not None or practical is None or daily <= practical:
        return []
    return [
        Finding(
            "dose.above_practical_maximum",
            "warn",
            f"{sentence(drug.name)} {_mg(daily)} is above the practical maximum of "
            f"{_mg(practical)}; the label doses it by serum level or weight, so confirm the "
            "dose with a level or a recorded weight.",
            drug.source("ceiling"),
        )
    ]


def single_dose_within_maximum(
    drug: Drug,
    amount: Decimal,
    frequency: str,
    populations: frozenset[str],
    weight_kg: Decimal | None = None,
) -> list[Finding]:
    """A dose taken every other day or weekly is averaged per day for the maximum, but
    the whole amount is taken at once: one administration above the daily maximum is
    usually an error (400 mg of sertraline every other day). Some forms are made for
    it (fluoxetine 90 mg weekly), so it warns rather than blocks.
    """
    limit, why = effective_maximum(drug, populations, weight_kg)
    if limit is None or amount <= limit or daily_amount(amount, frequency) > limit:
        return []  # within it, or already refused by dose.above_maximum
    return [
        Finding(
            "dose.single_above_maximum",
            "warn",
            f"{sentence(drug.name)} {format(amount.normalize(), 'f')} mg taken at once "
            f"({frequency.replace('_', ' ')}) exceeds the daily maximum of {_mg(limit)} "
            f"({why}); confirm the form is made for it.",
            drug.source("dosing"),
        )
    ]


def start_low(drug: Drug, daily: Decimal) -> list[Finding]:
    """Start low: a first dose above the usual starting dose needs a reason."""
    if drug.usual_start is None:
        return []
    usual = daily_amount(drug.usual_start, drug.usual_start_frequency)
    if daily <= usual:
        return []
    return [
        Finding(
            "dose.above_usual_start",
            "warn",
            f"{sentence(drug.name)} starts at {_mg(daily)}; the usual start is {_mg(usual)}.",
            drug.source("dosing"),
        )
    ]


def titration_step(
    drug: Drug, before: Decimal, after: Decimal, days_since_change: int | None
) -> list[Finding]:
    """Go slow: one increase no larger, and no sooner, than the label's usual step."""
    findings: list[Finding] = []
    increase = after - before
    if increase <= 0:
        return findings
    if drug.usual_step is not None and increase > drug.usual_step:
        findings.append(
            Finding(
                "dose.step_above_usual",
                "warn",
                f"{sentence(drug.name)} rises by {_mg(increase)}; the usual step is "
                f"{_mg(drug.usual_step)}.",
                drug.source("dosing"),
            )
        )
    minimum = drug.min_days_between_steps
    if days_since_change is not None and minimum and days_since_change < minimum:
        findings.append(
            Finding(
                "dose.increase_too_soon",
                "warn",
                f"{sentence(drug.name)} was last changed {days_since_change} days ago; "
                f"allow at least {minimum} days between increases.",
                drug.source("dosing"),
            )
        )
    return findings


def patient_populations(
    age: int | None,
    conditions: Iterable[str],
    active: Iterable[Drug],
    others: Iterable[OtherDrug],
) -> frozenset[str]:
    """The formulary's population names that describe this patient right now: their
    age and conditions, and ``with_<group>`` for each interaction group among the
    drugs they take (``with_strong_cyp3a4_inhibitor`` lowers a maximum)."""
    found = set(conditions)
    if "hepatic_impairment_moderate" in found or "hepatic_impairment_severe" in found:
        found |= {"hepatic_impairment", "hepatic_impairment_moderate_severe"}
    if age is not None:
        found |= {"age_over_60"} if age > 60 else set()
        found |= {"age_over_65"} if age > 65 else set()
    active = list(active)
    names = {drug.name for drug in active}
    groups = {group for entry in [*active, *others] for group in entry.groups}
    found |= {f"with_{group}" for group in groups}
    # The lamotrigine label names carbamazepine, phenytoin, phenobarbital, primidone
    # and rifampin: the strong inducers.
    found |= {"with_enzyme_inducer"} if "strong_cyp3a4_inducer" in groups else set()
    found |= {"with_valproate"} if "divalproex" in names else set()
    found |= {"with_fluvoxamine"} if "fluvoxamine" in names else set()
    found |= {"with_ciprofloxacin"} if "fluoroquinolone_cyp1a2" in groups else set()
    return frozenset(found)
