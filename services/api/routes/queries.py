"""Reads: the plan itself, its current medications, its history, the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import takewhile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from domain.care_plan import CarePlan, canonical_plan_id
from domain.care_plan import care_plan_id as parse_plan_id
from domain.values import Actor, require_identifier
from projections.audit_trail import audit_entries, decode_cursor, encode_cursor
from projections.current_medications import active_medications, medications_of
from projections.versions import version_at
from services.api import schemas
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, PermittedCaller, allowed
from services.api.errors import ApiError
from services.api.problems import PROBLEMS
from services.api.schemas import Instant
from services.bootstrap import Careplan
from services.event_json import history_entry
from services.tokens import Caller

router = APIRouter(tags=["queries"], route_class=CommandRoute, responses=PROBLEMS)

PlanReader = Annotated[Actor, Depends(allowed("care_plan.read"))]
PlanLister = Annotated[Caller, Depends(PermittedCaller("care_plan.read"))]
MedicationReader = Annotated[Actor, Depends(allowed("medications.read"))]
HistoryReader = Annotated[Actor, Depends(allowed("history.read"))]
AuditReader = Annotated[Actor, Depends(allowed("audit.read"))]
AsOf = Annotated[
    Instant | None,
    Query(
        description="Recording time (ISO, with a zone): the answer as the record stood then, "
        "as it was known; clinical time (occurred_at) of late entries does not move it."
    ),
]


def dose_out(amount: Any, unit: str) -> schemas.DoseOut:
    return schemas.DoseOut(amount=str(amount), unit=unit)


def plan_out(plan: CarePlan) -> schemas.CarePlanOut:
    return schemas.CarePlanOut(
        care_plan_id=str(plan.id),
        patient_id=plan.patient_id,
        birth_date=plan.birth_date,
        status=plan.status,
        version=plan.version,
        opened_at=plan.opened_at,
        opened_by=plan.opened_by.id,
        has_initial_evaluation=plan.has_initial_evaluation,
        prescriptions=[
            schemas.PlanPrescriptionOut(
                prescription_id=rx.prescription_id,
                drug=rx.drug,
                dose=dose_out(rx.dose.amount, rx.dose.unit),
                frequency=rx.frequency,
                route=rx.route,
                indication=rx.indication,
                form=rx.use.form,
                indication_code=rx.use.indication_code,
                setting=rx.use.setting,
                status=rx.status,
                started_at=rx.started_at,
                prescriber=rx.prescriber.id,
                review_due_on=rx.review_due_on if rx.is_active else None,
                discussed=rx.discussion is not None,
            )
            for rx in plan.prescriptions.values()
        ],
        treatment_decisions=[
            schemas.TreatmentDecisionView(
                decision_id=d.decision_id,
                decision=d.decision,
                reason=d.reason,
                alternatives=d.alternatives,
                decided_at=d.decided_at,
                decided_by=d.decided_by,
            )
            for d in plan.treatment_decisions
            if not plan.is_in_error(d.version)
        ],
        follow_ups=[
            schemas.FollowUpOut(
                follow_up_id=f.follow_up_id,
                due_on=f.due_on,
                modality=f.modality,
                purpose=f.purpose,
                status=f.status,
                prescription_id=f.prescription_id,
            )
            for f in plan.follow_ups.values()
        ],
        pending_acknowledgements=[
            schemas.PendingAcknowledgement(subject_id=subject, **vars(finding))
            for (subject, _), finding in plan.pending_acknowledgements.items()
        ],
    )


@router.get("/v1/care-plans", response_model=schemas.PatientPlans)
def plans_of_patient(
    careplan: CareplanDep,
    caller: PlanLister,
    patient_id: Annotated[str, Query(min_length=1, max_length=200, description="Patient id")],
) -> schemas.PatientPlans:
    """A patient's care plans (open first), those of the caller's care teams only."""
    patient = require_identifier(patient_id, "patient.invalid", "Patient id")
    plans = careplan.plans_of_patient(patient)
    return schemas.PatientPlans(
        patient_id=patient,
        plans=[
            schemas.PatientPlan(care_plan_id=plan["care_plan_id"], status=plan["status"])
            for plan in plans
            if caller.may_see(plan["care_plan_id"])
        ],
    )


@router.get("/v1/care-plans/{care_plan_id}", response_model=schemas.CarePlanOut)
def read_care_plan(
    care_plan_id: str, careplan: CareplanDep, actor: PlanReader
) -> schemas.CarePlanOut:
    """The care plan as it stands: prescriptions and follow-ups, from the event store."""
    return plan_out(careplan.app.care_plan(care_plan_id))


@router.get("/v1/care-plans/{care_plan_id}/medications", response_model=schemas.Medications)
def read_medications(
    care_plan_id: str, careplan: CareplanDep, actor: MedicationReader, as_of: AsOf = None
) -> schemas.Medications:
    """The medications a plan's patient takes now (current-medications view), or, with
    ``as_of``, took as the record stood then (the plan replayed to that version)."""
    plan_id = str(parse_plan_id(care_plan_id))
    if as_of is not None:
        version = version_as_of(careplan, plan_id, as_of)
        rows = medications_of(careplan.app.care_plan(plan_id, version=version))
        return schemas.Medications(
            care_plan_id=plan_id,
            medications=medications_out(rows, as_of.date()),
            as_of=as_of,
            version=version,
        )
    rows = active_medications(careplan.views, plan_id)
    if not rows:
        careplan.app.ensure_exists(plan_id)  # an unknown plan is a 404, not an empty list
    return schemas.Medications(
        care_plan_id=plan_id, medications=medications_out(rows, datetime.now(UTC).date())
    )


def medications_out(rows: list[dict[str, Any]], on: date) -> list[schemas.MedicationOut]:
    """The rows as the API answers them; a review due before ``on`` is overdue."""
    return [
        schemas.MedicationOut(
            prescription_id=row["prescription_id"],
            drug=row["drug"],
            dose=dose_out(row["dose_amount"], row["dose_unit"]),
            frequency=row["frequency"],
            route=row["route"],
            indication=row["indication"],
            status=row["status"],
            started_at=row["started_at"],
            last_changed_at=row["last_changed_at"],
            last_changed_by=row["last_changed_by"],
            prescriber=row["prescriber_id"],
            next_follow_up=row["next_follow_up"],
            pending_acknowledgements=row["pending_acknowledgements"],
            review_due_on=row.get("review_due_on"),
            review_overdue=_before(row.get("review_due_on"), on),
        )
        for row in rows
    ]


def _before(due: str | None, on: date) -> bool | None:
    return None if due is None else date.fromisoformat(str(due)) < on


def version_as_of(careplan: Careplan, plan_id: str, as_of: datetime) -> int:
    """The plan's version recorded by ``as_of`` (time → version index); 404 before it."""
    version = version_at(careplan.views, plan_id, as_of)
    if version is None:
        careplan.app.ensure_exists(plan_id)  # no such plan at all: the usual 404
        raise ApiError(
            404,
            "care_plan.not_found",
            f"Care plan {plan_id} had not been recorded by {as_of.isoformat()}.",
        )
    return version


@router.get("/v1/care-plans/{care_plan_id}/history", response_model=schemas.History)
def read_history(
    care_plan_id: str, careplan: CareplanDep, actor: HistoryReader, as_of: AsOf = None
) -> schemas.History:
    """Every event of the plan in order, read from the event store itself; with
    ``as_of``, the events recorded by then."""
    plan_id = str(parse_plan_id(care_plan_id))
    events = careplan.app.history(plan_id)
    if as_of is not None:
        last = version_as_of(careplan, plan_id, as_of)
        events = takewhile(lambda event: event.originator_version <= last, events)
    return schemas.History(
        care_plan_id=plan_id,
        events=[schemas.HistoryEntry(**history_entry(event)) for event in events],
        as_of=as_of,
    )


@router.get("/v1/audit", response_model=schemas.AuditPage)
def read_audit_trail(
    careplan: CareplanDep,
    actor: AuditReader,
    care_plan_id: Annotated[
        str | None, Query(max_length=64, pattern=schemas.NO_CONTROL_CHARACTERS)
    ] = None,
    actor_id: Annotated[
        str | None, Query(max_length=200, pattern=schemas.NO_CONTROL_CHARACTERS)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> schemas.AuditPage:
    """Who did what and when, newest last; follow ``next_cursor`` for more."""
    try:
        after = decode_cursor(cursor) if cursor else 0
    except ValueError:
        raise ApiError(
            422, "audit.invalid_cursor", "The cursor is not one this API gave."
        ) from None
    plan_id = canonical_plan_id(care_plan_id) if care_plan_id else None
    rows, next_position = audit_entries(
        careplan.views, care_plan_id=plan_id, actor_id=actor_id, after=after, limit=limit
    )
    return schemas.AuditPage(
        entries=[
            schemas.AuditEntry(
                care_plan_id=row["care_plan_id"],
                version=row["version"],
                type=row["type"],
                actor=schemas.ActorOut(
                    id=row["actor_id"], role=row["actor_role"], name=row["actor_name"]
                ),
                occurred_at=row["occurred_at"],
                recorded_at=row["recorded_at"],
                summary=row["summary"],
                in_error=row["in_error"],
            )
            for row in rows
        ],
        next_cursor=encode_cursor(next_position) if next_position is not None else None,
    )


@router.get("/health", response_model=schemas.Health, tags=["operations"])
def health() -> schemas.Health:
    """Liveness: the process answers."""
    return schemas.Health(status="ok")
