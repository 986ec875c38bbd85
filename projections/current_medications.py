"""Current medications: what each patient is taking now, as the clinic reads it.

Besides the prescription itself (dose, frequency, route, status, start, last
change and by whom), each row shows the drug's next follow-up and how many
safety warnings on it still wait for acknowledgement. A tapering prescription
is still being taken: it is listed, with its status.

``medications_of`` answers the same question from the aggregate itself: the
``as_of`` query loads the plan at a past version and asks it, and the tests hold
the view and the aggregate to the same answer.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.care_plan import CarePlan
from domain.review_schedule import recorded_due_on
from domain.values import utc_iso
from projections import follow_up_rows
from projections.projection import Projection, handlers
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
# The one query is "the ones taken now, of a plan": the plan id leads, status narrows.
INDEX = """
CREATE INDEX IF NOT EXISTS {current_medications}_by_plan
    ON {current_medications} (care_plan_id, status)"""
# Warnings waiting for acknowledgement, one row per (prescription, code), as the
# aggregate holds them; counted per prescription through the primary key.
WARNINGS = """
CREATE TABLE IF NOT EXISTS {current_medication_warnings} (
    subject_id TEXT NOT NULL,
    code TEXT NOT NULL,
    care_plan_id TEXT NOT NULL,
    PRIMARY KEY (subject_id, code)
)"""
FOLLOW_UPS = (
    f"CREATE TABLE IF NOT EXISTS {{current_medication_follow_ups}} ({follow_up_rows.COLUMNS})"
)
# When each prescription's benefit-risk review is due (a table of its own: views made
# before reviews existed gain it on a rebuild).
REVIEWS = """
CREATE TABLE IF NOT EXISTS {current_medication_reviews} (
    prescription_id TEXT PRIMARY KEY,
    care_plan_id TEXT NOT NULL,
    due_on TEXT NOT NULL
)"""
# "The plan's pending follow-ups, soonest first": plan, then status, then date.
FOLLOW_UPS_INDEX = """
CREATE INDEX IF NOT EXISTS {current_medication_follow_ups}_pending
    ON {current_medication_follow_ups} (care_plan_id, status, due_on)"""

#: Statuses of a prescription the patient is taking now.
TAKEN_NOW = ("active", "tapering")
#: Prescription corrections this view applies (other corrections concern other things).
PRESCRIPTION_ENTRIES = frozenset(
    {"MedicationPrescribed", "DoseChanged", "MedicationDiscontinued", "TaperStarted"}
)
#: The fields of one medication, as both ``active_medications`` and ``medications_of`` give it.
FIELDS = (
    "prescription_id",
    "care_plan_id",
    "drug",
    "dose_amount",
    "dose_unit",
    "frequency",
    "route",
    "indication",
    "status",
    "started_at",
    "prescriber_id",
    "prescriber_role",
    "prescriber_name",
    "last_changed_at",
    "last_changed_by",
)


class CurrentMedications(Projection):
    name = "current_medications"
    tables = (
        "current_medications",
        "current_medication_warnings",
        "current_medication_follow_ups",
        "current_medication_reviews",
    )
    schema = (TABLE, INDEX, WARNINGS, FOLLOW_UPS, FOLLOW_UPS_INDEX, REVIEWS)

    def process(self, event: Any, sql: Sql, position: int) -> None:
        follow_up_rows.apply(event, sql, sql.table("current_medication_follow_ups"))
        warnings = getattr(event, "warnings", None)
        if isinstance(event, CarePlan.DoseChanged):
            # The dose that earlier dose warnings judged is gone: they no longer wait.
            sql.execute(
                "DELETE FROM {current_medication_warnings} "
                "WHERE subject_id = %(rx)s AND code LIKE 'dose.%%'",
                {"rx": event.prescription_id},
            )
        about_a_medication = not isinstance(event, CarePlan.FollowUpScheduled)
        if warnings and about_a_medication and hasattr(event, "prescription_id"):
            _hold(sql, str(event.originator_id), event.prescription_id, [w.code for w in warnings])
        self._medication(event, sql)

    @handlers
    def _medication(self, event: Any, sql: Sql) -> None:
        """Events that do not change a medication leave its row alone."""

    @_medication.register
    def _prescribed(self, event: CarePlan.MedicationPrescribed, sql: Sql) -> None:
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
        _review_due(sql, event, recorded_due_on(event.review_due_on, event.occurred_at.date()))

    @_medication.register
    def _reviewed(self, event: CarePlan.MedicationReviewed, sql: Sql) -> None:
        _review_due(sql, event, event.next_due_on)

    @_medication.register
    def _dose_changed(self, event: CarePlan.DoseChanged, sql: Sql) -> None:
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

    @_medication.register
    def _taper_started(self, event: CarePlan.TaperStarted, sql: Sql) -> None:
        # As the aggregate: a taper changes the status, not the dose (its steps do).
        sql.execute(
            "UPDATE {current_medications} SET status = 'tapering', version = %(version)s "
            "WHERE prescription_id = %(rx)s",
            {"rx": event.prescription_id, "version": event.originator_version},
        )

    @_medication.register
    def _discontinued(self, event: CarePlan.MedicationDiscontinued, sql: Sql) -> None:
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

    @_medication.register
    def _flagged(self, event: CarePlan.MedicationReviewFlagged, sql: Sql) -> None:
        """Its warnings were held above; the prescription itself is unchanged."""

    @_medication.register
    def _acknowledged(self, event: CarePlan.SafetyWarningAcknowledged, sql: Sql) -> None:
        sql.execute(
            "DELETE FROM {current_medication_warnings} "
            "WHERE subject_id = %(subject)s AND code = %(code)s",
            {"subject": event.subject_id, "code": event.code},
        )

    @_medication.register
    def _marked_in_error(self, event: CarePlan.EntryMarkedInError, sql: Sql) -> None:
        """A prescription entered in error was never taken: it leaves the list, and no
        warning waits on it. A change in error is undone as the correction says
        (``restores``), and the warnings it raised stop waiting; an acknowledgement
        in error makes its warning wait again.
        """
        restores = event.restores
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
            sql.execute(
                "DELETE FROM {current_medication_warnings} WHERE subject_id = %(rx)s", params
            )
        elif event.entry_type in PRESCRIPTION_ENTRIES:
            self._undo(sql, restores, params)
        if "review_due_on" in restores:
            _review_due(sql, event, restores["review_due_on"], event.subject_id)
        for code in restores.get("withdrawn_warnings", []):
            sql.execute(
                "DELETE FROM {current_medication_warnings} "
                "WHERE subject_id = %(rx)s AND code = %(code)s",
                {**params, "code": code},
            )
        if "warning" in restores and event.subject_id is not None:
            _hold(sql, str(event.originator_id), event.subject_id, [restores["warning"].code])

    @staticmethod
    def _undo(sql: Sql, restores: dict[str, Any], params: dict[str, Any]) -> None:
        if "dose" in restores:
            dose = restores["dose"]
            sql.execute(
                "UPDATE {current_medications} SET dose_amount = %(amount)s, dose_unit = %(unit)s "
                "WHERE prescription_id = %(rx)s",
                {**params, "amount": str(dose.amount), "unit": dose.unit},
            )
        if "status" in restores:
            sql.execute(
                "UPDATE {current_medications} SET status = %(status)s, ended_at = NULL "
                "WHERE prescription_id = %(rx)s",
                {**params, "status": restores["status"]},
            )
        if restores.keys() & {"dose", "taper_steps_taken", "status"}:
            sql.execute(
                """
                UPDATE {current_medications}
                   SET last_changed_at = %(at)s, last_changed_by = %(actor)s,
                       version = %(version)s
                 WHERE prescription_id = %(rx)s""",
                params,
            )


def _review_due(sql: Sql, event: Any, due_on: date, rx: str | None = None) -> None:
    sql.execute(
        """
        INSERT INTO {current_medication_reviews} VALUES (%(rx)s, %(plan)s, %(due)s)
        ON CONFLICT (prescription_id) DO UPDATE SET due_on = %(due)s""",
        {
            "rx": rx or event.prescription_id,
            "plan": str(event.originator_id),
            "due": due_on.isoformat(),
        },
    )


def _hold(sql: Sql, plan: str, subject_id: str, codes: list[str]) -> None:
    for code in codes:
        sql.execute(
            """
            INSERT INTO {current_medication_warnings} VALUES (%(subject)s, %(code)s, %(plan)s)
            ON CONFLICT (subject_id, code) DO NOTHING""",
            {"subject": subject_id, "code": code, "plan": plan},
        )


# The list of one plan: current_medications_by_plan (plan, status) finds the rows;
# each count is a lookup on the warnings' primary key (subject first).
MEDICATIONS_QUERY = f"""
SELECT {", ".join(f"m.{field}" for field in FIELDS)},
       (SELECT COUNT(*) FROM current_medication_warnings w
         WHERE w.subject_id = m.prescription_id) AS pending_acknowledgements,
       (SELECT r.due_on FROM current_medication_reviews r
         WHERE r.prescription_id = m.prescription_id) AS review_due_on
  FROM current_medications m
 WHERE m.care_plan_id = %(plan)s AND m.status IN ('active', 'tapering')
 ORDER BY m.started_at, m.prescription_id"""  # noqa: S608 (fixed field names)
PENDING_FOLLOW_UPS_QUERY = """
SELECT follow_up_id, prescription_id, due_on, modality
  FROM current_medication_follow_ups
 WHERE care_plan_id = %(plan)s AND status = 'scheduled'
 ORDER BY due_on, follow_up_id"""


def active_medications(store: ViewStore, care_plan_id: str) -> list[dict[str, Any]]:
    """The plan's medications taken now (active or tapering), oldest first, each with
    its next follow-up and its count of warnings waiting for acknowledgement.
    """
    with store.reading() as sql:
        rows = sql.execute(MEDICATIONS_QUERY, {"plan": care_plan_id}).fetchall()
        pending = sql.execute(PENDING_FOLLOW_UPS_QUERY, {"plan": care_plan_id}).fetchall()
    for row in rows:
        row["next_follow_up"] = next_follow_up(pending, row["prescription_id"])
    return rows


def next_follow_up(pending: list[dict[str, Any]], prescription_id: str) -> dict[str, Any] | None:
    """The soonest pending follow-up planned for this drug or for the plan as a whole
    (one planned with another drug reviews that drug). ``pending`` is sorted by date.
    """
    for follow_up in pending:
        if follow_up["prescription_id"] in (prescription_id, None):
            return {
                "follow_up_id": follow_up["follow_up_id"],
                "due_on": str(follow_up["due_on"]),
                "modality": follow_up["modality"],
            }
    return None


def medications_of(plan: CarePlan) -> list[dict[str, Any]]:
    """The same list as ``active_medications``, from the aggregate (e.g. at a past version)."""
    pending = sorted(
        (
            {
                "follow_up_id": f.follow_up_id,
                "prescription_id": f.prescription_id,
                "due_on": f.due_on.isoformat(),
                "modality": f.modality,
            }
            for f in plan.follow_ups.values()
            if f.is_pending
        ),
        key=lambda f: (f["due_on"], f["follow_up_id"]),
    )
    rows = []
    for rx in plan.prescriptions.values():
        if rx.status not in TAKEN_NOW:
            continue
        changed_by = rx.last_changed_by or rx.prescriber
        rows.append(
            {
                "prescription_id": rx.prescription_id,
                "care_plan_id": str(plan.id),
                "drug": rx.drug,
                "dose_amount": str(rx.dose.amount),
                "dose_unit": rx.dose.unit,
                "frequency": rx.frequency,
                "route": rx.route,
                "indication": rx.indication,
                "status": rx.status,
                "started_at": utc_iso(rx.started_at),
                "prescriber_id": rx.prescriber.id,
                "prescriber_role": rx.prescriber.role,
                "prescriber_name": rx.prescriber.name,
                "last_changed_at": utc_iso(rx.last_changed_at or rx.started_at),
                "last_changed_by": changed_by.id,
                "pending_acknowledgements": sum(
                    1
                    for subject, _ in plan.pending_acknowledgements
                    if subject == rx.prescription_id
                ),
                "next_follow_up": next_follow_up(pending, rx.prescription_id),
                "review_due_on": rx.review_due_on.isoformat() if rx.review_due_on else None,
            }
        )
    return sorted(rows, key=lambda row: (row["started_at"], row["prescription_id"]))
