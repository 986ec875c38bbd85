"""Who may prescribe what, and how: professional scope and controlled substances.

A physician assistant prescribes under a named supervising psychiatrist;
primary care usually keeps to simpler, stable cases; Schedule II cannot be
refilled; telehealth prescribing of controlled substances without an in-person
evaluation follows the DEA rule, held as data with its end date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.formulary import Drug
from domain.regulations import Regulations
from domain.safety import Finding, sentence
from domain.values import Actor

SPECIALIST_DRUGS = frozenset({"clozapine", "lithium"})
SUPERVISION_SOURCE = (
    "State physician assistant practice acts and medical board rules: a PA prescribes under "
    "a supervision or collaboration agreement naming the physician (AAPA, 2024 summary)"
)
SPECIALIST_SOURCE = (
    "Clozapine US prescribing information, section 5 (severe neutropenia: ANC monitoring); "
    "lithium carbonate US prescribing information, boxed warning (toxicity: serum levels); "
    "APA Practice Guideline for the Treatment of Patients With Schizophrenia, 3rd ed., 2020 "
    "(clozapine in treatment-resistant schizophrenia)"
)


def prescriber_scope(actor: Actor, drug: Drug) -> list[Finding]:
    if actor.profession == "physician_assistant" and not actor.supervisor_id:
        return [
            Finding(
                "prescriber.supervisor_required",
                "block",
                "A physician assistant prescribes under a named supervising psychiatrist; "
                "the token must carry the supervisor's id.",
                SUPERVISION_SOURCE,
            )
        ]
    if actor.profession == "primary_care" and drug.name in SPECIALIST_DRUGS:
        return [
            Finding(
                "prescriber.specialist_drug",
                "warn",
                f"{sentence(drug.name)} is usually started by psychiatry; consider a referral.",
                SPECIALIST_SOURCE,
            )
        ]
    return []


def refills_allowed(drug: Drug, refills: int, regulations: Regulations) -> list[Finding]:
    limit = regulations.refill_limit(drug.schedule) if drug.is_controlled else None
    if limit is None or refills <= limit.max_refills:
        return []
    return [
        Finding(
            "controlled.refills_exceeded",
            "block",
            f"{sentence(drug.name)} is Schedule {drug.schedule}: at most "
            f"{limit.max_refills} refills.",
            limit.source,
        )
    ]


def telemedicine(
    drug: Drug,
    evaluation_modalities: Sequence[str],
    at: datetime,
    regulations: Regulations,
) -> list[Finding]:
    """A controlled substance without any in-person evaluation: the DEA rule decides."""
    if not drug.is_controlled or "in_person" in evaluation_modalities:
        return []
    flexibility = regulations.telemedicine_flexibility(drug.schedule)
    if flexibility is not None and at.date() <= flexibility.until:
        return [
            Finding(
                "controlled.telemedicine_flexibility",
                "warn",
                f"{sentence(drug.name)} (Schedule {drug.schedule}) without an in-person "
                "evaluation relies "
                f"on the temporary telemedicine flexibility, which ends {flexibility.until}.",
                flexibility.source,
            )
        ]
    return [
        Finding(
            "controlled.in_person_evaluation_required",
            "block",
            f"{sentence(drug.name)} (Schedule {drug.schedule}) needs an in-person evaluation "
            "first.",
            flexibility.source if flexibility else "Ryan Haight Act, 21 U.S.C. 829(e)",
        )
    ]
