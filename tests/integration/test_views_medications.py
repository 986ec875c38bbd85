"""Current medications and as_of, on both stores: the view says what the plan says,
after every step of a course, and as_of says what they said at any earlier moment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.values import utc_iso
from projections.current_medications import active_medications, medications_of
from projections.versions import version_at
from services.application import CommandResult
from services.bootstrap import Careplan
from tests.integration.course import play


def by_drug(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["drug"]: row for row in rows}


class TestCurrentMedications:
    def test_after_every_step_the_view_equals_the_plan_itself(self, careplan: Careplan) -> None:
        seen: dict[str, list[dict[str, Any]]] = {}
        differ: list[str] = []

        def check(name: str, result: CommandResult) -> None:
            plan = str(result.care_plan_id)
            seen[name] = active_medications(careplan.views, plan)
            if seen[name] != medications_of(careplan.app.care_plan(plan)):
                differ.append(name)

        course = play(careplan.app, "pt-meds", check)
        assert differ == []

        trazodone = by_drug(seen["prescribe trazodone"])["trazodone"]
        assert trazodone["pending_acknowledgements"] == 1  # dose.above_usual_start waits
        assert by_drug(seen["taper trazodone"])["trazodone"]["status"] == "tapering"
        stepped = by_drug(seen["taper step"])["trazodone"]
        assert (stepped["status"], stepped["dose_amount"]) == ("tapering", "100")
        assert stepped["pending_acknowledgements"] == 0  # a new dose is judged afresh
        assert "trazodone" not in by_drug(seen["stop trazodone"])
        assert "bupropion" in by_drug(seen["prescribe bupropion"])
        assert "bupropion" not in by_drug(seen["bupropion in error"])

        assert by_drug(seen["prescribe lithium"])["lithium"]["pending_acknowledgements"] == 1
        acknowledged = next(name for name in seen if name.startswith("acknowledge"))
        assert by_drug(seen[acknowledged])["lithium"]["pending_acknowledgements"] == 0

        raised = by_drug(seen["raise again"])["sertraline"]
        assert (raised["dose_amount"], raised["pending_acknowledgements"]) == ("150", 1)
        undone = by_drug(seen["raise in error"])["sertraline"]
        assert (undone["dose_amount"], undone["pending_acknowledgements"]) == ("50", 0)
        assert undone["last_changed_at"] == utc_iso(course.day(26))  # when it was undone
        assert undone["last_changed_by"] == "dr-ada"

    def test_the_next_follow_up_is_the_drugs_own_or_the_plans(self, careplan: Careplan) -> None:
        seen: dict[str, dict[str, dict[str, Any]]] = {}
        course = play(
            careplan.app,
            "pt-next",
            lambda name, result: seen.__setitem__(
                name, by_drug(active_medications(careplan.views, str(result.care_plan_id)))
            ),
        )

        def next_due(step: str, drug: str) -> str | None:
            follow_up = seen[step][drug]["next_follow_up"]
            return None if follow_up is None else follow_up["due_on"]

        def day(n: int) -> str:
            return course.day(n).date().isoformat()

        assert next_due("prescribe lithium", "sertraline") == day(14)
        assert next_due("prescribe lithium", "lithium") == day(7)
        assert next_due("reschedule lithium review", "lithium") == day(28)
        assert next_due("first visit", "sertraline") == day(21)
        assert next_due("missed", "sertraline") is None  # nothing booked for it any more
        assert next_due("rebooked", "sertraline") == day(35)  # booked for the whole plan
        assert next_due("rebooked", "lithium") == day(28)


class TestAsOf:
    def test_each_moment_answers_the_version_and_the_list_of_then(self, careplan: Careplan) -> None:
        before = datetime.now(UTC)
        moments: list[tuple[datetime, int, list[dict[str, Any]]]] = []
        first: list[str] = []

        def remember(name: str, result: CommandResult) -> None:
            plan = str(result.care_plan_id)
            first.append(first[0] if first else plan)
            if plan == first[0]:
                rows = active_medications(careplan.views, plan)
                moments.append((datetime.now(UTC), result.version, rows))

        course = play(careplan.app, "pt-as-of", remember)
        plan = str(course.plan)
        assert version_at(careplan.views, plan, before) is None
        for moment, version, rows in moments:
            assert version_at(careplan.views, plan, moment) == version
            assert medications_of(careplan.app.care_plan(plan, version=version)) == rows
        # Recording time, not clinical time: the course happened 40 days "ago" clinically.
        assert version_at(careplan.views, plan, course.day(39)) is None
