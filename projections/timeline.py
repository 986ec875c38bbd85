"""Medication timeline: every dose of every drug over time, ready to draw as a chart.

One row per segment: a prescription at one dose from when it started (clinical
time) until it changed or stopped. A start opens the first segment, a dose
change (a taper step too) ends the open one and opens the next, a stop ends it.
Corrections take back what they undo: a prescription entered in error loses all
its segments (it was never taken), a dose change in error loses its segment and
the one before it runs on, a stop in error leaves the last segment open again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.care_plan import CarePlan
from domain.safety import DOSES_PER_DAY, daily_amount
from domain.values import utc_iso
from projections.projection import Projection, handlers
from projections.store import Sql, ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS {medication_timeline} (
    prescription_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    care_plan_id TEXT NOT NULL,
    drug TEXT NOT NULL,
    amount TEXT NOT NULL,
    unit TEXT NOT NULL,
    frequency TEXT NOT NULL,
    route TEXT NOT NULL,
    started_at TEXT NOT NULL,
    change TEXT NOT NULL,
    reason TEXT NOT NULL,
    indication TEXT NOT NULL,
    ended_at TEXT,
    ended_by TEXT,
    end_reason TEXT,
    switch_version INTEGER,
    PRIMARY KEY (prescription_id, version)
)"""
# The chart of one plan, in time order: the plan leads, clinical time orders.
INDEX = """
CREATE INDEX IF NOT EXISTS {medication_timeline}_by_plan
    ON {medication_timeline} (care_plan_id, started_at)"""

QUERY = """
SELECT * FROM medication_timeline
 WHERE care_plan_id = %(plan)s
 ORDER BY started_at, prescription_id, version"""

# The open segment of a prescription is the one nothing has ended yet.
_END_OPEN = """
UPDATE {medication_timeline}
   SET ended_at = %(at)s, ended_by = %(by)s, end_reason = %(reason)s
 WHERE prescription_id = %(rx)s AND ended_by IS NULL"""
# A dose change's new segment: the open one's drug, at the new dose.
_CONTINUE_OPEN = """
INSERT INTO {medication_timeline}
SELECT prescription_id, %(version)s, %(plan)s, drug, %(amount)s, %(unit)s, frequency, route,
       %(at)s, %(change)s, %(reason)s, indication, NULL, NULL, NULL, NULL
  FROM {medication_timeline}
 WHERE prescription_id = %(rx)s AND ended_by IS NULL
ON CONFLICT (prescription_id, version) DO NOTHING"""
_REOPEN_LATEST = """
UPDATE {medication_timeline}
   SET ended_at = NULL, ended_by = NULL, end_reason = NULL
 WHERE prescription_id = %(rx)s
   AND version = (SELECT MAX(version) FROM {medication_timeline} WHERE prescription_id = %(rx)s)"""


class MedicationTimeline(Projection):
    name = "medication_timeline"
    tables = ("medication_timeline",)
    schema = (TABLE, INDEX)

    @handlers
    def process(self, event: Any, sql: Sql, position: int) -> None:
        """Events that change no dose leave the timeline alone."""

    @process.register
    def _prescribed(self, event: CarePlan.MedicationPrescribed, sql: Sql, position: int) -> None:
        _open_segment(sql, event, event, "start", event.indication)

    @process.register
    def _dose_changed(self, event: CarePlan.DoseChanged, sql: Sql, position: int) -> None:
        """The open segment ends and a new one, the same drug at the new dose, opens.

        Two writes and no read: the new segment copies the open one in the database
        (nothing open: a start marked in error, nothing is written), so a batch of
        them is sent without waiting for an answer per event."""
        if event.taper_step is not None:
            change = "taper_step"
        else:
            change = "increase" if event.dose.amount > event.previous_dose.amount else "decrease"
        version = event.originator_version
        sql.execute(
            _CONTINUE_OPEN,
            {
                "rx": event.prescription_id,
                "version": version,
                "plan": str(event.originator_id),
                "amount": str(event.dose.amount),
                "unit": event.dose.unit,
                "at": utc_iso(event.occurred_at),
                "change": change,
                "reason": event.reason,
            },
        )
        sql.execute(
            _END_OPEN + " AND version <> %(version)s",
            {
                "rx": event.prescription_id,
                "version": version,
                "at": utc_iso(event.occurred_at),
                "by": "dose_change",
                "reason": event.reason,
            },
        )

    @process.register
    def _discontinued(
        self, event: CarePlan.MedicationDiscontinued, sql: Sql, position: int
    ) -> None:
        sql.execute(
            _END_OPEN,
            {
                "rx": event.prescription_id,
                "at": utc_iso(event.occurred_at),
                "by": "discontinued",
                "reason": event.reason,
            },
        )

    @process.register
    def _switched(self, event: CarePlan.MedicationSwitched, sql: Sql, position: int) -> None:
        sql.execute(
            """
            UPDATE {medication_timeline}
               SET change = 'switch', reason = %(reason)s, switch_version = %(version)s
             WHERE prescription_id = %(rx)s AND change = 'start'""",
            {
                "rx": event.to_prescription_id,
                "reason": f"{event.strategy.replace('_', ' ')} switch: {event.reason}",
                "version": event.originator_version,
            },
        )

    @process.register
    def _marked_in_error(self, event: CarePlan.EntryMarkedInError, sql: Sql, position: int) -> None:
        params = {"rx": event.subject_id, "entry": event.entry_version}
        if event.entry_type == "MedicationPrescribed":
            sql.execute("DELETE FROM {medication_timeline} WHERE prescription_id = %(rx)s", params)
        elif event.entry_type == "DoseChanged" and "dose" in event.restores:
            sql.execute(
                "DELETE FROM {medication_timeline} "
                "WHERE prescription_id = %(rx)s AND version = %(entry)s",
                params,
            )
            sql.execute(_REOPEN_LATEST, params)
        elif event.entry_type == "MedicationDiscontinued" and "status" in event.restores:
            sql.execute(_REOPEN_LATEST, params)
        elif event.entry_type == "MedicationSwitched":
            sql.execute(
                """
                UPDATE {medication_timeline}
                   SET change = 'start', reason = indication, switch_version = NULL
                 WHERE switch_version = %(entry)s AND care_plan_id = %(plan)s""",
                {**params, "plan": str(event.originator_id)},
            )


def _open_segment(sql: Sql, event: Any, rx: Any, change: str, reason: str) -> None:
    sql.execute(
        """
        INSERT INTO {medication_timeline} VALUES (
            %(rx)s, %(version)s, %(plan)s, %(drug)s, %(amount)s, %(unit)s, %(frequency)s,
            %(route)s, %(at)s, %(change)s, %(reason)s, %(indication)s, NULL, NULL, NULL, NULL)
        ON CONFLICT (prescription_id, version) DO NOTHING""",
        {
            "rx": rx.prescription_id,
            "version": event.originator_version,
            "plan": str(event.originator_id),
            "drug": rx.drug,
            "amount": str(event.dose.amount),
            "unit": event.dose.unit,
            "frequency": rx.frequency,
            "route": rx.route,
            "at": utc_iso(event.occurred_at),
            "change": change,
            "reason": reason,
            "indication": rx.indication,
        },
    )


def timeline(store: ViewStore, care_plan_id: str) -> list[dict[str, Any]]:
    """The plan's dose segments in clinical time order, each with its amount per day
    (the label's unit of maxima: what a chart of several drugs compares)."""
    with store.reading() as sql:
        rows = sql.execute(QUERY, {"plan": care_plan_id}).fetchall()
    for row in rows:
        row["daily_amount"] = _per_day(row["amount"], row["frequency"])
    return rows


def _per_day(amount: str, frequency: str) -> str | None:
    if frequency not in DOSES_PER_DAY or frequency == "as_needed":
        return None  # as needed: no fixed amount per day to draw
    return format(daily_amount(Decimal(amount), frequency), "f")
