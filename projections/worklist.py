"""Follow-up worklist: what a clinic has to chase, by date and by prescriber.

Two kinds of item. Follow-ups: pending ones (due, or overdue when past their
date), and missed ones until the plan has a follow-up booked after the miss
(the patient did not come: someone must call). Monitoring: the checks a drug
requires (``MonitoringScheduled``) that no result has answered yet; a lab
result (or an AIMS score) answers every check of its kind due up to a few days
after it was taken, exactly as the aggregate judges it (``domain.monitoring_plan``).

Unlike the aggregate's ``due_items``, stopping a drug takes its open checks
off the list (a stop in error puts them back), and a prescription or a
monitoring entry in error leaves nothing behind. A closed plan has nothing to
chase. An item belongs to the actor who scheduled it: the prescriber who
started or changed the drug, or whoever booked the follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from domain.care_plan import CarePlan
from domain.labs import LAB_TESTS
from domain.monitoring import MEASUREMENT_CHECKS
from domain.monitoring_plan import EARLY_TOLERANCE
from projections import follow_up_rows, review_rows
from projections.cursors import decode_key, encode_key
from projections.projection import Projection, handlers
from projections.store import Sql, ViewStore, in_list

PLANS = """
CREATE TABLE IF NOT EXISTS {worklist_plans} (
    care_plan_id TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL,
    status TEXT NOT NULL
)"""
FOLLOW_UPS = f"CREATE TABLE IF NOT EXISTS {{worklist_follow_ups}} ({follow_up_rows.COLUMNS})"
MONITORING = """
CREATE TABLE IF NOT EXISTS {worklist_monitoring} (
    care_plan_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    item INTEGER NOT NULL,
    prescription_id TEXT NOT NULL,
    drug TEXT NOT NULL,
    test TEXT NOT NULL,
    due_on TEXT NOT NULL,
    counts_from TEXT NOT NULL,
    reason TEXT NOT NULL,
    scheduled_by TEXT NOT NULL,
    done_version INTEGER,
    void TEXT,
    PRIMARY KEY (care_plan_id, version, item)
)"""
# Results that answer a check: lab results, AIMS scores (alone or at a visit).
CHECKS = """
CREATE TABLE IF NOT EXISTS {worklist_checks} (
    care_plan_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    item INTEGER NOT NULL,
    check_name TEXT NOT NULL,
    taken_on TEXT NOT NULL,
    PRIMARY KEY (care_plan_id, version, item)
)"""
INDEXES = (
    # "Which plans does this patient have?" (one open at a time, GET /v1/care-plans).
    "CREATE INDEX IF NOT EXISTS {worklist_plans}_by_patient ON {worklist_plans} (patient_id)",
    # The daily list reads follow-ups by status and date, for everyone or for one
    # prescriber: the status leads (two values), the date is a range after it.
    # The index ends in the list's whole sort key, so a page after a cursor starts
    # where the index says, not after sorting everything due.
    "CREATE INDEX IF NOT EXISTS {worklist_follow_ups}_due_page "
    "ON {worklist_follow_ups} (status, due_on, care_plan_id, follow_up_id)",
    "CREATE INDEX IF NOT EXISTS {worklist_follow_ups}_by_prescriber_page "
    "ON {worklist_follow_ups} (scheduled_by, status, due_on, care_plan_id, follow_up_id)",
    # "Was anything booked for this plan after the miss?"
    "CREATE INDEX IF NOT EXISTS {worklist_follow_ups}_by_plan "
    "ON {worklist_follow_ups} (care_plan_id, scheduled_version)",
    # Open checks only (partial indexes): answered ones pile up over the years and
    # are never read by the list, so they are not in these indexes at all.
    "CREATE INDEX IF NOT EXISTS {worklist_monitoring}_open_page "
    "ON {worklist_monitoring} (due_on, care_plan_id, version, item) "
    "WHERE done_version IS NULL AND void IS NULL",
    "CREATE INDEX IF NOT EXISTS {worklist_monitoring}_open_by_prescriber_page "
    "ON {worklist_monitoring} (scheduled_by, due_on, care_plan_id, version, item) "
    "WHERE done_version IS NULL AND void IS NULL",
    "CREATE INDEX IF NOT EXISTS {worklist_monitoring}_by_prescription "
    "ON {worklist_monitoring} (prescription_id)",
    # A new result re-judges the plan's checks of its kind.
    "CREATE INDEX IF NOT EXISTS {worklist_checks}_by_kind "
    "ON {worklist_checks} (care_plan_id, check_name, taken_on)",
)

# A check is answered by the first result of its kind taken on or after counts_from.
_ANSWER = """(
       SELECT MIN(c.version) FROM {worklist_checks} c
        WHERE c.care_plan_id = {worklist_monitoring}.care_plan_id
          AND c.check_name = {worklist_monitoring}.test
          AND c.taken_on >= {worklist_monitoring}.counts_from)"""
# Only the checks whose answer changes are written (versions are positive, so -1
# stands for "none" on both sides): rewriting every check of the plan on every
# result cost a row version and its index entries each time.
_JUDGE = f"""
UPDATE {{worklist_monitoring}}
   SET done_version = {_ANSWER}
 WHERE care_plan_id = %(plan)s
   AND COALESCE(done_version, -1) <> COALESCE({_ANSWER}, -1)"""  # noqa: S608 (fixed text)


class Worklist(Projection):
    name = "worklist"
    tables = (
        "worklist_plans",
        "worklist_follow_ups",
        "worklist_monitoring",
        "worklist_checks",
        "worklist_reviews",
    )
    schema = (PLANS, FOLLOW_UPS, MONITORING, CHECKS, *INDEXES, review_rows.TABLE, review_rows.INDEX)

    def process(self, event: Any, sql: Sql, position: int) -> None:
        follow_up_rows.apply(event, sql, sql.table("worklist_follow_ups"))
        review_rows.apply(event, sql, sql.table("worklist_reviews"))
        self._apply(event, sql)

    @handlers
    def _apply(self, event: Any, sql: Sql) -> None:
        """Events that change no check and no plan status."""

    @_apply.register
    def _opened(self, event: CarePlan.CarePlanOpened, sql: Sql) -> None:
        sql.execute(
            "INSERT INTO {worklist_plans} VALUES (%(plan)s, %(patient)s, 'open') "
            "ON CONFLICT (care_plan_id) DO NOTHING",
            {"plan": str(event.originator_id), "patient": event.patient_id},
        )

    @_apply.register
    def _closed(self, event: CarePlan.CarePlanClosed, sql: Sql) -> None:
        sql.execute(
            "UPDATE {worklist_plans} SET status = 'closed' WHERE care_plan_id = %(plan)s",
            {"plan": str(event.originator_id)},
        )

    @_apply.register
    def _scheduled(self, event: CarePlan.MonitoringScheduled, sql: Sql) -> None:
        for number, item in enumerate(event.items):
            sql.execute(
                """
                INSERT INTO {worklist_monitoring} VALUES (
                    %(plan)s, %(version)s, %(item)s, %(rx)s, %(drug)s, %(test)s, %(due)s,
                    %(counts_from)s, %(reason)s, %(actor)s, NULL, NULL)
                ON CONFLICT (care_plan_id, version, item) DO NOTHING""",
                {
                    "plan": str(event.originator_id),
                    "version": event.originator_version,
                    "item": number,
                    "rx": event.prescription_id,
                    "drug": event.drug,
                    "test": item.test,
                    "due": item.due_on.isoformat(),
                    "counts_from": (item.due_on - EARLY_TOLERANCE).isoformat(),
                    "reason": item.reason,
                    "actor": event.actor.id,
                },
            )
        _judge(sql, str(event.originator_id))  # a result may have come first

    @_apply.register
    def _lab_result(self, event: CarePlan.LabResultRecorded, sql: Sql) -> None:
        check = LAB_TESTS[event.test].monitors
        _results(sql, event, [(check, event.collected_at.date())])

    @_apply.register
    def _measured(self, event: CarePlan.MeasurementRecorded, sql: Sql) -> None:
        if event.instrument in MEASUREMENT_CHECKS:
            check = MEASUREMENT_CHECKS[event.instrument]
            _results(sql, event, [(check, event.occurred_at.date())])

    @_apply.register
    def _visited(self, event: CarePlan.FollowUpCompleted, sql: Sql) -> None:
        taken = [
            (MEASUREMENT_CHECKS[m.instrument], event.occurred_at.date())
            for m in event.measurements
            if m.instrument in MEASUREMENT_CHECKS
        ]
        if taken:
            _results(sql, event, taken)

    @_apply.register
    def _stopped(self, event: CarePlan.MedicationDiscontinued, sql: Sql) -> None:
        _void(sql, "prescription_id = %(rx)s", {"rx": event.prescription_id}, "stopped")

    @_apply.register
    def _marked_in_error(self, event: CarePlan.EntryMarkedInError, sql: Sql) -> None:
        plan = str(event.originator_id)
        params = {"plan": plan, "rx": event.subject_id, "entry": event.entry_version}
        kind = event.entry_type
        if kind in ("LabResultRecorded", "MeasurementRecorded", "FollowUpCompleted"):
            sql.execute(
                "DELETE FROM {worklist_checks} "
                "WHERE care_plan_id = %(plan)s AND version = %(entry)s",
                params,
            )
            _judge(sql, plan)
        elif kind == "MedicationPrescribed":
            _void(sql, "prescription_id = %(rx)s", params, "entered_in_error")
        elif kind == "MonitoringScheduled":
            _void(
                sql, "care_plan_id = %(plan)s AND version = %(entry)s", params, "entered_in_error"
            )
        elif kind == "MedicationDiscontinued" and "status" in event.restores:
            sql.execute(
                "UPDATE {worklist_monitoring} SET void = NULL "
                "WHERE prescription_id = %(rx)s AND void = 'stopped'",
                params,
            )


def _results(sql: Sql, event: Any, taken: list[tuple[str, date]]) -> None:
    plan = str(event.originator_id)
    for number, (check, on) in enumerate(taken):
        sql.execute(
            """
            INSERT INTO {worklist_checks}
            VALUES (%(plan)s, %(version)s, %(item)s, %(check)s, %(on)s)
            ON CONFLICT (care_plan_id, version, item) DO NOTHING""",
            {
                "plan": plan,
                "version": event.originator_version,
                "item": number,
                "check": check,
                "on": on.isoformat(),
            },
        )
    _judge(sql, plan)


def _judge(sql: Sql, plan: str) -> None:
    """Re-judge the plan's checks against its results (a plan has dozens at most)."""
    sql.execute(_JUDGE, {"plan": plan})


def _void(sql: Sql, where: str, params: dict[str, Any], why: str) -> None:
    sql.execute(
        "UPDATE {worklist_monitoring} SET void = %(why)s "  # noqa: S608 (fixed clauses)
        f"WHERE {where} AND void IS NULL",
        {**params, "why": why},
    )


#: Where an item sits in the list: (due_on, care_plan_id, kind, follow_up_id, version,
#: item); a follow-up has version and item 0, a check an empty follow_up_id. Unique,
#: so a page can start strictly after the last item of the one before.
WorklistKey = tuple[str, str, str, str, int, int]
CURSOR_PREFIX = "w"
CURSOR_SHAPE = (str, str, str, str, int, int)


@dataclass(frozen=True)
class WorklistQuery:
    """Items due on or before ``to`` (default: ``on``) and, if given, on or after
    ``since``; overdue means due before ``on``. ``after``: the key of the last item
    of the page before (the next page starts after it)."""

    on: date
    prescriber: str | None = None
    since: date | None = None
    to: date | None = None
    limit: int = 500
    after: WorklistKey | None = None
    #: Only these plans (the caller's care teams); None: every plan.
    care_plans: frozenset[str] | None = None

    @property
    def until(self) -> date:
        return self.to or self.on


# Both lists are read through an index on (status or open, date, plan, id), or with
# a prescriber through the one on (prescriber, status or open, date, plan, id); the
# filters on the prescriber and the cursor are left out of the text when not asked
# for, so the planner sees plain comparisons it can use.
PRESCRIBER = "AND {alias}.scheduled_by = %(prescriber)s"
PRESCRIBER_OF_REVIEW = "AND r.prescriber = %(prescriber)s"
FOLLOW_UPS_DUE = """
SELECT f.follow_up_id, f.care_plan_id, p.patient_id, f.prescription_id, f.due_on, f.modality,
       f.purpose, f.status, f.scheduled_by
  FROM worklist_follow_ups f JOIN worklist_plans p ON p.care_plan_id = f.care_plan_id
 WHERE f.status IN ('scheduled', 'missed') AND f.due_on <= %(until)s AND f.due_on >= %(since)s
   {prescriber} {after}
   AND p.status = 'open'
   AND (f.status = 'scheduled' OR NOT EXISTS (
        SELECT 1 FROM worklist_follow_ups later
         WHERE later.care_plan_id = f.care_plan_id
           AND later.scheduled_version > f.closed_version
           AND later.status <> 'entered_in_error'))
 ORDER BY f.due_on, f.care_plan_id, f.follow_up_id
 LIMIT %(limit)s"""
CHECKS_DUE = """
SELECT m.care_plan_id, p.patient_id, m.prescription_id, m.drug, m.test, m.due_on, m.reason,
       m.scheduled_by, m.version, m.item
  FROM worklist_monitoring m JOIN worklist_plans p ON p.care_plan_id = m.care_plan_id
 WHERE m.done_version IS NULL AND m.void IS NULL
   AND m.due_on <= %(until)s AND m.due_on >= %(since)s
   {prescriber} {after}
   AND p.status = 'open'
 ORDER BY m.due_on, m.care_plan_id, m.version, m.item
 LIMIT %(limit)s"""
# After a cursor: "follow_up" sorts before "monitoring" within one plan and day, so
# after a follow-up come that plan's later follow-ups and all its checks that day;
# after a check, only later checks, and follow-ups of later plans or days.
# Reviews sort last within a plan and day ("review" after "monitoring").
AFTER = {
    ("f", "follow_up"): "AND (f.due_on, f.care_plan_id, f.follow_up_id) "
    "> (%(a_due)s, %(a_plan)s, %(a_id)s)",
    ("f", "monitoring"): "AND (f.due_on, f.care_plan_id) > (%(a_due)s, %(a_plan)s)",
    ("f", "review"): "AND (f.due_on, f.care_plan_id) > (%(a_due)s, %(a_plan)s)",
    ("m", "follow_up"): "AND (m.due_on, m.care_plan_id) >= (%(a_due)s, %(a_plan)s)",
    ("m", "monitoring"): "AND (m.due_on, m.care_plan_id, m.version, m.item) "
    "> (%(a_due)s, %(a_plan)s, %(a_version)s, %(a_item)s)",
    ("m", "review"): "AND (m.due_on, m.care_plan_id) > (%(a_due)s, %(a_plan)s)",
    ("r", "follow_up"): "AND (r.due_on, r.care_plan_id) >= (%(a_due)s, %(a_plan)s)",
    ("r", "monitoring"): "AND (r.due_on, r.care_plan_id) >= (%(a_due)s, %(a_plan)s)",
    ("r", "review"): "AND (r.due_on, r.care_plan_id, r.prescription_id) "
    "> (%(a_due)s, %(a_plan)s, %(a_id)s)",
}


def plans_of_patient(store: ViewStore, patient_id: str) -> list[dict[str, Any]]:
    """A patient's plans, open ones first, each with its status."""
    with store.reading() as sql:
        return sql.execute(
            "SELECT care_plan_id, patient_id, status FROM worklist_plans "
            "WHERE patient_id = %(patient)s ORDER BY status DESC, care_plan_id",
            {"patient": patient_id},
        ).fetchall()


def worklist(store: ViewStore, query: WorklistQuery) -> tuple[list[dict[str, Any]], bool]:
    """The items due, soonest first, and whether ``limit`` cut the list short."""
    items, next_after = worklist_page(store, query)
    return items, next_after is not None


def worklist_page(
    store: ViewStore, query: WorklistQuery
) -> tuple[list[dict[str, Any]], WorklistKey | None]:
    """One page of items in key order, and the key to continue after (None: the end)."""
    if query.care_plans is not None and not query.care_plans:
        return [], None  # on no care team: nothing to list
    params: dict[str, Any] = {
        "until": query.until.isoformat(),
        "since": (query.since or date.min).isoformat(),
        "prescriber": query.prescriber,
        "limit": query.limit + 1,
    }
    team, plans = care_team_clause(query.care_plans)
    params.update(plans)
    if query.after is not None:
        due, plan, _, follow_up, version, item = query.after
        params.update(a_due=due, a_plan=plan, a_id=follow_up, a_version=version, a_item=item)
    with store.reading() as sql:
        follow_ups = sql.execute(due_query(FOLLOW_UPS_DUE, "f", query, team), params).fetchall()
        checks = sql.execute(due_query(CHECKS_DUE, "m", query, team), params).fetchall()
        reviews = sql.execute(
            due_query(review_rows.REVIEWS_DUE, "r", query, team), params
        ).fetchall()
    keyed = [(_follow_up_key(row), _follow_up_item(row, query.on)) for row in follow_ups]
    keyed += [(_check_key(row), _check_item(row, query.on)) for row in checks]
    keyed += [(_review_key(row), review_rows.review_item(row, query.on)) for row in reviews]
    keyed.sort(key=lambda pair: pair[0])
    page = keyed[: query.limit]
    more = len(keyed) > query.limit
    return [item for _, item in page], (page[-1][0] if more and page else None)


def encode_worklist_cursor(key: WorklistKey) -> str:
    return encode_key(CURSOR_PREFIX, key)


def decode_worklist_cursor(cursor: str) -> WorklistKey:
    """The key a worklist page ended on; ValueError for anything this API did not give."""
    # decode_key has checked each part's type against CURSOR_SHAPE.
    key = cast(WorklistKey, decode_key(cursor, CURSOR_PREFIX, CURSOR_SHAPE))
    try:
        date.fromisoformat(key[0])
    except ValueError:
        raise ValueError("invalid cursor") from None
    if key[2] not in ("follow_up", "monitoring", "review"):
        raise ValueError("invalid cursor")
    return key


def _follow_up_key(row: dict[str, Any]) -> WorklistKey:
    return (str(row["due_on"]), row["care_plan_id"], "follow_up", row["follow_up_id"], 0, 0)


def _review_key(row: dict[str, Any]) -> WorklistKey:
    return (str(row["due_on"]), row["care_plan_id"], "review", row["prescription_id"], 0, 0)


def _check_key(row: dict[str, Any]) -> WorklistKey:
    return (str(row["due_on"]), row["care_plan_id"], "monitoring", "", row["version"], row["item"])


def care_team_clause(plans: frozenset[str] | None) -> tuple[str, dict[str, str]]:
    """Only these plans' items (a clause for ``due_query``, and its values); None: all."""
    if plans is None:
        return "", {}
    among, params = in_list("team", sorted(plans))
    return f"AND {{alias}}.care_plan_id IN ({among})", params


def due_query(template: str, alias: str, query: WorklistQuery, team: str = "") -> str:
    """The statement for ``query``: with the prescriber, care-team and cursor clauses
    only when asked (``team``: an ``IN`` clause with ``{alias}`` to fill)."""
    mine = PRESCRIBER_OF_REVIEW if alias == "r" else PRESCRIBER.format(alias=alias)
    clause = mine if query.prescriber is not None else ""
    clause += " " + team.format(alias=alias) if team else ""
    after = AFTER[(alias, query.after[2])] if query.after is not None else ""
    return template.format(prescriber=clause, after=after)


def _follow_up_item(row: dict[str, Any], on: date) -> dict[str, Any]:
    due_on = date.fromisoformat(str(row["due_on"]))
    return {
        "kind": "follow_up",
        "care_plan_id": row["care_plan_id"],
        "patient_id": row["patient_id"],
        "due_on": due_on,
        "overdue": due_on < on,
        "status": row["status"],
        "prescriber_id": row["scheduled_by"],
        "prescription_id": row["prescription_id"],
        "follow_up_id": row["follow_up_id"],
        "modality": row["modality"],
        "purpose": row["purpose"],
    }


def _check_item(row: dict[str, Any], on: date) -> dict[str, Any]:
    due_on = date.fromisoformat(str(row["due_on"]))
    return {
        "kind": "monitoring",
        "care_plan_id": row["care_plan_id"],
        "patient_id": row["patient_id"],
        "due_on": due_on,
        "overdue": due_on < on,
        "status": "due",
        "prescriber_id": row["scheduled_by"],
        "prescription_id": row["prescription_id"],
        "drug": row["drug"],
        "test": row["test"],
        "purpose": row["reason"],
    }
