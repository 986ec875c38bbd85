"""The audit trail page by page, and request ids from the header to the stored events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from tests.e2e.careplan_api import Api, assert_problem, dose_change
from tests.e2e.conftest import Server

EVENTS_IN_COURSE = 7


@pytest.fixture(scope="module")
def course(prescriber: Api, clinician: Api) -> str:
    """A plan with seven events, three of them by the clinician."""
    plan, rx, follow_up = prescriber.ready_prescription()  # versions 1-4
    assert prescriber.change_dose(plan, rx, dose_change(50)).status_code == 201  # 5
    assert clinician.schedule(plan).status_code == 201  # 6
    assert clinician.complete(plan, follow_up).status_code == 201  # 7
    return plan


def walk(reader: Api, **params: Any) -> tuple[list[list[dict[str, Any]]], list[str | None]]:
    """Follow next_cursor from the first page to the last: (pages, cursors received)."""
    pages: list[list[dict[str, Any]]] = []
    cursors: list[str | None] = []
    cursor = None
    while True:
        query = dict(params, cursor=cursor) if cursor else params
        response = reader.audit(**query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body["entries"])
        cursors.append(body["next_cursor"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages, cursors
        assert len(pages) < 1000, "the cursors never end"


def key(entry: dict[str, Any]) -> tuple[str, int]:
    return entry["care_plan_id"], entry["version"]


class TestAuditTrailPagination:
    def test_a_page_smaller_than_the_trail_gives_a_cursor_to_the_next(
        self, auditor: Api, course: str
    ) -> None:
        body = auditor.audit(care_plan_id=course, limit=2).json()
        assert [e["version"] for e in body["entries"]] == [1, 2]
        assert isinstance(body["next_cursor"], str)
        assert body["next_cursor"]

    def test_following_the_cursors_walks_every_entry_exactly_once_in_order(
        self, auditor: Api, course: str
    ) -> None:
        pages, cursors = walk(auditor, care_plan_id=course, limit=2)
        assert [len(page) for page in pages] == [2, 2, 2, 1]
        assert cursors[-1] is None
        assert None not in cursors[:-1]
        walked = [entry for page in pages for entry in page]
        assert [e["version"] for e in walked] == list(range(1, EVENTS_IN_COURSE + 1))
        assert walked == auditor.audit_entries(course)

    def test_a_page_that_ends_exactly_at_the_last_entry_has_no_cursor(
        self, auditor: Api, course: str
    ) -> None:
        exact = auditor.audit(care_plan_id=course, limit=EVENTS_IN_COURSE).json()
        assert len(exact["entries"]) == EVENTS_IN_COURSE
        assert exact["next_cursor"] is None

    def test_the_whole_trail_across_plans_walks_in_pages_without_gaps_or_repeats(
        self, auditor: Api, prescriber: Api, course: str
    ) -> None:
        prescriber.ready_evaluated_plan()
        everything = auditor.audit(limit=500).json()["entries"]
        pages, _ = walk(auditor, limit=3)
        walked = [entry for page in pages for entry in page]
        assert walked == everything
        assert len({key(e) for e in walked}) == len(walked)
        assert {e["care_plan_id"] for e in walked} >= {course}

    def test_a_cursor_taken_earlier_still_leads_to_entries_added_since(
        self, auditor: Api, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        first = auditor.audit(care_plan_id=plan, limit=1).json()
        assert prescriber.schedule(plan).status_code == 201
        rest, _ = walk(auditor, care_plan_id=plan, limit=1, cursor=first["next_cursor"])
        assert [e["version"] for page in rest for e in page] == [2, 3]

    def test_the_trail_can_be_filtered_by_who_acted(self, auditor: Api, course: str) -> None:
        entries = auditor.audit(care_plan_id=course, actor_id="rn-sam").json()["entries"]
        assert [(e["version"], e["actor"]["id"]) for e in entries] == [(6, "rn-sam"), (7, "rn-sam")]
        assert entries[1]["summary"] == "Follow-up completed (in person): PHQ-9 12"

    def test_a_plan_id_filter_is_matched_whatever_its_case(self, auditor: Api, course: str) -> None:
        upper = auditor.audit(care_plan_id=course.upper(), limit=500).json()["entries"]
        assert upper == auditor.audit_entries(course)

    def test_a_plan_id_filter_that_names_no_plan_matches_nothing(self, auditor: Api) -> None:
        response = auditor.audit(care_plan_id="not-a-plan")
        assert response.status_code == 200
        assert response.json() == {"entries": [], "next_cursor": None}

    @pytest.mark.parametrize(
        "cursor",
        ["garbage", "!!!", "cDEuNQ", "eDEw", "x" * 64, "%%%"],
        ids=["garbage", "punctuation", "fractional-position", "wrong-prefix", "long", "percent"],
    )
    def test_a_cursor_this_api_never_gave_is_refused_with_422(
        self, auditor: Api, course: str, cursor: str
    ) -> None:
        response = auditor.audit(care_plan_id=course, cursor=cursor)
        assert_problem(response, 422, "audit.invalid_cursor")

    def test_an_overlong_cursor_is_refused_with_422(self, auditor: Api) -> None:
        assert_problem(auditor.audit(cursor="c" * 65), 422, "request.invalid")


class TestRequestId:
    def test_a_request_id_sent_is_echoed_and_stored_on_the_events(self, prescriber: Api) -> None:
        request_id = "ehr-7f3a:visit.42_b"
        response = prescriber.open_plan(headers={"X-Request-ID": request_id})
        assert response.status_code == 201
        assert response.headers["X-Request-ID"] == request_id
        [opened] = prescriber.events(response.json()["care_plan_id"])
        assert opened["correlation_id"] == request_id

    def test_one_request_id_covers_every_event_its_command_records(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        response = prescriber.prescribe(plan, headers={"X-Request-ID": "rx-order-1"})
        assert response.status_code == 201
        prescribed, follow_up = prescriber.events(plan)[2:]
        assert (prescribed["type"], follow_up["type"]) == (
            "MedicationPrescribed",
            "FollowUpScheduled",
        )
        assert prescribed["correlation_id"] == follow_up["correlation_id"] == "rx-order-1"

    def test_a_request_id_is_generated_when_none_is_sent(self, prescriber: Api) -> None:
        response = prescriber.open_plan()
        assert response.status_code == 201
        generated = response.headers["X-Request-ID"]
        assert UUID(generated)
        [opened] = prescriber.events(response.json()["care_plan_id"])
        assert opened["correlation_id"] == generated
        assert prescriber.http.get("/health").headers["X-Request-ID"] != generated

    @pytest.mark.parametrize(
        "unsafe",
        ["has spaces", "a" * 129, "semi;colon", "<script>"],
        ids=["spaces", "too-long", "semicolon", "markup"],
    )
    def test_an_unsafe_request_id_is_replaced_by_a_generated_one(
        self, prescriber: Api, unsafe: str
    ) -> None:
        response = prescriber.open_plan(headers={"X-Request-ID": unsafe})
        assert response.status_code == 201
        replaced = response.headers["X-Request-ID"]
        assert UUID(replaced)
        [opened] = prescriber.events(response.json()["care_plan_id"])
        assert opened["correlation_id"] == replaced

    def test_errors_carry_the_request_id_too(self, prescriber: Api, anonymous: Any) -> None:
        headers = {"X-Request-ID": "trace-of-a-refusal"}
        missing = prescriber.http.get("/v1/care-plans/not-a-plan", headers=headers)
        assert_problem(missing, 404, "care_plan.not_found")
        assert missing.headers["X-Request-ID"] == "trace-of-a-refusal"
        unauthenticated = anonymous.get("/v1/audit", headers=headers)
        assert_problem(unauthenticated, 401, "auth.missing_token")
        assert unauthenticated.headers["X-Request-ID"] == "trace-of-a-refusal"


def test_none_of_these_requests_made_the_server_fail(server: Server) -> None:
    """Runs last in the module: the server logged no unexpected error (no 500)."""
    assert server.logged_failures() == []
