"""Request and response bodies of the course of care: decisions about medication and
benefit-risk reviews (strict, like ``services.api.schemas``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from services.api.schemas import Command, FindingOut, ShortText, Text


class RecordTreatmentDecision(Command):
    decision: Literal["medication_not_indicated", "medication_declined", "medication_deferred"]
    reason: Text
    alternatives: list[ShortText] = Field(
        default_factory=list, max_length=20, examples=[["CBT referral", "review in 4 weeks"]]
    )


class ReviewMedication(Command):
    outcome: Literal["continue", "adjust", "taper", "stop"]
    rationale: Text


class TreatmentDecisionOut(BaseModel):
    decision_id: str
    version: int


class ReviewedOut(BaseModel):
    review_id: str
    version: int
    warnings: list[FindingOut] = Field(
        description="What the scores say: no improvement after an adequate trial, a response "
        "lost, remission held long enough to discuss tapering."
    )
