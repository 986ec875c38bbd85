"""Commands on a care plan: each route maps its body to values and calls CarePlans once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from domain.scales import MeasurementGiven
from domain.values import (
    Actor,
    Diagnosis,
    Discussion,
    Dose,
    Evaluation,
    FollowUpPlan,
    Functioning,
    TaperStep,
    UseContext,
)
from services.api import monitoring_schemas, schemas
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, allowed, context
from services.api.problems import PROBLEMS
from services.application import CommandResult

router = APIRouter(
    prefix="/v1/care-plans", tags=["commands"], route_class=CommandRoute, responses=PROBLEMS
)

Opener = Annotated[Actor, Depends(allowed("care_plan.open"))]
Evaluator = Annotated[Actor, Depends(allowed("evaluation.record"))]
Prescriber = Annotated[Actor, Depends(allowed("prescription.write"))]
Scheduler = Annotated[Actor, Depends(allowed("follow_up.schedule"))]
Completer = Annotated[Actor, Depends(allowed("follow_up.complete"))]


def dose(body: schemas.DoseIn) -> Dose:
    return Dose(body.amount, body.unit)


def follow_up(body: schemas.FollowUpIn | None) -> FollowUpPlan | None:
    return None if body is None else FollowUpPlan(body.due_on, body.modality, body.purpose)


def taper_steps(given: list[schemas.TaperStepIn]) -> list[TaperStep]:
    return [TaperStep(step.starts_on, dose(step.dose)) for step in given]


def acknowledgements(given: list[schemas.Acknowledgement]) -> dict[str, str]:
    return {a.code: a.justification for a in given}


def warnings(result: CommandResult, acknowledged: dict[str, str]) -> list[schemas.FindingOut]:
    return [
        schemas.FindingOut(**vars(finding), acknowledged=finding.code in acknowledged)
        for finding in result.warnings
    ]


def use_context(body: schemas.UseIn) -> UseContext:
    return UseContext(body.form, body.indication_code, body.setting)


def discussion(body: schemas.DiscussionIn | None) -> Discussion | None:
    if body is None:
        return None
    return Discussion(
        options_considered=tuple(body.options_considered),
        expected_benefit=body.expected_benefit,
        side_effects_discussed=tuple(body.side_effects_discussed),
        timeline=body.timeline,
        decision=body.decision,
        decided_by=body.decided_by,
        boxed_warning_discussed=body.boxed_warning_discussed,
        monitoring_agreed=body.monitoring_agreed,
        controlled_substance_agreement=body.controlled_substance_agreement,
    )


@router.post("", status_code=201, response_model=schemas.Opened)
def open_care_plan(
    body: schemas.OpenCarePlan,
    careplan: CareplanDep,
    actor: Opener,
    request: Request,
    response: Response,
) -> schemas.Opened:
    """Open a care plan for a patient."""
    ctx = context(actor, request, body.occurred_at)
    result = careplan.app.open_care_plan(body.patient_id, ctx, body.birth_date)
    response.headers["Location"] = f"/v1/care-plans/{result.care_plan_id}"
    return schemas.Opened(care_plan_id=str(result.care_plan_id), version=result.version)


@router.post(
    "/{care_plan_id}/evaluations",
    status_code=201,
    response_model=schemas.EvaluationRecordedOut,
)
def record_evaluation(
    care_plan_id: str,
    body: schemas.RecordEvaluation,
    careplan: CareplanDep,
    actor: Evaluator,
    request: Request,
) -> schemas.EvaluationRecordedOut:
    """Record an initial evaluation or a reassessment.

    The medications already prescribed are judged again against what it found (a
    condition or a drug taken elsewhere can lower a maximum or bring an interaction):
    what became unsafe is listed under ``flagged`` and waits for acknowledgement.
    """
    evaluation = Evaluation(
        kind=body.kind,
        modality=body.modality,
        diagnoses=tuple(
            Diagnosis(
                d.code, d.display or careplan.app.diagnosis_display(d.code, d.system), d.system
            )
            for d in body.diagnoses
        ),
        symptoms=tuple(body.symptoms),
        current_medications=tuple(body.current_medications),
        supplements=tuple(body.supplements),
        allergies=tuple(body.allergies),
        duration=body.duration,
        functional_impact=body.functional_impact,
        history=body.history,
        sleep=body.sleep,
        stress=body.stress,
        substance_use=body.substance_use,
        conditions=frozenset(body.conditions),
        resolved_conditions=frozenset(body.resolved_conditions),
        weight_kg=body.weight_kg,
        birth_date=body.birth_date,
        functioning=Functioning(**body.functioning.model_dump()) if body.functioning else None,
    )
    ctx = context(actor, request, body.occurred_at)
    result = careplan.app.record_evaluation(care_plan_id, evaluation, ctx)
    return schemas.EvaluationRecordedOut(
        version=result.version,
        flagged=[
            schemas.FlaggedPrescription(
                prescription_id=prescription_id,
                warnings=[schemas.FindingOut(**vars(f), acknowledged=False) for f in found],
            )
            for prescription_id, found in result.flagged.items()
        ],
        warnings=[schemas.EvaluationNotice(**vars(f)) for f in result.warnings],
    )


@router.post("/{care_plan_id}/prescriptions", status_code=201, response_model=schemas.Prescribed)
def prescribe(
    care_plan_id: str,
    body: schemas.Prescribe,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> schemas.Prescribed:
    """Prescribe a medication, with its first follow-up."""
    acknowledged = acknowledgements(body.acknowledgements)
    result = careplan.app.prescribe(
        care_plan_id,
        drug=body.drug,
        dose=dose(body.dose),
        frequency=body.frequency,
        route=body.route,
        indication=body.indication,
        follow_up=follow_up(body.follow_up),
        ctx=context(actor, request, body.occurred_at),
        acknowledgements=acknowledged,
        refills=body.refills,
        use=use_context(body),
        discussion=discussion(body.discussion),
    )
    assert result.created_id is not None
    return schemas.Prescribed(
        prescription_id=result.created_id,
        version=result.version,
        warnings=warnings(result, acknowledged),
    )


@router.post(
    "/{care_plan_id}/prescriptions/{prescription_id}/dose-changes",
    status_code=201,
    response_model=schemas.Checked,
)
def change_dose(
    care_plan_id: str,
    prescription_id: str,
    body: schemas.ChangeDose,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> schemas.Checked:
    """Increase or decrease the dose of an active prescription."""
    acknowledged = acknowledgements(body.acknowledgements)
    result = careplan.app.change_dose(
        care_plan_id,
        prescription_id,
        dose=dose(body.dose),
        reason=body.reason,
        follow_up=follow_up(body.follow_up),
        ctx=context(actor, request, body.occurred_at),
        acknowledgements=acknowledged,
    )
    return schemas.Checked(version=result.version, warnings=warnings(result, acknowledged))


@router.post("/{care_plan_id}/acknowledgements", status_code=201, response_model=schemas.Recorded)
def acknowledge_warning(
    care_plan_id: str,
    body: schemas.AcknowledgeWarning,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> schemas.Recorded:
    """Acknowledge a pending safety warning, with the clinical justification."""
    ctx = context(actor, request, body.occurred_at)
    result = careplan.app.acknowledge_warning(
        care_plan_id, body.subject_id, body.code, body.justification, ctx
    )
    return schemas.Recorded(version=result.version)


@router.post(
    "/{care_plan_id}/prescriptions/{prescription_id}/discontinuation",
    status_code=201,
    response_model=schemas.Checked,
)
def discontinue(
    care_plan_id: str,
    prescription_id: str,
    body: schemas.Discontinue,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> schemas.Checked:
    """Stop a prescription, with a coded reason (a drug that needs a taper: taper it)."""
    acknowledged = acknowledgements(body.acknowledgements)
    result = careplan.app.discontinue(
        care_plan_id,
        prescription_id,
        reason=body.reason,
        reason_code=body.reason_code,
        ctx=context(actor, request, body.occurred_at),
        acknowledgements=acknowledged,
    )
    return schemas.Checked(version=result.version, warnings=warnings(result, acknowledged))


@router.post(
    "/{care_plan_id}/prescriptions/{prescription_id}/taper",
    status_code=201,
    response_model=schemas.Checked,
)
def start_taper(
    care_plan_id: str,
    prescription_id: str,
    body: schemas.StartTaper,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> schemas.Checked:
    """Plan a taper as dated steps; record each step taken as a dose change."""
    acknowledged = acknowledgements(body.acknowledgements)
    result = careplan.app.start_taper(
        care_plan_id,
        prescription_id,
        steps=taper_steps(body.steps),
        reason=body.reason,
        ctx=context(actor, request, body.occurred_at),
        acknowledgements=acknowledged,
    )
    return schemas.Checked(version=result.version, warnings=warnings(result, acknowledged))


@router.post(
    "/{care_plan_id}/prescriptions/{prescription_id}/switch",
    status_code=201,
    response_model=schemas.Prescribed,
)
def switch(
    care_plan_id: str,
    prescription_id: str,
    body: schemas.Switch,
    careplan: CareplanDep,
    actor: Prescriber,
    request: Request,
) -> schemas.Prescribed:
    """Switch to another drug: direct, by cross-taper, or after a washout."""
    acknowledged = acknowledgements(body.acknowledgements)
    result = careplan.app.switch(
        care_plan_id,
        prescription_id,
        strategy=body.strategy,
        reason=body.reason,
        drug=body.drug,
        dose=dose(body.dose),
        frequency=body.frequency,
        route=body.route,
        indication=body.indication,
        follow_up=follow_up(body.follow_up),
        taper=taper_steps(body.taper),
        washout_days=body.washout_days,
        ctx=context(actor, request, body.occurred_at),
        acknowledgements=acknowledged,
        use=use_context(body),
        discussion=discussion(body.discussion),
    )
    assert result.created_id is not None
    return schemas.Prescribed(
        prescription_id=result.created_id,
        version=result.version,
        warnings=warnings(result, acknowledged),
    )


@router.post(
    "/{care_plan_id}/follow-ups", status_code=201, response_model=schemas.FollowUpScheduledOut
)
def schedule_follow_up(
    care_plan_id: str,
    body: schemas.ScheduleFollowUp,
    careplan: CareplanDep,
    actor: Scheduler,
    request: Request,
) -> schemas.FollowUpScheduledOut:
    """Schedule a follow-up visit or contact (further apart once the patient is stable)."""
    plan = FollowUpPlan(body.due_on, body.modality, body.purpose)
    ctx = context(actor, request, body.occurred_at)
    acknowledged = acknowledgements(body.acknowledgements)
    result = careplan.app.schedule_follow_up(care_plan_id, plan, ctx, acknowledged)
    assert result.created_id is not None
    return schemas.FollowUpScheduledOut(
        follow_up_id=result.created_id,
        version=result.version,
        warnings=warnings(result, acknowledged),
    )


@router.post(
    "/{care_plan_id}/follow-ups/{follow_up_id}/completion",
    status_code=201,
    response_model=monitoring_schemas.FollowUpCompletedOut,
)
def complete_follow_up(
    care_plan_id: str,
    follow_up_id: str,
    body: schemas.CompleteFollowUp,
    careplan: CareplanDep,
    actor: Completer,
    request: Request,
) -> monitoring_schemas.FollowUpCompletedOut:
    """Record a completed follow-up: scales (totals or items), side effects, adherence.

    What the scales raise comes back at once, as from ``/measurements``: a positive
    PHQ-9 item 9 in ``urgent``; a PHQ-9 given as a total leaves item 9 unknown (``warnings``).
    """
    result = careplan.app.complete_follow_up(
        care_plan_id,
        follow_up_id,
        modality=body.modality,
        measurements=[
            MeasurementGiven(m.instrument, m.total, tuple(m.items)) for m in body.measurements
        ],
        side_effects=list(body.side_effects),
        adherence=body.adherence,
        ctx=context(actor, request, body.occurred_at),
    )
    return monitoring_schemas.FollowUpCompletedOut(
        version=result.version, **monitoring_schemas.urgent_and_notices(result.warnings)
    )
