"""Routes for the record keeping part of the care plan: therapy referrals, the care
team, entries marked in error, and closing the plan. Each calls CarePlans once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from domain.values import Actor
from services.api import record_keeping_schemas as bodies
from services.api import schemas
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, allowed, context
from services.api.problems import PROBLEMS

router = APIRouter(
    prefix="/v1/care-plans", tags=["commands"], route_class=CommandRoute, responses=PROBLEMS
)

Referrer = Annotated[Actor, Depends(allowed("therapy_referral.make"))]
TeamKeeper = Annotated[Actor, Depends(allowed("care_team.change"))]
Corrector = Annotated[Actor, Depends(allowed("entry.mark_in_error"))]
Closer = Annotated[Actor, Depends(allowed("care_plan.close"))]
PlanReader = Annotated[Actor, Depends(allowed("care_plan.read"))]


@router.post(
    "/{care_plan_id}/therapy-referrals", status_code=201, response_model=bodies.ReferralMadeOut
)
def refer_to_therapy(
    care_plan_id: str,
    body: bodies.ReferToTherapy,
    careplan: CareplanDep,
    actor: Referrer,
    request: Request,
) -> bodies.ReferralMadeOut:
    """Refer the patient for therapy alongside medication."""
    result = careplan.app.refer_to_therapy(
        care_plan_id,
        therapy=body.therapy,
        to_whom=body.to_whom,
        reason=body.reason,
        urgency=body.urgency,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.ReferralMadeOut(referral_id=result.created_id, version=result.version)


@router.post("/{care_plan_id}/care-team", status_code=201, response_model=schemas.Recorded)
def change_care_team(
    care_plan_id: str,
    body: bodies.ChangeCareTeam,
    careplan: CareplanDep,
    actor: TeamKeeper,
    request: Request,
) -> schemas.Recorded:
    """Someone joins the care team in a role, or leaves it."""
    result = careplan.app.change_care_team(
        care_plan_id,
        member_id=body.member_id,
        role_in_care=body.role_in_care,
        change=body.change,
        name=body.name,
        supervisor_id=body.supervisor_id,
        ctx=context(actor, request, body.occurred_at),
    )
    return schemas.Recorded(version=result.version)


@router.get("/{care_plan_id}/care-team", response_model=bodies.CareTeamOut, tags=["queries"])
def read_care_team(
    care_plan_id: str, careplan: CareplanDep, actor: PlanReader
) -> bodies.CareTeamOut:
    """Who cares for the patient now, in which role (from the event store)."""
    plan = careplan.app.care_plan(care_plan_id)
    return bodies.CareTeamOut(
        care_plan_id=str(plan.id),
        members=[bodies.CareTeamMemberOut(**vars(member)) for member in plan.care_team.values()],
    )


@router.post("/{care_plan_id}/entries-in-error", status_code=201, response_model=schemas.Recorded)
def mark_entry_in_error(
    care_plan_id: str,
    body: bodies.MarkEntryInError,
    careplan: CareplanDep,
    actor: Corrector,
    request: Request,
) -> schemas.Recorded:
    """Mark an earlier entry as entered in error: it stays in the record, marked, with why."""
    result = careplan.app.mark_entry_in_error(
        care_plan_id,
        version=body.version,
        reason=body.reason,
        ctx=context(actor, request, body.occurred_at),
    )
    return schemas.Recorded(version=result.version)


@router.post("/{care_plan_id}/closure", status_code=201, response_model=schemas.Recorded)
def close_care_plan(
    care_plan_id: str,
    body: bodies.ClosePlan,
    careplan: CareplanDep,
    actor: Closer,
    request: Request,
) -> schemas.Recorded:
    """Close the plan; pending follow-ups are cancelled with it."""
    result = careplan.app.close_care_plan(
        care_plan_id,
        reason=body.reason,
        note=body.note,
        ctx=context(actor, request, body.occurred_at),
    )
    return schemas.Recorded(version=result.version)
