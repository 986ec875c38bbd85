"""Inputs the server accepts must stay readable: in the history, the views, the cursor.

Each test states the rule a clinical app relies on; each once found a defect
(a 500 after storing, a stalled view, an unreadable history) and guards it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.careplan_api import Api, assert_problem, client, prescription
from tests.e2e.conftest import Server


@pytest.fixture
def closing(server: Server) -> Iterator[Api]:
    """A prescriber whose connections close after each answer (a 500 drops the connection)."""
    with client(
        server.base_url, role="prescriber", sub="dr-ada", headers={"Connection": "close"}
    ) as http:
        yield Api(http)


class TestClinicalTimes:
    def test_a_late_entry_with_a_time_zone_is_shown_in_utc_in_the_history(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_plan()
        day = (datetime.now(UTC) - timedelta(days=3)).date()
        body = {"due_on": str(day + timedelta(days=7)), "occurred_at": f"{day}T20:00:00-08:00"}
        assert prescriber.schedule(plan, body).status_code == 201
        scheduled = prescriber.events(plan)[-1]
        assert scheduled["occurred_at"] == f"{day + timedelta(days=1)}T04:00:00Z"

    def test_a_clinical_time_before_1900_is_refused_and_the_history_stays_readable(
        self, closing: Api
    ) -> None:
        plan = closing.ready_plan()
        body = {"due_on": "0001-01-01", "occurred_at": "0001-01-01T00:00:00+14:00"}
        assert_problem(closing.schedule(plan, body), 422, "request.invalid")  # no UTC time
        body = {"due_on": "1899-12-31", "occurred_at": "1899-12-31T00:00:00Z"}
        assert_problem(closing.schedule(plan, body), 422, "time.implausible")
        history = closing.history(plan)
        assert history.status_code == 200, history.text
        assert [e["type"] for e in history.json()["events"]] == ["CarePlanOpened"]

    def test_nothing_can_happen_before_the_plan_was_opened(self, closing: Api) -> None:
        plan = closing.ready_plan()
        body = {"due_on": "2001-01-10", "occurred_at": "2001-01-01T00:00:00Z"}
        assert_problem(closing.schedule(plan, body), 422, "time.before_plan_opened")

    def test_medications_are_listed_oldest_first_whatever_zone_their_times_were_given_in(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        day = (datetime.now(UTC) - timedelta(days=2)).date()
        later = prescription("sertraline", "25", occurred_at=f"{day}T20:00:00-08:00")
        earlier = prescription(
            "mirtazapine",
            "15",
            follow_up_in_days=None,
            occurred_at=f"{day + timedelta(days=1)}T01:00:00Z",
        )
        assert prescriber.prescribe(plan, later).status_code == 201
        assert prescriber.prescribe(plan, earlier).status_code == 201
        drugs = [drug for drug, _, _ in prescriber.active_drugs(plan)]
        assert drugs == ["mirtazapine", "sertraline"]


class TestAmounts:
    @pytest.mark.parametrize("sent", ["1e2", 1e2], ids=["string", "number"])
    def test_an_amount_in_exponent_notation_is_shown_in_plain_decimal_form(
        self, prescriber: Api, sent: object
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        assert prescriber.prescribe(plan, prescription("lithium", sent)).status_code == 201
        [(_, amount, _)] = prescriber.active_drugs(plan)
        assert amount == "100"


class TestAuditCursor:
    def test_a_cursor_beyond_any_position_is_refused(self, closing: Api) -> None:
        forged = base64.urlsafe_b64encode(b"p" + b"9" * 30).decode().rstrip("=")
        assert_problem(closing.audit(cursor=forged), 422, "audit.invalid_cursor")


class TestFreeTextReachesTheViews:
    @pytest.mark.parametrize("text", ["sertra\u0000line", "sertraline\u001b[31m"])
    def test_a_control_character_in_a_drug_name_is_refused_and_the_views_keep_going(
        self, closing: Api, text: str
    ) -> None:
        plan = closing.ready_evaluated_plan()
        assert_problem(closing.prescribe(plan, prescription(text)), 422, "request.invalid")
        assert [e["type"] for e in closing.events(plan)][-1] == "EvaluationRecorded"
        other = closing.ready_evaluated_plan()
        assert closing.prescribe(other, prescription("fluoxetine", "20")).status_code == 201
        assert closing.active_drugs(other) == [("fluoxetine", "20", "mg")]
