"""Routes for the monitoring part of the care plan: follow-ups missed, cancelled or
rescheduled; side effects, adherence, rating scales and lab results. Each calls
CarePlans once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from domain.values import Actor
from services.api import monitoring_schemas as bodies
from services.api import schemas
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, allowed, context
from services.api.problems import PROBLEMS

router = APIRouter(
    prefix="/v1/care-plans", tags=["commands"], route_class=CommandRoute, responses=PROBLEMS
)

FollowUpManager = Annotated[Actor, Depends(allowed("follow_up.manage"))]
Recorder = Annotated[Actor, Depends(allowed("monitoring.record"))]


@router.post(
    "/{care_plan_id}/follow-ups/{follow_up_id}/missed",
    status_code=201,
    response_model=schemas.Recorded,
)
def mark_follow_up_missed(
    care_plan_id: str,
    follow_up_id: str,
    body: bodies.MarkFollowUpMissed,
    careplan: CareplanDep,
    actor: FollowUpManager,
    request: Request,
) -> schemas.Recorded:
    """The patient did not attend a follow-up (from its due date on)."""
    result = careplan.app.mark_follow_up_missed(
        care_plan_id, follow_up_id, note=body.note, ctx=context(actor, request, body.occurred_at)
    )
    return schemas.Recorded(version=result.version)


@router.post(
    "/{care_plan_id}/follow-ups/{follow_up_id}/cancellation",
    status_code=201,
    response_model=schemas.Recorded,
)
def cancel_follow_up(
    care_plan_id: str,
    follow_up_id: str,
    body: bodies.CancelFollowUp,
    careplan: CareplanDep,
    actor: FollowUpManager,
    request: Request,
) -> schemas.Recorded:
    """Call off a pending follow-up, with the reason."""
    result = careplan.app.cancel_follow_up(
        care_plan_id,
        follow_up_id,
        reason=body.reason,
        ctx=context(actor, request, body.occurred_at),
    )
    return schemas.Recorded(version=result.version)


@router.post(
    "/{care_plan_id}/follow-ups/{follow_up_id}/rescheduling",
    status_code=201,
    response_model=schemas.Recorded,
)
def reschedule_follow_up(
    care_plan_id: str,
    follow_up_id: str,
    body: bodies.RescheduleFollowUp,
    careplan: CareplanDep,
    actor: FollowUpManager,
    request: Request,
) -> schemas.Recorded:
    """Move a pending follow-up to a new date (and modality); it stays pending."""
    result = careplan.app.reschedule_follow_up(
        care_plan_id,
        follow_up_id,
        due_on=body.due_on,
        modality=body.modality,
        reason=body.reason,
        ctx=context(actor, request, body.occurred_at),
    )
    return schemas.Recorded(version=result.version)


@router.post(
    "/{care_plan_id}/side-effects", status_code=201, response_model=bodies.SideEffectReportedOut
)
def report_side_effect(
    care_plan_id: str,
    body: bodies.ReportSideEffect,
    careplan: CareplanDep,
    actor: Recorder,
    request: Request,
) -> bodies.SideEffectReportedOut:
    """Record a side effect the patient reports: how severe, and what was done."""
    result = careplan.app.report_side_effect(
        care_plan_id,
        description=body.description,
        severity=body.severity,
        action=body.action,
        prescription_id=body.prescription_id,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.SideEffectReportedOut(side_effect_id=result.created_id, version=result.version)


@router.post("/{care_plan_id}/adherence", status_code=201, response_model=schemas.Recorded)
def record_adherence(
    care_plan_id: str,
    body: bodies.RecordAdherence,
    careplan: CareplanDep,
    actor: Recorder,
    request: Request,
) -> schemas.Recorded:
    """Record whether the patient takes a medication (or all of them) as prescribed."""
    result = careplan.app.record_adherence(
        care_plan_id,
        adherence=body.adherence,
        prescription_id=body.prescription_id,
        note=body.note,
        ctx=context(actor, request, body.occurred_at),
    )
    return schemas.Recorded(version=result.version)


@router.post(
    "/{care_plan_id}/measurements", status_code=201, response_model=bodies.MeasurementRecordedOut
)
def record_measurement(
    care_plan_id: str,
    body: bodies.RecordMeasurement,
    careplan: CareplanDep,
    actor: Recorder,
    request: Request,
) -> bodies.MeasurementRecordedOut:
    """Record a rating scale as a total or item scores; urgent findings come back at once
    (a positive PHQ-9 item 9), and a PHQ-9 given as a total says item 9 is unknown."""
    result = careplan.app.record_measurement(
        care_plan_id,
        instrument=body.instrument,
        total=body.total,
        items=body.items,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.MeasurementRecordedOut(
        measurement_id=result.created_id,
        version=result.version,
        **bodies.urgent_and_notices(result.warnings),
    )


@router.post("/{care_plan_id}/checks", status_code=201, response_model=bodies.CheckRecordedOut)
def record_check(
    care_plan_id: str,
    body: bodies.RecordCheck,
    careplan: CareplanDep,
    actor: Recorder,
    request: Request,
) -> bodies.CheckRecordedOut:
    """Record a clinical check (rash, pregnancy status); a positive one on its drug is urgent."""
    result = careplan.app.record_check(
        care_plan_id,
        check=body.check,
        present=body.present,
        note=body.note,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.CheckRecordedOut(
        check_id=result.created_id,
        version=result.version,
        urgent=[bodies.UrgentFinding(**vars(finding)) for finding in result.warnings],
    )


@router.post(
    "/{care_plan_id}/lab-results", status_code=201, response_model=bodies.LabResultRecordedOut
)
def record_lab_result(
    care_plan_id: str,
    body: bodies.RecordLabResult,
    careplan: CareplanDep,
    actor: Recorder,
    request: Request,
) -> bodies.LabResultRecordedOut:
    """Record a lab result or vital sign; it is flagged against its reference range."""
    result = careplan.app.record_lab_result(
        care_plan_id,
        test=body.test,
        value=body.value,
        unit=body.unit,
        collected_at=body.collected_at,
        reference_low=body.reference_low,
        reference_high=body.reference_high,
        ctx=context(actor, request, body.occurred_at),
    )
    assert result.created_id is not None
    return bodies.LabResultRecordedOut(
        lab_result_id=result.created_id,
        version=result.version,
        urgent=[bodies.UrgentFinding(**vars(finding)) for finding in result.warnings],
    )
