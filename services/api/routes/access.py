"""The read-access log, for auditors: who read which patient's record, when, why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from domain.care_plan import canonical_plan_id
from domain.values import Actor
from services.api.command_route import CommandRoute
from services.api.deps import allowed
from services.api.problems import PROBLEMS

router = APIRouter(tags=["audit"], route_class=CommandRoute, responses=PROBLEMS)

AccessAuditor = Annotated[Actor, Depends(allowed("access_log.read"))]


class AccessEntry(BaseModel):
    id: int
    at: str
    actor_id: str
    role: str
    care_plan_id: str | None
    method: str
    endpoint: str
    status: int
    purpose: str | None
    request_id: str | None


class AccessPage(BaseModel):
    entries: list[AccessEntry]
    next_before: int | None


@router.get("/v1/audit/access", response_model=AccessPage)
def access_log(
    request: Request,
    actor: AccessAuditor,
    care_plan_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=128)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="Page on: next_before.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AccessPage:
    """Reads of patient data, newest first (this request's own entry is stored after the
    list is read, before it is answered)."""
    plan = canonical_plan_id(care_plan_id) if care_plan_id else None
    rows = request.app.state.access_log.entries(
        care_plan_id=plan, actor_id=actor_id, before_id=before, limit=limit
    )
    entries = [AccessEntry(**row) for row in rows]
    next_before = entries[-1].id if len(entries) == limit else None
    return AccessPage(entries=entries, next_before=next_before)
