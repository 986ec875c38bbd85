"""Replay and export for auditors over HTTP: the plan at a version, as known at a time,
or as it was on a day (see ``services.replay``), and the whole record to take away."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from domain.care_plan import care_plan_id as care_plan_id_of
from domain.values import Actor
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, allowed
from services.api.problems import PROBLEMS
from services.api.schemas import Instant
from services.export import FORMATS, export
from services.replay import document, replay

router = APIRouter(tags=["audit"], route_class=CommandRoute, responses=PROBLEMS)

Replayer = Annotated[Actor, Depends(allowed("replay.read"))]
#: Events in one answer: a plan of any length replays to a version from a snapshot
#: and one page of events; the rest follows by cursor (``events_before``).
EVENTS_PAGE = 100
EVENTS_PAGE_MAX = 1000


class DoseState(BaseModel):
    amount: str
    unit: str


class MedicationState(BaseModel):
    prescription_id: str
    drug: str
    dose: DoseState
    frequency: str
    route: str
    status: str
    started_at: str


class FollowUpState(BaseModel):
    follow_up_id: str
    due_on: str
    modality: str


class PendingState(BaseModel):
    subject_id: str
    code: str


class AcknowledgedState(BaseModel):
    subject_id: str
    code: str
    justification: str
    by: str
    at: str


class EventState(BaseModel):
    version: int
    type: str
    occurred_at: str
    recorded_at: str
    actor: str
    summary: str


class PlanState(BaseModel):
    question: str
    exists: bool
    version: int
    status: str | None
    medications: list[MedicationState]
    open_follow_ups: list[FollowUpState]
    pending_acknowledgements: list[PendingState]
    acknowledged_warnings: list[AcknowledgedState]
    events_total: int
    earlier_events_before: int | None
    events: list[EventState]


@router.get("/v1/care-plans/{care_plan_id}/state", response_model=PlanState)
def plan_state(
    care_plan_id: str,
    careplan: CareplanDep,
    actor: Replayer,
    version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    as_of: Annotated[
        Instant | None, Query(description="Recording time: the record as it was known.")
    ] = None,
    clinical_as_of: Annotated[
        Instant | None,
        Query(description="Clinical time: the treatment as it was, late entries included."),
    ] = None,
    events_limit: Annotated[
        int,
        Query(ge=1, le=EVENTS_PAGE_MAX, description="The last this many events that led there."),
    ] = EVENTS_PAGE,
    events_before: Annotated[
        int | None,
        Query(ge=1, le=2**31, description="Only events before this version: the next page back."),
    ] = None,
) -> PlanState:
    """The plan replayed to one point (at most one of the three), with the events that
    led there, a page at a time (latest first in pages, oldest first within one:
    ``earlier_events_before`` is the cursor to the page before), and every warning
    acknowledged on the way."""
    result = replay(
        careplan.app,
        care_plan_id,
        version=version,
        known_at=as_of,
        clinical_at=clinical_as_of,
        events_limit=events_limit,
        events_before=events_before,
    )
    return PlanState.model_validate(document(result))


Exporter = Annotated[Actor, Depends(allowed("export.read"))]


@router.get(
    "/v1/care-plans/{care_plan_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "The whole record.",
            "content": {media: {} for media in FORMATS.values()},
        }
    },
)
def export_record(
    care_plan_id: str,
    careplan: CareplanDep,
    actor: Exporter,
    request: Request,
    format: Annotated[Literal["fhir", "json", "csv"], Query()] = "fhir",
) -> Response:
    """The plan's whole record to take away: FHIR R4B Bundle, JSON, or CSV. The FHIR
    Bundle carries the logged reads of the record as AuditEvents."""
    access_log = request.app.state.access_log
    uuid = care_plan_id_of(care_plan_id)
    reads = list(reversed(access_log.entries(care_plan_id=str(uuid), limit=10_000)))
    media, body = export(careplan.app, uuid, format, reads)
    return Response(body, media_type=media)
