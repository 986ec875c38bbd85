"""The pure parts of the views: statement naming, next follow-up, dose per day,
outcome verdicts, and the worklist's query text."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from projections.current_medications import CurrentMedications, next_follow_up
from projections.outcomes import verdicts
from projections.rebuild import SHADOW
from projections.store import Sql
from projections.timeline import _per_day
from projections.worklist import CHECKS_DUE, WorklistQuery, due_query


class Recording:
    """A cursor that remembers what it was asked to run."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, statement: str, params: Any = None) -> None:
        self.statements.append(statement)


class TestStatementsNameTheirTables:
    def test_braces_stand_for_the_tables_the_transaction_was_given(self) -> None:
        cursor = Recording()
        sql = Sql(cursor, sqlite=True).renamed({"worklist": "worklist_next"})
        sql.execute("UPDATE {worklist} SET due_on = %(due)s", {"due": "2026-03-01"})
        assert cursor.statements == ["UPDATE worklist_next SET due_on = :due"]
        assert sql.table("worklist") == "worklist_next"

    def test_without_a_mapping_statements_run_as_written(self) -> None:
        cursor = Recording()
        Sql(cursor, sqlite=False).execute("SELECT '{not a table}'")
        assert cursor.statements == ["SELECT '{not a table}'"]

    def test_a_shadow_projection_suffixes_every_table_and_its_tracking_name(self) -> None:
        shadow = CurrentMedications(suffix=SHADOW)
        assert shadow.tracking_name == "current_medications_next"
        assert set(shadow.table_names().values()) == {
            f"{table}_next" for table in CurrentMedications.tables
        }
        assert CurrentMedications().table_names() == {t: t for t in CurrentMedications.tables}


PENDING = [
    {"follow_up_id": "a", "prescription_id": "other", "due_on": "2026-03-02", "modality": "x"},
    {"follow_up_id": "b", "prescription_id": None, "due_on": "2026-03-09", "modality": "y"},
    {"follow_up_id": "c", "prescription_id": "rx", "due_on": "2026-03-16", "modality": "z"},
]


class TestNextFollowUp:
    def test_the_soonest_for_this_drug_or_the_whole_plan(self) -> None:
        assert next_follow_up(PENDING, "rx") == {
            "follow_up_id": "b",
            "due_on": "2026-03-09",
            "modality": "y",
        }
        assert next_follow_up(PENDING[2:], "rx")["follow_up_id"] == "c"  # type: ignore[index]

    def test_another_drugs_follow_up_is_not_this_ones(self) -> None:
        assert next_follow_up(PENDING[:1], "rx") is None


@pytest.mark.parametrize(
    ("amount", "frequency", "per_day"),
    [
        ("300", "twice_daily", "600"),
        ("37.5", "daily", "37.5"),
        ("20", "every_other_day", "10"),
        ("1", "as_needed", None),
    ],
)
def test_the_amount_per_day_a_chart_draws(amount: str, frequency: str, per_day: str) -> None:
    assert _per_day(amount, frequency) == per_day


def score(total: int) -> dict[str, Any]:
    return {"total": total, "band": None, "urgent": False, "taken_at": "t", "version": 1}


class TestVerdicts:
    def test_response_is_half_or_more_and_remission_below_five(self) -> None:
        phq9 = verdicts("PHQ-9", [score(18), score(12), score(4)])
        assert (phq9["baseline"]["total"], phq9["latest"]["total"]) == (18, 4)
        assert (phq9["change"], phq9["response"], phq9["remission"]) == (-14, True, True)
        assert verdicts("PHQ-9", [score(18), score(10)])["response"] is False
        assert verdicts("PHQ-9", [score(18), score(9)])["response"] is True

    def test_one_score_is_no_outcome_yet(self) -> None:
        alone = verdicts("PHQ-9", [score(3)])
        assert (alone["change"], alone["response"], alone["remission"]) == (0, None, None)

    def test_an_instrument_without_a_threshold_has_no_remission(self) -> None:
        gad7 = verdicts("GAD-7", [score(15), score(4)])
        assert (gad7["response"], gad7["remission"]) == (True, None)


class TestWorklistQuery:
    def test_the_list_runs_to_the_day_unless_told_otherwise(self) -> None:
        assert WorklistQuery(on=date(2026, 3, 2)).until == date(2026, 3, 2)
        later = WorklistQuery(on=date(2026, 3, 2), to=date(2026, 3, 9))
        assert later.until == date(2026, 3, 9)

    def test_the_prescriber_clause_is_there_only_when_asked(self) -> None:
        everyone = due_query(CHECKS_DUE, "m", WorklistQuery(on=date(2026, 3, 2)))
        one = due_query(CHECKS_DUE, "m", WorklistQuery(on=date(2026, 3, 2), prescriber="dr"))
        assert "scheduled_by =" not in everyone
        assert "AND m.scheduled_by = %(prescriber)s" in one
