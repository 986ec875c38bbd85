"""The follow-up lifecycle as rows, for every view that lists follow-ups.

Current medications show each drug's next follow-up; the worklist lists the
ones due. Both keep a table of this shape (each its own, so each view can be
rebuilt alone) and apply the same events here: scheduled, rescheduled,
completed, missed, cancelled, cancelled by closing the plan, and the
corrections of each (``EntryMarkedInError`` with what its ``restores`` says).
Statements name the table ``{follow_ups}``; the caller says which table that is.
"""

from __future__ import annotations

from typing import Any

from domain.care_plan import CarePlan
from domain.corrections import FOLLOW_UP_OUTCOMES
from projections.store import Sql

# Dates are ISO text (YYYY-MM-DD): they compare in date order in both stores.
COLUMNS = """
    follow_up_id TEXT PRIMARY KEY,
    care_plan_id TEXT NOT NULL,
    prescription_id TEXT,
    due_on TEXT NOT NULL,
    modality TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    scheduled_by TEXT NOT NULL,
    scheduled_version INTEGER NOT NULL,
    closed_version INTEGER"""

_OUTCOMES = {
    CarePlan.FollowUpCompleted: "completed",
    CarePlan.FollowUpMissed: "missed",
    CarePlan.FollowUpCancelled: "cancelled",
}
assert set(_OUTCOMES.values()) == set(FOLLOW_UP_OUTCOMES.values())


def apply(event: Any, sql: Sql, table: str) -> None:
    """Apply ``event`` to the follow-up rows in ``table`` (a real table name)."""
    rows = sql.renamed({"follow_ups": table})
    plan = str(event.originator_id)
    if isinstance(event, CarePlan.FollowUpScheduled):
        rows.execute(
            """
            INSERT INTO {follow_ups} VALUES (
                %(id)s, %(plan)s, %(rx)s, %(due)s, %(modality)s, %(purpose)s, 'scheduled',
                %(actor)s, %(version)s, NULL)
            ON CONFLICT (follow_up_id) DO NOTHING""",
            {
                "id": event.follow_up_id,
                "plan": plan,
                "rx": event.prescription_id,
                "due": event.due_on.isoformat(),
                "modality": event.modality,
                "purpose": event.purpose,
                "actor": event.actor.id,
                "version": event.originator_version,
            },
        )
    elif isinstance(event, CarePlan.FollowUpRescheduled):
        _reschedule(rows, event.follow_up_id, event.due_on.isoformat(), event.modality)
    elif type(event) in _OUTCOMES:
        _close(rows, [event.follow_up_id], _OUTCOMES[type(event)], event.originator_version)
    elif isinstance(event, CarePlan.CarePlanClosed):
        _close(rows, event.cancelled_follow_ups, "cancelled", event.originator_version)
    elif isinstance(event, CarePlan.EntryMarkedInError):
        _correct(rows, event)


def _reschedule(rows: Sql, follow_up_id: str, due_on: str, modality: str) -> None:
    rows.execute(
        "UPDATE {follow_ups} SET due_on = %(due)s, modality = %(modality)s "
        "WHERE follow_up_id = %(id)s",
        {"id": follow_up_id, "due": due_on, "modality": modality},
    )


def _close(rows: Sql, follow_up_ids: list[str], status: str, version: int) -> None:
    for follow_up_id in follow_up_ids:
        rows.execute(
            "UPDATE {follow_ups} SET status = %(status)s, closed_version = %(version)s "
            "WHERE follow_up_id = %(id)s",
            {"id": follow_up_id, "status": status, "version": version},
        )


def _correct(rows: Sql, event: Any) -> None:
    """A follow-up entered in error leaves; an outcome or a rescheduling in error is undone."""
    if event.entry_type == "FollowUpScheduled":
        rows.execute(
            "UPDATE {follow_ups} SET status = 'entered_in_error' WHERE follow_up_id = %(id)s",
            {"id": event.subject_id},
        )
    elif event.entry_type in FOLLOW_UP_OUTCOMES and "status" in event.restores:
        rows.execute(
            "UPDATE {follow_ups} SET status = %(status)s, closed_version = NULL "
            "WHERE follow_up_id = %(id)s",
            {"id": event.subject_id, "status": event.restores["status"]},
        )
    elif event.entry_type == "FollowUpRescheduled" and "due_on" in event.restores:
        due_on = event.restores["due_on"]
        _reschedule(rows, event.subject_id, due_on.isoformat(), event.restores["modality"])
