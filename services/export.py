"""The whole record of one plan, to take away: FHIR R4B, JSON, or CSV.

JSON is every stored event as the history endpoint gives it, with the plan as it
stands; CSV is one line per event for a spreadsheet; FHIR is the Bundle of
``services.fhir_export``. Reads of the record from the access log, when given,
go into the FHIR Bundle as AuditEvents.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from domain.care_plan import CarePlan
from projections.audit_trail import summarise
from services.application import CarePlans
from services.event_json import history_entry, iso_time
from services.fhir_export import export_bundle
from services.replay import document, replay

FORMATS = {
    "fhir": "application/fhir+json",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}
CSV_COLUMNS = [
    "version",
    "type",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "role",
    "summary",
    "in_error",
    "correlation_id",
]


def export(
    app: CarePlans, plan_id: UUID | str, fmt: str, reads: Iterable[dict[str, Any]] = ()
) -> tuple[str, str]:
    """(media type, body) of the plan's record in ``fmt``."""
    history = list(app.history(plan_id))
    plan = app.care_plan(plan_id)
    if fmt == "fhir":
        bundle = export_bundle(plan, history, app.formulary, reads)
        return FORMATS[fmt], json.dumps(bundle, ensure_ascii=False)
    if fmt == "json":
        body = {
            "care_plan_id": str(plan.id),
            "state": document(replay(app, plan_id)),
            "events": [history_entry(event) for event in history],
        }
        return FORMATS[fmt], json.dumps(body, ensure_ascii=False)
    if fmt == "csv":
        return FORMATS[fmt], _csv(plan, history)
    raise ValueError(fmt)


def _csv(plan: CarePlan, history: list[CarePlan.Event]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event in history:
        row = [
            event.originator_version,
            type(event).__name__,
            iso_time(event.occurred_at),
            iso_time(event.timestamp),
            event.actor.id,
            event.actor.role,
            summarise(event),
            plan.entries_in_error.get(event.originator_version, ""),
            event.correlation_id or "",
        ]
        writer.writerow([_no_formula(str(cell)) for cell in row])
    return out.getvalue()


def _no_formula(text: str) -> str:
    """A cell starting with = + - @ (or a tab or carriage return before one) runs as a
    formula in spreadsheets (CSV injection): every cell is escaped, whoever wrote it."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
