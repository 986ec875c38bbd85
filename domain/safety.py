"""Clinical and workflow rules as pure functions over a care plan's state.

Each rule returns findings instead of raising, so the caller decides: a ``block``
finding refuses the command, a ``warn`` finding travels back to the prescriber.
Rules run before an event is triggered, never inside ``apply``: replaying history
must not re-judge it by today's rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from domain.errors import RuleViolation

if TYPE_CHECKING:
    from domain.care_plan import FollowUp, Prescription

Severity = Literal["block", "warn"]

WORKFLOW_SOURCE = "Careplan workflow (CLINICAL.md: the process the backend supports)"


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
            WORKFLOW_SOURCE,
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
                    f"{drug} is already prescribed ({rx.prescription_id}); "
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
            "CLINICAL.md: follow-up is planned from the start (APA practice guideline)",
        )
    ]


def refuse_blocking(findings: Iterable[Finding]) -> list[Finding]:
    """Raise on the first blocking finding; hand back the warnings for the caller."""
    findings = list(findings)
    for finding in findings:
        if finding.severity == "block":
            raise RuleViolation(finding.code, finding.message, finding.source)
    return findings
