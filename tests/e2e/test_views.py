"""The views through the real server: current medications (and as_of), the timeline,
the worklist, outcomes and readiness; who may read them, and what bad input gets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.careplan_api import Api, assert_problem, dose_change, due, prescription, today
from tests.e2e.monitoring_api import ago, created, measurement

LITHIUM_BASELINE = {"renal_function", "thyroid_function", "calcium"}


@dataclass
class Course:
    """Sertraline 25 → 50 mg then tapering, lithium started today, PHQ-9 16 → 7."""

    plan: str
    sertraline: str
    lithium: str
    #: Recording time just after each step, as the client saw it.
    moments: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def course(prescriber: Api, clinician: Api) -> Course:
    moments: dict[str, str] = {}

    def moment(name: str) -> None:
        time.sleep(0.01)  # recording times are microseconds; keep the moments apart
        moments[name] = datetime.now(UTC).isoformat()

    plan, sertraline, _ = prescriber.ready_prescription("patient-views")
    moment("sertraline")
    lithium = created(
        prescriber.prescribe(
            plan, prescription("lithium", "300", frequency="twice_daily", follow_up_in_days=None)
        )
    )["prescription_id"]
    moment("lithium")
    created(prescriber.change_dose(plan, sertraline, dose_change("50")))
    moment("raised")
    created(measurement(clinician, plan, total=16, occurred_at=ago(10)))
    created(measurement(clinician, plan, total=7))
    taper = {"steps": [{"starts_on": due(7), "dose": {"amount": "25", "unit": "mg"}}]}
    response = prescriber.http.post(
        f"/v1/care-plans/{plan}/prescriptions/{sertraline}/taper",
        json={**taper, "reason": "remission; plan to stop"},
    )
    created(response)
    moment("tapering")
    return Course(plan, sertraline, lithium, moments)


def get(api: Api, path: str, **params: Any) -> httpx.Response:
    return api.http.get(path, params=params)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestCurrentMedications:
    def test_a_tapering_drug_is_listed_with_its_status_changes_and_follow_up(
        self, prescriber: Api, course: Course
    ) -> None:
        medications = {m["drug"]: m for m in ok(prescriber.medications(course.plan))["medications"]}
        assert set(medications) == {"sertraline", "lithium"}
        sertraline = medications["sertraline"]
        assert (sertraline["status"], sertraline["dose"]["amount"]) == ("tapering", "50")
        assert sertraline["last_changed_by"] == "dr-ada"
        assert sertraline["next_follow_up"]["due_on"] == due(14)
        assert medications["lithium"]["status"] == "active"

    def test_pending_acknowledgements_are_counted_as_the_plan_holds_them(
        self, prescriber: Api, course: Course
    ) -> None:
        held = ok(prescriber.plan(course.plan))["pending_acknowledgements"]
        for medication in ok(prescriber.medications(course.plan))["medications"]:
            waiting = [w for w in held if w["subject_id"] == medication["prescription_id"]]
            assert medication["pending_acknowledgements"] == len(waiting)


class TestAsOf:
    def test_medications_as_they_were_recorded_then(self, auditor: Api, course: Course) -> None:
        path = f"/v1/care-plans/{course.plan}/medications"
        first = ok(get(auditor, path, as_of=course.moments["sertraline"]))
        assert [(m["drug"], m["dose"]["amount"]) for m in first["medications"]] == [
            ("sertraline", "25")
        ]
        assert first["as_of"] is not None
        raised = ok(get(auditor, path, as_of=course.moments["raised"]))
        assert {(m["drug"], m["dose"]["amount"], m["status"]) for m in raised["medications"]} == {
            ("sertraline", "50", "active"),
            ("lithium", "300", "active"),
        }
        now = ok(get(auditor, path, as_of=datetime.now(UTC).isoformat()))
        assert now["medications"] == ok(auditor.medications(course.plan))["medications"]

    def test_history_as_it_was_recorded_then(self, auditor: Api, course: Course) -> None:
        path = f"/v1/care-plans/{course.plan}/history"
        then = ok(get(auditor, path, as_of=course.moments["lithium"]))
        everything = auditor.events(course.plan)
        assert then["events"] == everything[: len(then["events"])]
        assert then["events"][-1]["data"]["drug"] == "lithium"  # its monitoring, scheduled
        assert len(then["events"]) < len(everything)

    def test_before_the_plan_was_recorded_it_is_not_found(
        self, auditor: Api, course: Course
    ) -> None:
        before = (today() - timedelta(days=1)).isoformat()
        for what in ("medications", "history"):
            response = get(auditor, f"/v1/care-plans/{course.plan}/{what}", as_of=before)
            assert_problem(response, 404, "care_plan.not_found")

    @pytest.mark.parametrize("as_of", ["2026-03-01T10:00:00", "yesterday", ""])
    def test_a_time_without_a_zone_or_no_time_is_refused(
        self, auditor: Api, course: Course, as_of: str
    ) -> None:
        response = get(auditor, f"/v1/care-plans/{course.plan}/medications", as_of=as_of)
        assert_problem(response, 422, "request.invalid")


class TestTimeline:
    def test_every_dose_in_time_order(self, clinician: Api, course: Course) -> None:
        body = ok(clinician.http.get(f"/v1/care-plans/{course.plan}/timeline"))
        segments = [
            (s["drug"], s["amount"], s["change"], s["end"] is None, s["ended_by"])
            for s in body["segments"]
        ]
        assert sorted(segments) == [
            ("lithium", "300", "start", True, None),
            ("sertraline", "25", "start", False, "dose_change"),
            ("sertraline", "50", "increase", True, None),
        ]
        lithium = next(s for s in body["segments"] if s["drug"] == "lithium")
        assert (lithium["daily_amount"], lithium["unit"]) == ("600", "mg")

    def test_an_unknown_plan_is_not_found(self, clinician: Api) -> None:
        response = clinician.http.get(
            "/v1/care-plans/00000000-0000-0000-0000-000000000000/timeline"
        )
        assert_problem(response, 404, "care_plan.not_found")


class TestWorklist:
    def test_the_days_checks_and_follow_ups_by_prescriber(
        self, prescriber: Api, course: Course
    ) -> None:
        body = ok(get(prescriber, "/v1/worklist", prescriber="dr-ada"))
        mine = [item for item in body["items"] if item["care_plan_id"] == course.plan]
        checks = {item["test"] for item in mine if item["kind"] == "monitoring"}
        assert checks == LITHIUM_BASELINE  # due today; the lithium level is due in a week
        assert not any(item["overdue"] for item in mine)
        assert all(item["patient_id"] == "patient-views" for item in mine)
        assert body["to"] == body["on"] == today().date().isoformat()

    def test_tomorrow_they_are_overdue_and_the_range_adds_the_follow_up(
        self, prescriber: Api, course: Course
    ) -> None:
        body = ok(get(prescriber, "/v1/worklist", on=due(1), to=due(14)))
        mine = [item for item in body["items"] if item["care_plan_id"] == course.plan]
        assert {i["test"] for i in mine if i["overdue"]} == LITHIUM_BASELINE
        follow_ups = [i for i in mine if i["kind"] == "follow_up"]
        assert [(i["due_on"], i["status"], i["overdue"]) for i in follow_ups] == [
            (due(14), "scheduled", False)
        ]
        assert body["from"] is None

    def test_following_next_cursor_lists_every_item_once(
        self, prescriber: Api, course: Course
    ) -> None:
        window = {"on": due(1), "to": due(14)}
        whole = ok(get(prescriber, "/v1/worklist", **window))
        assert whole["next_cursor"] is None
        walked: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {**window, "limit": "2"} | ({"cursor": cursor} if cursor else {})
            page = ok(get(prescriber, "/v1/worklist", **params))
            walked += page["items"]
            cursor = page["next_cursor"]
            assert page["truncated"] == (cursor is not None)
            if cursor is None:
                break
            assert len(page["items"]) == 2
        assert len(whole["items"]) > 2
        assert walked == whole["items"]

    def test_someone_elses_list_is_not_this_one(self, prescriber: Api, course: Course) -> None:
        body = ok(get(prescriber, "/v1/worklist", prescriber="dr-someone-else"))
        assert [i for i in body["items"] if i["care_plan_id"] == course.plan] == []

    @pytest.mark.parametrize(
        ("params", "code"),
        [
            ({"from": "2026-03-10", "to": "2026-03-01"}, "worklist.invalid_range"),
            ({"on": "tomorrow"}, "request.invalid"),
            ({"limit": "0"}, "request.invalid"),
            ({"prescriber": "dr\u0000ada"}, "request.invalid"),
            ({"cursor": "not-a-cursor"}, "worklist.invalid_cursor"),
        ],
    )
    def test_bad_input_is_refused(self, prescriber: Api, params: dict[str, str], code: str) -> None:
        assert_problem(get(prescriber, "/v1/worklist", **params), 422, code)


class TestOutcomes:
    def test_baseline_latest_and_the_verdicts(self, clinician: Api, course: Course) -> None:
        body = ok(clinician.http.get(f"/v1/care-plans/{course.plan}/outcomes"))
        [phq9] = body["instruments"]
        assert phq9["instrument"] == "PHQ-9"
        assert (phq9["baseline"]["total"], phq9["latest"]["total"], phq9["change"]) == (16, 7, -9)
        assert (phq9["response"], phq9["remission"]) == (True, False)
        assert [s["band"] for s in phq9["scores"]] == ["moderately severe", "mild"]


class TestWhoMayRead:
    PATHS = ("timeline", "outcomes")

    def test_the_care_team_auditors_and_services_read_the_views(
        self, clinician: Api, auditor: Api, service: Api, course: Course
    ) -> None:
        for api in (clinician, auditor, service):
            for what in self.PATHS:
                ok(api.http.get(f"/v1/care-plans/{course.plan}/{what}"))
            ok(api.http.get("/v1/worklist"))

    def test_an_admin_reads_no_clinical_view(self, admin: Api, course: Course) -> None:
        for what in self.PATHS:
            response = admin.http.get(f"/v1/care-plans/{course.plan}/{what}")
            assert_problem(response, 403, "auth.forbidden")
        assert_problem(admin.http.get("/v1/worklist"), 403, "auth.forbidden")
        response = get(admin, f"/v1/care-plans/{course.plan}/medications", as_of=ago(0))
        assert_problem(response, 403, "auth.forbidden")

    def test_a_service_reads_no_history_even_as_of(self, service: Api, course: Course) -> None:
        response = get(service, f"/v1/care-plans/{course.plan}/history", as_of=ago(0))
        assert_problem(response, 403, "auth.forbidden")

    def test_without_a_token_there_is_no_view(
        self, anonymous: httpx.Client, course: Course
    ) -> None:
        assert_problem(anonymous.get("/v1/worklist"), 401, "auth.missing_token")


class TestReady:
    def test_in_process_views_are_caught_up(self, anonymous: httpx.Client, course: Course) -> None:
        body = ok(anonymous.get("/ready"))
        assert body["status"] == "ready"
        assert set(body["projections"]) >= {"current_medications", "worklist", "outcomes"}
        assert all(lag["events_behind"] == 0 for lag in body["projections"].values())
        assert all(lag["position"] == body["head"] for lag in body["projections"].values())
