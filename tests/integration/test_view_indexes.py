"""Every query the API makes of a view is answered through an index, on both stores.

SQLite reports a full table scan as ``SCAN <table>`` (an index scan says ``USING
INDEX``); PostgreSQL, told to avoid sequential scans where it can, still shows
``Seq Scan`` when no index serves the query (its planner prefers a scan of a tiny
table, hence the setting).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from projections import current_medications, outcomes, timeline, versions, worklist
from projections.worklist import WorklistQuery, care_team_clause, due_query
from services.bootstrap import Careplan

PLAN = {"plan": "00000000-0000-0000-0000-000000000001"}
DUE = {"until": "2026-12-01", "since": "0001-01-01", "prescriber": "dr-ada", "limit": 501}
EVERYONE = WorklistQuery(on=date(2026, 12, 1))
ONE = WorklistQuery(on=date(2026, 12, 1), prescriber="dr-ada")
AFTER_FOLLOW_UP = WorklistQuery(
    on=date(2026, 12, 1), after=("2026-11-01", PLAN["plan"], "follow_up", "fu", 0, 0)
)
AFTER_CHECK = WorklistQuery(
    on=date(2026, 12, 1),
    prescriber="dr-ada",
    after=("2026-11-01", PLAN["plan"], "monitoring", "", 3, 1),
)
PAGE = {
    **DUE,
    "a_due": "2026-11-01",
    "a_plan": PLAN["plan"],
    "a_id": "fu",
    "a_version": 3,
    "a_item": 1,
}

QUERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "medications": (current_medications.MEDICATIONS_QUERY, PLAN),
    "medications: next follow-ups": (current_medications.PENDING_FOLLOW_UPS_QUERY, PLAN),
    "as_of": (versions.QUERY, {**PLAN, "at": datetime.now(UTC).isoformat()}),
    "timeline": (timeline.QUERY, PLAN),
    "outcomes": (outcomes.QUERY, PLAN),
    "worklist follow-ups": (due_query(worklist.FOLLOW_UPS_DUE, "f", EVERYONE), DUE),
    "worklist follow-ups by prescriber": (due_query(worklist.FOLLOW_UPS_DUE, "f", ONE), DUE),
    "worklist checks": (due_query(worklist.CHECKS_DUE, "m", EVERYONE), DUE),
    "worklist checks by prescriber": (due_query(worklist.CHECKS_DUE, "m", ONE), DUE),
    "worklist follow-ups, next page": (
        due_query(worklist.FOLLOW_UPS_DUE, "f", AFTER_FOLLOW_UP),
        PAGE,
    ),
    "worklist checks, next page": (due_query(worklist.CHECKS_DUE, "m", AFTER_FOLLOW_UP), PAGE),
    "worklist follow-ups by prescriber, next page": (
        due_query(worklist.FOLLOW_UPS_DUE, "f", AFTER_CHECK),
        PAGE,
    ),
    "worklist checks by prescriber, next page": (
        due_query(worklist.CHECKS_DUE, "m", AFTER_CHECK),
        PAGE,
    ),
}
TEAM_CLAUSE, TEAM_PLANS = care_team_clause(
    frozenset({PLAN["plan"], "00000000-0000-0000-0000-000000000002"})
)
TEAM = {**DUE, **TEAM_PLANS}
QUERIES |= {
    f"worklist {kind} of a care team": (due_query(template, alias, EVERYONE, TEAM_CLAUSE), TEAM)
    for kind, template, alias in (
        ("follow-ups", worklist.FOLLOW_UPS_DUE, "f"),
        ("checks", worklist.CHECKS_DUE, "m"),
    )
}
FULL_SCAN = re.compile(r"^SCAN \w+$")


@pytest.mark.parametrize("name", QUERIES)
def test_the_query_uses_an_index(careplan: Careplan, name: str) -> None:
    statement, params = QUERIES[name]
    with careplan.views.reading() as sql:
        if careplan.views.is_sqlite:
            plan = sql.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            details = [row["detail"] for row in plan]
            assert not [d for d in details if FULL_SCAN.match(d)], details
        else:
            sql.execute("SET LOCAL enable_seqscan = off")
            plan = sql.execute(f"EXPLAIN {statement}", params).fetchall()
            lines = [next(iter(row.values())) for row in plan]
            assert not [line for line in lines if "Seq Scan" in line], lines
