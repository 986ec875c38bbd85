"""Outcomes: rating-scale scores over time, per plan and instrument, with the verdicts
measurement-based care asks for: baseline (the first score), latest, change,
response and remission; and functioning beside them (WHODAS-12 is one of the
instruments; the evaluations' ratings of work, relationships and daily tasks).

Scores come from measurements recorded between visits and from the ones taken
at a visit. A measurement marked in error, or a visit whose completion is, drops
out. The verdicts are the domain's own rules (``domain.scales``: response is a
drop of half or more from baseline; remission is below the instrument's
threshold, PHQ-9 under 5), computed when read, never stored; both need a later
score than the baseline, so a single score has neither (null).
"""

from __future__ import annotations

from typing import Any

from domain import scales
from domain.care_plan import CarePlan
from domain.values import utc_iso
from projections.projection import Projection, handlers
from projections.store import Sql, ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS {outcome_scores} (
    care_plan_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    item INTEGER NOT NULL,
    instrument TEXT NOT NULL,
    total INTEGER NOT NULL,
    band TEXT,
    urgent BOOLEAN NOT NULL,
    taken_at TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (care_plan_id, version, item)
)"""
# One plan's scores per instrument in clinical time order: exactly this index's order.
INDEX = """
CREATE INDEX IF NOT EXISTS {outcome_scores}_by_plan
    ON {outcome_scores} (care_plan_id, instrument, taken_at)"""

# Functioning by domain, as each evaluation rated it (ICF qualifiers).
FUNCTIONING = """
CREATE TABLE IF NOT EXISTS {outcome_functioning} (
    care_plan_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    rated_at TEXT NOT NULL,
    work_or_school TEXT,
    relationships TEXT,
    daily_tasks TEXT,
    PRIMARY KEY (care_plan_id, version)
)"""
FUNCTIONING_QUERY = """
SELECT rated_at, version, work_or_school, relationships, daily_tasks FROM outcome_functioning
 WHERE care_plan_id = %(plan)s
 ORDER BY rated_at, version"""

QUERY = """
SELECT instrument, total, band, urgent, taken_at, version, source FROM outcome_scores
 WHERE care_plan_id = %(plan)s
 ORDER BY instrument, taken_at, version, item"""


class Outcomes(Projection):
    name = "outcomes"
    tables = ("outcome_scores", "outcome_functioning")
    schema = (TABLE, INDEX, FUNCTIONING)

    @handlers
    def process(self, event: Any, sql: Sql, position: int) -> None:
        """Events that record no score leave the outcomes alone."""

    @process.register
    def _measured(self, event: CarePlan.MeasurementRecorded, sql: Sql, position: int) -> None:
        # The band was judged when recorded and is kept as it was then.
        _insert(sql, event, 0, event.instrument, event.total, event.band, event.urgent, "scale")

    @process.register
    def _visited(self, event: CarePlan.FollowUpCompleted, sql: Sql, position: int) -> None:
        for number, measurement in enumerate(event.measurements):
            scale = scales.SCALES.get(measurement.instrument)
            band = scale.band(measurement.total) if scale else None
            instrument, total = measurement.instrument, measurement.total
            _insert(sql, event, number, instrument, total, band, False, "follow_up")

    @process.register
    def _evaluated(self, event: CarePlan.EvaluationRecorded, sql: Sql, position: int) -> None:
        rated = event.functioning
        if rated is None:
            return
        sql.defer(
            """
            INSERT INTO {outcome_functioning} VALUES (
                %(plan)s, %(version)s, %(at)s, %(work)s, %(relationships)s, %(tasks)s)
            ON CONFLICT (care_plan_id, version) DO NOTHING""",
            {
                "plan": str(event.originator_id),
                "version": event.originator_version,
                "at": utc_iso(event.occurred_at),
                "work": rated.work_or_school,
                "relationships": rated.relationships,
                "tasks": rated.daily_tasks,
            },
        )

    @process.register
    def _marked_in_error(self, event: CarePlan.EntryMarkedInError, sql: Sql, position: int) -> None:
        params = {"plan": str(event.originator_id), "v": event.entry_version}
        if event.entry_type in ("MeasurementRecorded", "FollowUpCompleted"):
            sql.execute(
                "DELETE FROM {outcome_scores} WHERE care_plan_id = %(plan)s AND version = %(v)s",
                params,
            )
        elif event.entry_type == "EvaluationRecorded":
            sql.execute(
                "DELETE FROM {outcome_functioning} "
                "WHERE care_plan_id = %(plan)s AND version = %(v)s",
                params,
            )


def _insert(
    sql: Sql,
    event: Any,
    number: int,
    instrument: str,
    total: int,
    band: str | None,
    urgent: bool,
    source: str,
) -> None:
    sql.defer(
        """
        INSERT INTO {outcome_scores} VALUES (
            %(plan)s, %(version)s, %(item)s, %(instrument)s, %(total)s, %(band)s, %(urgent)s,
            %(at)s, %(source)s)
        ON CONFLICT (care_plan_id, version, item) DO NOTHING""",
        {
            "plan": str(event.originator_id),
            "version": event.originator_version,
            "item": number,
            "instrument": instrument,
            "total": total,
            "band": band,
            "urgent": urgent,
            "at": utc_iso(event.occurred_at),
            "source": source,
        },
    )


def outcomes(store: ViewStore, care_plan_id: str) -> list[dict[str, Any]]:
    """Per instrument (alphabetical): its scores in time order and the verdicts."""
    with store.reading() as sql:
        rows = sql.execute(QUERY, {"plan": care_plan_id}).fetchall()
    series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        row["urgent"] = bool(row["urgent"])
        series.setdefault(row.pop("instrument"), []).append(row)
    return [verdicts(instrument, scores) for instrument, scores in series.items()]


def functioning(store: ViewStore, care_plan_id: str) -> list[dict[str, Any]]:
    """Functioning by domain at each evaluation that rated it, oldest first."""
    with store.reading() as sql:
        return sql.execute(FUNCTIONING_QUERY, {"plan": care_plan_id}).fetchall()


def verdicts(instrument: str, scores: list[dict[str, Any]]) -> dict[str, Any]:
    """Baseline, latest, change, response and remission of one instrument's scores."""
    baseline, latest = scores[0], scores[-1]
    followed = len(scores) > 1
    scale = scales.SCALES.get(instrument)
    has_threshold = scale is not None and scale.remission_below is not None
    return {
        "instrument": instrument,
        "baseline": baseline,
        "latest": latest,
        "change": latest["total"] - baseline["total"],
        "response": scales.response(baseline["total"], latest["total"]) if followed else None,
        "remission": (
            scales.remission(instrument, latest["total"]) if followed and has_threshold else None
        ),
        "scores": scores,
    }
