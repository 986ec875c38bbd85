"""The course of care: decisions about whether to prescribe, and benefit-risk reviews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from domain.values import Actor
from services.api import course_schemas as bodies
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, allowed, context
from services.api.problems import PROBLEMS
from services.api.routes.commands import warnings

router = APIRouter(
    prefix="/v1/care-plans", tags=["course of care"], route_class=CommandRoute, responses=PROBLEMS
)

Evaluator = Annotated[Actor, Depends(allowed("evaluation.record"))]
Prescriber = Annotated[Actor, Depends(allowed("prescription.write"))]


@router.post(
    "/{care_plan_id}/treatment-decisions",
    status_code=201,
    response_model=bodies.TreatmentDecisionOut,
)
def record_treatment_decision(
    care_plan_id: str,
    body: bodies.RecordTreatmentDecision,
    careplan: CareplanDep,
    actor: Evaluator,
    request: Request,
) -> bodies.TreatmentDecisionOut:
    """Record that medication is not appropriate now, or that the patient declines or
    defers it, with the reason and what is done instead."""
    result = careplan.app.record_treatment_decision(
        care_plan_id,
        decision=body.decision,
        reason=body.reason,
        alternatives=body.alternatives,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.TreatmentDecisionOut(decision_id=result.created_id, version=result.version)


@router.post(
    "/{care_plan_id}/prescriptions/{prescription_id}/reviews",
    status_code=201,
    response_model=bodies.ReviewedOut,
)
def review_medication(
    care_plan_id: str,
    prescription_id: str,
    body: bodies.ReviewMedication,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> bodies.ReviewedOut:
    """Reassess benefit against risk: continue, adjust, taper or stop; the next review
    comes due by the drug's class (shown in /medications)."""
    result = careplan.app.review_medication(
        care_plan_id,
        prescription_id,
        outcome=body.outcome,
        rationale=body.rationale,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.ReviewedOut(
        review_id=result.created_id, version=result.version, warnings=warnings(result, {})
    )
