"""Request and response bodies of monitoring: follow-up outcomes, side effects,
adherence, rating scales and lab results.

Strict like ``services.api.schemas`` (unknown fields refused, text trimmed and
bounded); the vocabularies are the domain's, listed here so OpenAPI shows enums.
Instruments and units stay free text here: the domain accepts their common
spellings and refuses the rest with its own codes (``measurement.unknown_instrument``,
``lab.unknown_unit``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from domain.checks import CHECKS
from domain.labs import LAB_TESTS
from domain.monitoring import ADHERENCE, SIDE_EFFECT_ACTIONS, SIDE_EFFECT_SEVERITIES
from domain.scales import SCALES
from services.api.schemas import Command, Instant, Modality, ShortText, Text

Severity = Literal[tuple(sorted(SIDE_EFFECT_SEVERITIES))]  # type: ignore[valid-type]
SideEffectAction = Literal[tuple(sorted(SIDE_EFFECT_ACTIONS))]  # type: ignore[valid-type]
Adherence = Literal[tuple(sorted(ADHERENCE))]  # type: ignore[valid-type]
LabTest = Literal[tuple(sorted(LAB_TESTS))]  # type: ignore[valid-type]
LabValue = Annotated[Decimal, Field(ge=0, le=1000000, max_digits=12, decimal_places=4)]
ItemScore = Annotated[int, Field(ge=0, le=10)]


class MarkFollowUpMissed(Command):
    note: Text | None = Field(default=None, description="What is known (no answer, declined…).")


class CancelFollowUp(Command):
    reason: Text


class RescheduleFollowUp(Command):
    due_on: date
    modality: Modality | None = Field(default=None, description="Unchanged when not given.")
    reason: Text


class ReportSideEffect(Command):
    prescription_id: ShortText | None = Field(
        default=None, description="The prescription suspected, if any."
    )
    description: Text = Field(examples=["nausea in the mornings"])
    severity: Severity
    action: SideEffectAction = Field(
        default="none",
        description="What was done; change the prescription itself with a prescribing command.",
    )


class RecordAdherence(Command):
    prescription_id: ShortText | None = Field(
        default=None, description="An active prescription, or none for all medications."
    )
    adherence: Adherence
    note: Text | None = None


class RecordMeasurement(Command):
    instrument: ShortText = Field(examples=sorted(SCALES))
    total: int | None = Field(default=None, ge=0, le=1000, description="Or give the items.")
    items: list[ItemScore] = Field(
        default_factory=list,
        max_length=50,
        description="Item scores in form order (PHQ-9, GAD-7, PCL-5, AIMS 1-7); not for "
        "licensed instruments (C-SSRS, ASRS, MDQ).",
    )


class RecordLabResult(Command):
    test: LabTest
    value: LabValue = Field(description="A number or a decimal string; stored exactly.")
    unit: ShortText = Field(examples=["mEq/L"], description="One of the units of the test.")
    collected_at: Instant = Field(description="When the sample was collected.")
    reference_low: LabValue | None = Field(
        default=None, description="The laboratory's range; defaults exist for some tests."
    )
    reference_high: LabValue | None = None


class UrgentFinding(BaseModel):
    """Needs action today (self-harm, a critical value): not acknowledged, acted on."""

    code: str
    severity: Literal["urgent"]
    message: str
    source: str


class NoticeOut(BaseModel):
    """What could not be judged (a PHQ-9 item 9 unknown, an allergy not coded): said,
    never silent, and waiting for nothing but the missing fact."""

    code: str
    severity: Literal["warn"]
    message: str
    source: str


def urgent_and_notices(findings: list[Any]) -> dict[str, Any]:
    """A scale's findings as the two lists every answer that records one carries."""
    return {
        "urgent": [UrgentFinding(**vars(f)) for f in findings if f.severity == "urgent"],
        "warnings": [NoticeOut(**vars(f)) for f in findings if f.severity != "urgent"],
    }


class RecordCheck(Command):
    check: Literal[tuple(sorted(CHECKS))]  # type: ignore[valid-type]
    present: bool = Field(description="A rash was found; the patient is pregnant.")
    note: Text | None = None


class CheckRecordedOut(BaseModel):
    check_id: str
    version: int
    urgent: list[UrgentFinding] = Field(description="A positive check on its drug: act today.")


class SideEffectReportedOut(BaseModel):
    side_effect_id: str
    version: int


class MeasurementRecordedOut(BaseModel):
    measurement_id: str
    version: int
    urgent: list[UrgentFinding] = Field(description="Findings that need attention today.")
    warnings: list[NoticeOut] = Field(
        description="What could not be judged: a PHQ-9 given as a total leaves item 9 unknown."
    )


class FollowUpCompletedOut(BaseModel):
    version: int
    urgent: list[UrgentFinding] = Field(
        description="What the visit's scales raised that needs action today (PHQ-9 item 9)."
    )
    warnings: list[NoticeOut] = Field(
        description="What could not be judged: a PHQ-9 given as a total leaves item 9 unknown."
    )


class LabResultRecordedOut(BaseModel):
    lab_result_id: str
    version: int
    urgent: list[UrgentFinding] = Field(description="A critical value: act today.")
