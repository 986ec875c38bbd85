"""Response bodies of the views: the timeline, the worklist, outcomes, readiness."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class TimelineSegment(BaseModel):
    """One drug at one dose, from ``start`` to ``end`` (clinical time; no end: ongoing)."""

    prescription_id: str
    drug: str
    amount: str
    unit: str
    daily_amount: str | None = Field(
        description="Amount per day at this dose and frequency (null when taken as needed)."
    )
    frequency: str
    route: str
    start: datetime
    end: datetime | None
    change: Literal["start", "increase", "decrease", "taper_step", "switch"] = Field(
        description="How this segment began."
    )
    reason: str = Field(description="Why: the indication of a start, the reason for a change.")
    ended_by: Literal["dose_change", "discontinued"] | None
    end_reason: str | None


class Timeline(BaseModel):
    care_plan_id: str
    segments: list[TimelineSegment]


class WorklistItem(BaseModel):
    kind: Literal["follow_up", "monitoring", "review"]
    care_plan_id: str
    patient_id: str
    due_on: date
    overdue: bool = Field(description="Due before the day asked for (on).")
    status: Literal["scheduled", "missed", "due", "prompted"] = Field(
        description="A follow-up scheduled or missed (to rebook), a check or review due, or "
        "a review a score prompted (no improvement, a response lost, remission held)."
    )
    prescriber_id: str = Field(description="Who scheduled it: the item's owner on the list.")
    prescription_id: str | None
    purpose: str
    follow_up_id: str | None = None
    modality: str | None = None
    drug: str | None = None
    test: str | None = None
    prompt: str | None = Field(default=None, description="The prompt's code, for a review.")


class Worklist(BaseModel):
    on: date
    prescriber: str | None
    since: date | None = Field(serialization_alias="from")
    to: date
    items: list[WorklistItem]
    truncated: bool = Field(description="More items were due than the limit asked for.")
    next_cursor: str | None = Field(
        description="Pass as cursor (with the same on, prescriber, from, to) for the next "
        "page; null on the last."
    )


class Score(BaseModel):
    total: int
    band: str | None
    urgent: bool
    taken_at: datetime
    version: int
    source: Literal["scale", "follow_up"] = Field(
        description="Recorded on its own, or at a follow-up visit."
    )


class InstrumentOutcome(BaseModel):
    instrument: str
    baseline: Score
    latest: Score
    change: int = Field(description="latest - baseline (negative: fewer symptoms).")
    response: bool | None = Field(description="Dropped by half or more; null with one score.")
    remission: bool | None = Field(
        description="Below the instrument's threshold (PHQ-9 < 5); null with one score or "
        "for an instrument without one."
    )
    scores: list[Score]


class FunctioningRating(BaseModel):
    rated_at: datetime
    version: int
    work_or_school: str | None
    relationships: str | None
    daily_tasks: str | None


class Outcomes(BaseModel):
    care_plan_id: str
    instruments: list[InstrumentOutcome] = Field(
        description="Symptom scales and WHODAS-12 (functioning), each over time."
    )
    functioning: list[FunctioningRating] = Field(
        default_factory=list,
        description="How much problems limit work or school, relationships and daily tasks, "
        "as each evaluation rated it (none, mild, moderate, severe, complete).",
    )


class ProjectionLag(BaseModel):
    position: int
    events_behind: int
    seconds_behind: float


class Ready(BaseModel):
    status: Literal["ready"]
    head: int = Field(description="The last notification id in the event log.")
    projections: dict[str, ProjectionLag]
