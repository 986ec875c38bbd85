"""Routes for the record keeping part of the care plan."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1/care-plans", tags=["commands"])
