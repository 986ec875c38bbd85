"""Benefit-risk reviews on the worklist: one row per prescription taken, due on its
review date, or earlier when a score prompts one ("consider adjusting").

The row's ``due_on`` is the earlier of the two; a review (or a dose change, the
decision a prompt asks for) clears the prompt, a stop or an entry in error takes
the row off the list. Statements name the table ``{reviews}``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.care_plan import CarePlan
from domain.review_schedule import recorded_due_on
from projections.store import Sql

TABLE = """
CREATE TABLE IF NOT EXISTS {worklist_reviews} (
    prescription_id TEXT PRIMARY KEY,
    care_plan_id TEXT NOT NULL,
    drug TEXT NOT NULL,
    due_on TEXT NOT NULL,
    review_due_on TEXT NOT NULL,
    prompt_code TEXT,
    prompt_message TEXT,
    prompted_on TEXT,
    prescriber TEXT NOT NULL,
    taken BOOLEAN NOT NULL
)"""
INDEX = (
    "CREATE INDEX IF NOT EXISTS {worklist_reviews}_due_page "
    "ON {worklist_reviews} (taken, due_on, care_plan_id, prescription_id)"
)
# The row's date: the review's, or a prompt's when that comes first.
_DUE = """
UPDATE {reviews}
   SET due_on = CASE WHEN prompted_on IS NOT NULL AND prompted_on < review_due_on
                     THEN prompted_on ELSE review_due_on END
 WHERE prescription_id = %(rx)s"""


def apply(event: Any, sql: Sql, table: str) -> None:
    """Apply ``event`` to the review rows in ``table`` (a real table name)."""
    rows = sql.renamed({"reviews": table})
    if isinstance(event, CarePlan.MedicationPrescribed):
        due = recorded_due_on(event.review_due_on, event.occurred_at.date()).isoformat()
        rows.execute(
            """
            INSERT INTO {reviews} VALUES (
                %(rx)s, %(plan)s, %(drug)s, %(due)s, %(due)s, NULL, NULL, NULL, %(actor)s, TRUE)
            ON CONFLICT (prescription_id) DO NOTHING""",
            {
                "rx": event.prescription_id,
                "plan": str(event.originator_id),
                "drug": event.drug,
                "due": due,
                "actor": event.actor.id,
            },
        )
    elif isinstance(event, CarePlan.MedicationReviewed):
        _reviewed(rows, event.prescription_id, event.next_due_on)
    elif isinstance(event, CarePlan.DoseChanged):
        _clear_prompt(rows, event.prescription_id)
    elif isinstance(event, CarePlan.MedicationDiscontinued):
        _taken(rows, event.prescription_id, taken=False)
    elif isinstance(event, (CarePlan.MeasurementRecorded, CarePlan.FollowUpCompleted)):
        for prompt in event.prompts:
            _prompted(rows, prompt, event.occurred_at.date())
    elif isinstance(event, CarePlan.EntryMarkedInError):
        _corrected(rows, event)


def _reviewed(rows: Sql, rx: str, next_due: date) -> None:
    rows.execute(
        "UPDATE {reviews} SET review_due_on = %(due)s, prompt_code = NULL, "
        "prompt_message = NULL, prompted_on = NULL WHERE prescription_id = %(rx)s",
        {"rx": rx, "due": next_due.isoformat()},
    )
    rows.execute(_DUE, {"rx": rx})


def _clear_prompt(rows: Sql, rx: str) -> None:
    rows.execute(
        "UPDATE {reviews} SET prompt_code = NULL, prompt_message = NULL, prompted_on = NULL "
        "WHERE prescription_id = %(rx)s",
        {"rx": rx},
    )
    rows.execute(_DUE, {"rx": rx})


def _taken(rows: Sql, rx: str, *, taken: bool) -> None:
    rows.execute(
        "UPDATE {reviews} SET taken = %(taken)s WHERE prescription_id = %(rx)s",
        {"rx": rx, "taken": taken},
    )


def _prompted(rows: Sql, prompt: Any, on: date) -> None:
    rows.execute(
        "UPDATE {reviews} SET prompt_code = %(code)s, prompt_message = %(message)s, "
        "prompted_on = %(on)s WHERE prescription_id = %(rx)s",
        {
            "rx": prompt.prescription_id,
            "code": prompt.code,
            "message": prompt.message,
            "on": on.isoformat(),
        },
    )
    rows.execute(_DUE, {"rx": prompt.prescription_id})


def _corrected(rows: Sql, event: CarePlan.EntryMarkedInError) -> None:
    """An entry in error: a prescription that never was, a stop undone, a review whose
    date returns to the one before."""
    rx = event.subject_id
    if rx is None:
        return
    if event.entry_type == "MedicationPrescribed":
        _taken(rows, rx, taken=False)
    elif event.entry_type == "MedicationDiscontinued" and "status" in event.restores:
        _taken(rows, rx, taken=True)
    elif "review_due_on" in event.restores:
        rows.execute(
            "UPDATE {reviews} SET review_due_on = %(due)s WHERE prescription_id = %(rx)s",
            {"rx": rx, "due": event.restores["review_due_on"].isoformat()},
        )
        rows.execute(_DUE, {"rx": rx})


REVIEWS_DUE = """
SELECT r.prescription_id, r.care_plan_id, p.patient_id, r.drug, r.due_on, r.review_due_on,
       r.prompt_code, r.prompt_message, r.prescriber
  FROM worklist_reviews r JOIN worklist_plans p ON p.care_plan_id = r.care_plan_id
 WHERE r.taken AND r.due_on <= %(until)s AND r.due_on >= %(since)s
   {prescriber} {after}
   AND p.status = 'open'
 ORDER BY r.due_on, r.care_plan_id, r.prescription_id
 LIMIT %(limit)s"""


def review_item(row: dict[str, Any], on: date) -> dict[str, Any]:
    due_on = date.fromisoformat(str(row["due_on"]))
    prompted = row["prompt_code"] is not None
    return {
        "kind": "review",
        "care_plan_id": row["care_plan_id"],
        "patient_id": row["patient_id"],
        "due_on": due_on,
        "overdue": due_on < on,
        "status": "prompted" if prompted else "due",
        "prescriber_id": row["prescriber"],
        "prescription_id": row["prescription_id"],
        "drug": row["drug"],
        "purpose": row["prompt_message"] if prompted else "benefit-risk review",
        "prompt": row["prompt_code"],
    }
