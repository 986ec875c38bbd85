"""Routes for the monitoring part of the care plan."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/care-plans", tags=["commands"])
