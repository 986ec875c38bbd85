"""Request and response bodies of record keeping: referrals, care team, corrections, closing.

Strict like ``services.api.schemas`` (unknown fields refused, text trimmed and
bounded); the vocabularies are the domain's, listed here so OpenAPI shows enums.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from domain.record_rules import (
    CARE_TEAM_CHANGES,
    CARE_TEAM_ROLES,
    CLOSURE_REASONS,
    REFERRAL_URGENCIES,
    THERAPIES,
)
from services.api.schemas import Command, ShortText, Text

Therapy = Literal[tuple(sorted(THERAPIES))]  # type: ignore[valid-type]
Urgency = Literal[tuple(sorted(REFERRAL_URGENCIES))]  # type: ignore[valid-type]
RoleInCare = Literal[tuple(sorted(CARE_TEAM_ROLES))]  # type: ignore[valid-type]
CareTeamChange = Literal[tuple(sorted(CARE_TEAM_CHANGES))]  # type: ignore[valid-type]
ClosureReason = Literal[tuple(sorted(CLOSURE_REASONS))]  # type: ignore[valid-type]


class ReferToTherapy(Command):
    therapy: Therapy
    to_whom: ShortText = Field(description="The service or therapist referred to.")
    reason: Text
    urgency: Urgency


class ReferralMadeOut(BaseModel):
    referral_id: str
    version: int


class ChangeCareTeam(Command):
    member_id: ShortText
    role_in_care: RoleInCare
    change: CareTeamChange
    name: ShortText | None = None
    supervisor_id: ShortText | None = Field(
        default=None, description="Required for a physician assistant joining."
    )


class MarkEntryInError(Command):
    version: int = Field(
        ge=1, le=2**31 - 1, description="The plan's version (history entry) being corrected."
    )
    reason: Text


class ClosePlan(Command):
    reason: ClosureReason = Field(
        description="With active prescriptions only transferred, patient_moved or deceased."
    )
    note: Text | None = Field(default=None, description="Required when the reason is other.")


class CareTeamMemberOut(BaseModel):
    member_id: str
    role_in_care: str
    name: str | None
    supervisor_id: str | None
    joined_at: datetime


class CareTeamOut(BaseModel):
    care_plan_id: str
    members: list[CareTeamMemberOut]
