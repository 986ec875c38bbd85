"""Readiness for load balancers and orchestrators: the store answers and no view lags.

Unauthenticated like ``/health`` (probes carry no token); it tells counts and
seconds, never clinical content. ``/health`` says the process lives; ``/ready``
says its answers are current enough to send it traffic.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from projections.lag import projection_lag
from services.api import view_schemas as out
from services.api.deps import CareplanDep
from services.api.errors import problem

router = APIRouter(tags=["operations"])
log = structlog.get_logger(__name__)


@router.get(
    "/ready",
    response_model=out.Ready,
    responses={503: {"description": "A view lags past the limit, or the store is unreachable."}},
)
def ready(careplan: CareplanDep) -> out.Ready | JSONResponse:
    """Each projection's lag behind the event log; 503 past CAREPLAN_READY_MAX_LAG_*."""
    app = careplan.app
    try:
        head, lags = projection_lag(
            careplan.views, app.recorder, app.mapper, careplan.followers, datetime.now(UTC)
        )
    except Exception:
        log.exception("ready.store_unavailable")
        return problem(503, "store.unavailable", "The event store does not answer.")
    settings = careplan.settings
    body = {name: out.ProjectionLag(**vars(lag)) for name, lag in lags.items()}
    lagging = sorted(
        name
        for name, lag in lags.items()
        if lag.events_behind > settings.ready_max_lag_events
        or lag.seconds_behind > settings.ready_max_lag_seconds
    )
    if lagging:
        return problem(
            503,
            "projections.lagging",
            f"{', '.join(lagging)} behind the event log past the configured limit.",
            head=head,
            projections={name: lag.model_dump() for name, lag in body.items()},
        )
    return out.Ready(status="ready", head=head, projections=body)
