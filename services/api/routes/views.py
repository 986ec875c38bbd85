"""Reads of the views: a plan's medication timeline and outcomes, the clinic's worklist."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from domain.care_plan import care_plan_id as parse_plan_id
from domain.values import Actor
from projections.outcomes import functioning, outcomes
from projections.timeline import timeline
from projections.worklist import (
    WorklistQuery,
    decode_worklist_cursor,
    encode_worklist_cursor,
    worklist_page,
)
from services.api import view_schemas as out
from services.api.command_route import CommandRoute
from services.api.deps import CareplanDep, PermittedCaller, allowed
from services.api.errors import ApiError
from services.api.problems import PROBLEMS
from services.api.schemas import NO_CONTROL_CHARACTERS
from services.bootstrap import Careplan
from services.tokens import Caller

router = APIRouter(tags=["queries"], route_class=CommandRoute, responses=PROBLEMS)

TimelineReader = Annotated[Actor, Depends(allowed("timeline.read"))]
WorklistReader = Annotated[Caller, Depends(PermittedCaller("worklist.read"))]
OutcomesReader = Annotated[Actor, Depends(allowed("outcomes.read"))]


@router.get("/v1/care-plans/{care_plan_id}/timeline", response_model=out.Timeline)
def read_timeline(care_plan_id: str, careplan: CareplanDep, actor: TimelineReader) -> out.Timeline:
    """Every dose of every drug over time (clinical time), ready to draw as a chart."""
    plan_id = str(parse_plan_id(care_plan_id))
    rows = timeline(careplan.views, plan_id)
    require_plan(careplan, plan_id, rows)
    return out.Timeline(
        care_plan_id=plan_id,
        segments=[
            out.TimelineSegment(
                prescription_id=row["prescription_id"],
                drug=row["drug"],
                amount=row["amount"],
                unit=row["unit"],
                daily_amount=row["daily_amount"],
                frequency=row["frequency"],
                route=row["route"],
                start=row["started_at"],
                end=row["ended_at"],
                change=row["change"],
                reason=row["reason"],
                ended_by=row["ended_by"],
                end_reason=row["end_reason"],
            )
            for row in rows
        ],
    )


@router.get("/v1/care-plans/{care_plan_id}/outcomes", response_model=out.Outcomes)
def read_outcomes(care_plan_id: str, careplan: CareplanDep, actor: OutcomesReader) -> out.Outcomes:
    """Rating-scale scores over time per instrument: baseline, latest, change, response,
    remission; and functioning beside them."""
    plan_id = str(parse_plan_id(care_plan_id))
    rows = outcomes(careplan.views, plan_id)
    rated = functioning(careplan.views, plan_id)
    require_plan(careplan, plan_id, rows or rated)
    return out.Outcomes(
        care_plan_id=plan_id,
        instruments=[out.InstrumentOutcome(**row) for row in rows],
        functioning=[out.FunctioningRating(**row) for row in rated],
    )


@router.get("/v1/worklist", response_model=out.Worklist)
def read_worklist(
    careplan: CareplanDep,
    caller: WorklistReader,
    on: Annotated[
        date | None, Query(description="The day of the list (default today, UTC).")
    ] = None,
    prescriber: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_CONTROL_CHARACTERS,
            description="Only items this actor scheduled.",
        ),
    ] = None,
    since: Annotated[
        date | None, Query(alias="from", description="Due on or after (default: any).")
    ] = None,
    to: Annotated[date | None, Query(description="Due on or before (default: on).")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            description="next_cursor of the page before (same on, prescriber, from, to).",
        ),
    ] = None,
) -> out.Worklist:
    """Follow-ups, monitoring checks and benefit-risk reviews due (overdue: due before
    ``on``) on the caller's care teams' plans, soonest first; follow ``next_cursor``."""
    try:
        after = decode_worklist_cursor(cursor) if cursor else None
    except ValueError:
        raise ApiError(
            422, "worklist.invalid_cursor", "The cursor is not one this API gave."
        ) from None
    query = WorklistQuery(
        on=on or datetime.now(UTC).date(),
        prescriber=prescriber,
        since=since,
        to=to,
        limit=limit,
        after=after,
        care_plans=caller.visible_plans,
    )
    if since is not None and since > query.until:
        raise ApiError(
            422, "worklist.invalid_range", f"from ({since}) is after to ({query.until})."
        )
    items, next_after = worklist_page(careplan.views, query)
    return out.Worklist(
        on=query.on,
        prescriber=prescriber,
        since=since,
        to=query.until,
        items=[out.WorklistItem(**item) for item in items],
        truncated=next_after is not None,
        next_cursor=None if next_after is None else encode_worklist_cursor(next_after),
    )


def require_plan(careplan: Careplan, plan_id: str, rows: list[Any]) -> None:
    """An empty view of an unknown plan is a 404, not an empty answer."""
    if not rows:
        careplan.app.ensure_exists(plan_id)
