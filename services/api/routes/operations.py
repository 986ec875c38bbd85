"""Operating the service: Prometheus metrics for the admin role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.values import Actor
from services.api.deps import allowed
from services.api.problems import PROBLEMS
from services.metrics import REGISTRY

router = APIRouter(tags=["operations"], responses=PROBLEMS)

Operator = Annotated[Actor, Depends(allowed("metrics.read"))]


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(actor: Operator) -> Response:
    """Requests by route, events appended, projection lag (Prometheus text format)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
