"""Time → version: which version of each plan had been recorded by a given moment.

Answers "what did the record say at 14:02 on 3 March?" (``as_of``): the plan's
last version recorded by then, which the application then loads from the event
store (``CarePlans.care_plan(id, version=n)``). The time is *recording* time (the
event's timestamp: when it became known), not clinical time (``occurred_at``,
which a late entry backdates): as_of shows the record as it was known then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.values import utc_iso
from projections.projection import Projection
from projections.store import Sql, ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS {plan_versions} (
    care_plan_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (care_plan_id, version)
)"""
# The lookup is "the latest of this plan recorded by t": plan, then time, then version,
# so it is one descent of the index, however long the plan's history.
INDEX = """
CREATE INDEX IF NOT EXISTS {plan_versions}_by_time
    ON {plan_versions} (care_plan_id, recorded_at, version)"""


class PlanVersions(Projection):
    name = "plan_versions"
    tables = ("plan_versions",)
    schema = (TABLE, INDEX)

    def process(self, event: Any, sql: Sql, position: int) -> None:
        sql.defer(
            """
            INSERT INTO {plan_versions} VALUES (%(plan)s, %(version)s, %(recorded)s)
            ON CONFLICT (care_plan_id, version) DO NOTHING""",
            {
                "plan": str(event.originator_id),
                "version": event.originator_version,
                "recorded": utc_iso(event.timestamp),
            },
        )


QUERY = """
SELECT version FROM plan_versions
 WHERE care_plan_id = %(plan)s AND recorded_at <= %(at)s
 ORDER BY recorded_at DESC, version DESC
 LIMIT 1"""


def version_at(store: ViewStore, care_plan_id: str, moment: datetime) -> int | None:
    """The plan's last version recorded at or before ``moment`` (None: not yet opened)."""
    with store.reading() as sql:
        row = sql.execute(QUERY, {"plan": care_plan_id, "at": utc_iso(moment)}).fetchone()
    return None if row is None else int(row["version"])
