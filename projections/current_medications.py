"""Current medications: what each patient is taking now, as the clinic reads it."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from domain.care_plan import CarePlan
from domain.values import utc_iso
from projections.projection import Projection
from projections.store import Sql, ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS {current_medications} (
    prescription_id TEXT PRIMARY KEY,
    care_plan_id TEXT NOT NULL,
    drug TEXT NOT NULL,
    dose_amount TEXT NOT NULL,
    dose_unit TEXT NOT NULL,
    frequency TEXT NOT NULL,
    route TEXT NOT NULL,
    indication TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    prescriber_id TEXT NOT NULL,
    prescriber_role TEXT NOT NULL,
    prescriber_name TEXT,
    last_changed_at TEXT NOT NULL,
    last_changed_by TEXT NOT NULL,
    ended_at TEXT,
    version INTEGER NOT NULL
)"""
# The one query is "active ones of a plan": the plan id leads, status narrows.
INDEX = """
CREATE INDEX IF NOT EXISTS {current_medications}_by_plan
    ON {current_medications} (care_plan_id, status)"""


class CurrentMedications(Projection):
    name = "current_medications"
    tables = ("current_medications",)
    schema = (TABLE, INDEX)

    @singledispatchmethod
    def process(self, event: Any, sql: Sql, position: int) -> None:
        """Events that do not change a medication leave this view alone."""

    @process.register
    def _prescribed(self, event: CarePlan.MedicationPrescribed, sql: Sql, position: int) -> None:
        sql.execute(
            """
            INSERT INTO {current_medications} VALUES (
                %(rx)s, %(plan)s, %(drug)s, %(amount)s, %(unit)s, %(frequency)s, %(route)s,
                %(indication)s, 'active', %(at)s, %(actor)s, %(role)s, %(name)s, %(at)s,
                %(actor)s, NULL, %(version)s)
            ON CONFLICT (prescription_id) DO NOTHING""",
            {
                "rx": event.prescription_id,
                "plan": str(event.originator_id),
                "drug": event.drug,
                "amount": str(event.dose.amount),
                "unit": event.dose.unit,
                "frequency": event.frequency,
                "route": event.route,
                "indication": event.indication,
                "at": utc_iso(event.occurred_at),
                "actor": event.actor.id,
                "role": event.actor.role,
                "name": event.actor.name,
                "version": event.originator_version,
            },
        )

    @process.register
    def _dose_changed(self, event: CarePlan.DoseChanged, sql: Sql, position: int) -> None:
        sql.execute(
            """
            UPDATE {current_medications}
               SET dose_amount = %(amount)s, dose_unit = %(unit)s, last_changed_at = %(at)s,
                   last_changed_by = %(actor)s, version = %(version)s
             WHERE prescription_id = %(rx)s""",
            {
                "rx": event.prescription_id,
                "amount": str(event.dose.amount),
                "unit": event.dose.unit,
                "at": utc_iso(event.occurred_at),
                "actor": event.actor.id,
                "version": event.originator_version,
            },
        )

    @process.register
    def _discontinued(
        self, event: CarePlan.MedicationDiscontinued, sql: Sql, position: int
    ) -> None:
        sql.execute(
            """
            UPDATE {current_medications}
               SET status = 'discontinued', ended_at = %(at)s, last_changed_at = %(at)s,
                   last_changed_by = %(actor)s, version = %(version)s
             WHERE prescription_id = %(rx)s""",
            {
                "rx": event.prescription_id,
                "at": utc_iso(event.occurred_at),
                "actor": event.actor.id,
                "version": event.originator_version,
            },
        )

    @process.register
    def _marked_in_error(self, event: CarePlan.EntryMarkedInError, sql: Sql, position: int) -> None:
        """A prescription entered in error was never taken: it leaves the active list. A
        dose change or a stop in error is undone as the correction says (``restores``)."""
        params = {
            "rx": event.subject_id,
            "version": event.originator_version,
            "at": utc_iso(event.occurred_at),
            "actor": event.actor.id,
        }
        if event.entry_type == "MedicationPrescribed":
            sql.execute(
                """
                UPDATE {current_medications}
                   SET status = 'entered_in_error', ended_at = NULL, version = %(version)s
                 WHERE prescription_id = %(rx)s""",
                params,
            )
        elif "dose" in event.restores:
            dose = event.restores["dose"]
            sql.execute(
                """
                UPDATE {current_medications}
                   SET dose_amount = %(amount)s, dose_unit = %(unit)s, last_changed_at = %(at)s,
                       last_changed_by = %(actor)s, version = %(version)s
                 WHERE prescription_id = %(rx)s""",
                {**params, "amount": str(dose.amount), "unit": dose.unit},
            )
        elif event.entry_type == "MedicationDiscontinued" and "status" in event.restores:
            # Tapering is still taking it: this view lists it as active.
            sql.execute(
                """
                UPDATE {current_medications}
                   SET status = 'active', ended_at = NULL, last_changed_at = %(at)s,
                       last_changed_by = %(actor)s, version = %(version)s
                 WHERE prescription_id = %(rx)s""",
                params,
            )


def active_medications(store: ViewStore, care_plan_id: str) -> list[dict[str, Any]]:
    """The plan's active prescriptions, oldest first."""
    with store.reading() as sql:
        return sql.execute(
            """
            SELECT * FROM current_medications
             WHERE care_plan_id = %(plan)s AND status = 'active'
             ORDER BY started_at, prescription_id""",
            {"plan": care_plan_id},
        ).fetchall()
