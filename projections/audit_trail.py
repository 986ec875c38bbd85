"""Audit trail: one line per event — who, in what role, when, what — for everyone.

Summaries are written for people (a clinician scanning a chart, an auditor
reading a report); the full data stays in the event store and ``/history``.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from domain.care_plan import CarePlan
from domain.values import utc_iso
from projections.cursors import decode_key, encode_key
from projections.projection import Projection
from projections.store import Sql, ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS {audit_trail} (
    position BIGINT PRIMARY KEY,
    care_plan_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_name TEXT,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    summary TEXT NOT NULL,
    in_error TEXT
)"""
# Cursor pagination walks position order within a filter, so each filter
# column leads an index that ends in position.
INDEXES = (
    "CREATE INDEX IF NOT EXISTS {audit_trail}_by_plan ON {audit_trail} (care_plan_id, position)",
    "CREATE INDEX IF NOT EXISTS {audit_trail}_by_actor ON {audit_trail} (actor_id, position)",
)


# Positions are 64-bit signed integers in both stores.
MAX_POSITION = 2**63


@singledispatch
def summarise(event: Any) -> str:
    """A readable default for events without a dedicated summary."""
    return type(event).__name__


@summarise.register
def _(event: CarePlan.CarePlanOpened) -> str:
    return "Care plan opened"


@summarise.register
def _(event: CarePlan.TherapyReferralMade) -> str:
    therapy = event.therapy.replace("_", " ")
    return f"Referred for {therapy} to {event.to_whom} ({event.urgency}): {event.reason}"


@summarise.register
def _(event: CarePlan.CareTeamChanged) -> str:
    who = f"{event.name} ({event.member_id})" if event.name else event.member_id
    summary = f"{who} {event.change} the care team as {event.role_in_care.replace('_', ' ')}"
    if event.change == "joined" and event.supervisor_id:
        summary += f", supervised by {event.supervisor_id}"
    return summary


@summarise.register
def _(event: CarePlan.EntryMarkedInError) -> str:
    return f"Entry {event.entry_version} ({event.entry_type}) marked in error: {event.reason}"


@summarise.register
def _(event: CarePlan.CarePlanClosed) -> str:
    summary = f"Care plan closed ({event.reason.replace('_', ' ')})"
    if event.note:
        summary += f": {event.note}"
    if event.cancelled_follow_ups:
        summary += f"; {len(event.cancelled_follow_ups)} pending follow-up(s) cancelled"
    return summary


@summarise.register
def _(event: CarePlan.EvaluationRecorded) -> str:
    codes = ", ".join(d.code for d in event.diagnoses) or "no diagnosis"
    return f"{event.kind.capitalize()} evaluation ({_modality(event.modality)}): {codes}"


@summarise.register
def _(event: CarePlan.MedicationPrescribed) -> str:
    summary = (
        f"Prescribed {event.drug} {event.dose} {event.frequency.replace('_', ' ')}, {event.route}"
    )
    if event.discussion is not None:
        who = event.discussion.decided_by.replace("_", " ")
        summary += f"; options discussed, {who} {event.discussion.decision}"
    return summary


@summarise.register
def _(event: CarePlan.TreatmentDecisionRecorded) -> str:
    decision = event.decision.replace("_", " ").capitalize()
    summary = f"{decision}: {event.reason}"
    return summary + (f" (instead: {', '.join(event.alternatives)})" if event.alternatives else "")


@summarise.register
def _(event: CarePlan.MedicationReviewed) -> str:
    return (
        f"{event.drug} reviewed ({event.outcome}): {event.rationale}; next review "
        f"{event.next_due_on}"
    )


@summarise.register
def _(event: CarePlan.DoseChanged) -> str:
    return f"{event.drug} dose {event.previous_dose} → {event.dose}: {event.reason}"


@summarise.register
def _(event: CarePlan.MedicationDiscontinued) -> str:
    return f"Discontinued {event.drug}: {event.reason}"


@summarise.register
def _(event: CarePlan.TaperStarted) -> str:
    steps = ", ".join(f"{step.dose} from {step.starts_on}" for step in event.steps)
    return f"Taper of {event.drug} planned: {steps}"


@summarise.register
def _(event: CarePlan.MedicationSwitched) -> str:
    return f"Switched ({event.strategy.replace('_', ' ')}): {event.reason}"


@summarise.register
def _(event: CarePlan.MonitoringScheduled) -> str:
    tests = sorted({item.test.replace("_", " ") for item in event.items})
    first = min(item.due_on for item in event.items)
    return f"Monitoring for {event.drug}: {', '.join(tests)} (first due {first})"


@summarise.register
def _(event: CarePlan.ClinicalCheckRecorded) -> str:
    finding = "positive" if event.present else "negative"
    summary = f"Check {event.check.replace('_', ' ')}: {finding}"
    return summary + (f" ({event.note})" if event.note else "")


@summarise.register
def _(event: CarePlan.MedicationReviewFlagged) -> str:
    codes = ", ".join(w.code for w in event.warnings)
    return f"{event.drug} flagged by evaluation {event.evaluation_version}: {codes}"


@summarise.register
def _(event: CarePlan.SafetyWarningAcknowledged) -> str:
    return f"Acknowledged {event.code}: {event.justification}"


@summarise.register
def _(event: CarePlan.FollowUpScheduled) -> str:
    return f"Follow-up due {event.due_on} ({_modality(event.modality)}): {event.purpose}"


@summarise.register
def _(event: CarePlan.FollowUpCompleted) -> str:
    scores = ", ".join(f"{m.instrument} {m.total}" for m in event.measurements)
    return f"Follow-up completed ({_modality(event.modality)})" + (f": {scores}" if scores else "")


@summarise.register
def _(event: CarePlan.FollowUpMissed) -> str:
    return "Follow-up missed" + (f": {event.note}" if event.note else "")


@summarise.register
def _(event: CarePlan.FollowUpCancelled) -> str:
    return f"Follow-up cancelled: {event.reason}"


@summarise.register
def _(event: CarePlan.FollowUpRescheduled) -> str:
    return f"Follow-up moved to {event.due_on} ({_modality(event.modality)}): {event.reason}"


@summarise.register
def _(event: CarePlan.SideEffectReported) -> str:
    summary = f"Side effect ({event.severity.replace('_', '-')}): {event.description}"
    return summary + ("" if event.action == "none" else f"; {event.action.replace('_', ' ')}")


@summarise.register
def _(event: CarePlan.AdherenceRecorded) -> str:
    summary = f"Adherence: {event.adherence.replace('_', ' ')}"
    return summary + (f" ({event.note})" if event.note else "")


@summarise.register
def _(event: CarePlan.MeasurementRecorded) -> str:
    summary = f"{event.instrument} {event.total}" + (f" ({event.band})" if event.band else "")
    return summary + ("; needs same-day attention" if event.urgent else "")


@summarise.register
def _(event: CarePlan.LabResultRecorded) -> str:
    summary = f"{event.test.replace('_', ' ')} {event.value} {event.unit}"
    summary += f" ({event.flag})" if event.flag else ""
    return summary + f", collected {event.collected_at.date()}"


def _modality(modality: str) -> str:
    return modality.replace("_", " ")


class AuditTrail(Projection):
    name = "audit_trail"
    tables = ("audit_trail",)
    schema = (TABLE, *INDEXES)

    def process(self, event: Any, sql: Sql, position: int) -> None:
        sql.defer(
            """
            INSERT INTO {audit_trail} VALUES (
                %(position)s, %(plan)s, %(version)s, %(type)s, %(actor)s, %(role)s, %(name)s,
                %(occurred)s, %(recorded)s, %(summary)s, NULL)
            ON CONFLICT (position) DO NOTHING""",
            {
                "position": position,
                "plan": str(event.originator_id),
                "version": event.originator_version,
                "type": type(event).__name__,
                "actor": event.actor.id,
                "role": event.actor.role,
                "name": event.actor.name,
                "occurred": utc_iso(event.occurred_at),
                "recorded": utc_iso(event.timestamp),
                "summary": summarise(event),
            },
        )
        if isinstance(event, CarePlan.EntryMarkedInError):  # the marked entry keeps its row
            sql.execute(
                """
                UPDATE {audit_trail} SET in_error = %(reason)s
                 WHERE care_plan_id = %(plan)s AND version = %(version)s""",
                {
                    "reason": event.reason,
                    "plan": str(event.originator_id),
                    "version": event.entry_version,
                },
            )


def encode_cursor(position: int) -> str:
    return encode_key("p", [position])


def decode_cursor(cursor: str) -> int:
    """Positions are opaque to clients; a cursor that does not decode is refused."""
    (position,) = decode_key(cursor, "p", (int,))
    assert isinstance(position, int)
    if not 0 <= position < MAX_POSITION:
        raise ValueError("invalid cursor")
    return position


def audit_entries(
    store: ViewStore,
    *,
    care_plan_id: str | None = None,
    actor_id: str | None = None,
    after: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of entries in log order, and the position to continue after (or None)."""
    clauses = ["position > %(after)s"]
    params: dict[str, Any] = {"after": after, "limit": limit + 1}
    if care_plan_id is not None:
        clauses.append("care_plan_id = %(plan)s")
        params["plan"] = care_plan_id
    if actor_id is not None:
        clauses.append("actor_id = %(actor)s")
        params["actor"] = actor_id
    with store.reading() as sql:
        rows = sql.execute(
            f"SELECT * FROM audit_trail WHERE {' AND '.join(clauses)} "  # noqa: S608 (fixed clauses)
            "ORDER BY position LIMIT %(limit)s",
            params,
        ).fetchall()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1]["position"]
    return rows, None
