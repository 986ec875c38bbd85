"""A course of treatment through the real server, as a clinical app drives it.

The ``course`` fixture plays it once per store: open a plan, evaluate, prescribe
sertraline 25 mg, raise it to 50 mg, schedule and complete a follow-up (PHQ-9
12), then stop it at once for an adverse reaction (acknowledging that it is not
tapered). After every command it reads the medication list and the audit
trail, so the tests can check read-your-writes step by step.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from tests.e2e.careplan_api import (
    Api,
    assert_problem,
    client,
    completion,
    dose_change,
    due,
    prescription,
    stores_nothing,
)
from tests.e2e.conftest import Server

DOSE_REASON = "tolerating 25 mg; increase to usual starting dose"
STOP_REASON = "generalised rash after the increase"
FOLLOW_UP_PURPOSE = "review response to 50 mg"
EXPECTED_TYPES = [
    "CarePlanOpened",
    "EvaluationRecorded",
    "MedicationPrescribed",
    "FollowUpScheduled",
    "DoseChanged",
    "FollowUpScheduled",
    "FollowUpCompleted",
    "MedicationDiscontinued",
    "SafetyWarningAcknowledged",
]


@dataclass
class Step:
    name: str
    request_id: str
    response: httpx.Response
    medications: list[tuple[str, str, str]]
    audit_versions: list[int]


@dataclass
class Course:
    plan: str
    prescription: str
    scheduled_follow_up: str
    steps: dict[str, Step] = field(default_factory=dict)


@pytest.fixture(scope="module")
def course(prescriber: Api, clinician: Api) -> Course:
    plan = ""
    steps: dict[str, Step] = {}

    def run(name: str, actor: Api, command: str, *args: Any) -> httpx.Response:
        request_id = f"journey-{name}"
        response = getattr(actor, command)(*args, headers={"X-Request-ID": request_id})
        assert response.status_code == 201, f"{name}: {response.text}"
        plan_id = plan or response.json()["care_plan_id"]
        steps[name] = Step(
            name,
            request_id,
            response,
            prescriber.active_drugs(plan_id),
            [entry["version"] for entry in prescriber.audit_entries(plan_id)],
        )
        return response

    plan = run("open", prescriber, "open_plan", "patient-journey").json()["care_plan_id"]
    run("evaluate", prescriber, "evaluate", plan, None)
    rx = run("prescribe", prescriber, "prescribe", plan, prescription("sertraline", 25))
    rx_id = rx.json()["prescription_id"]
    run("change_dose", prescriber, "change_dose", plan, rx_id, dose_change(50, reason=DOSE_REASON))
    scheduled = run(
        "schedule",
        clinician,
        "schedule",
        plan,
        {"due_on": due(21), "modality": "in_person", "purpose": FOLLOW_UP_PURPOSE},
    )
    follow_up = scheduled.json()["follow_up_id"]
    run("complete", clinician, "complete", plan, follow_up, completion(("PHQ-9", 12)))
    run("discontinue", prescriber, "discontinue", plan, rx_id, STOP_REASON, True)
    return Course(plan, rx_id, follow_up, steps)


class TestCommandResponses:
    def test_opening_a_plan_answers_201_with_its_id_version_1_and_location(
        self, course: Course
    ) -> None:
        response = course.steps["open"].response
        assert response.status_code == 201
        body = response.json()
        assert UUID(body["care_plan_id"])
        assert body["version"] == 1
        assert response.headers["Location"] == f"/v1/care-plans/{body['care_plan_id']}"

    def test_each_command_answers_with_the_plans_new_version(self, course: Course) -> None:
        versions = {name: step.response.json()["version"] for name, step in course.steps.items()}
        # Prescribing with a follow-up records two events (the prescription and its follow-up).
        assert versions == {
            "open": 1,
            "evaluate": 2,
            "prescribe": 4,
            "change_dose": 5,
            "schedule": 6,
            "complete": 7,
            # The stop and the acknowledgement of its taper warning.
            "discontinue": 9,
        }

    def test_prescribing_answers_the_prescription_id_and_no_warnings(self, course: Course) -> None:
        body = course.steps["prescribe"].response.json()
        assert UUID(body["prescription_id"])
        assert body["warnings"] == []

    def test_raising_a_dose_on_the_day_it_started_warns_it_is_too_soon(
        self, course: Course
    ) -> None:
        [warning] = course.steps["change_dose"].response.json()["warnings"]
        assert (warning["code"], warning["severity"], warning["acknowledged"]) == (
            "dose.increase_too_soon",
            "warn",
            False,
        )
        assert warning["source"]

    def test_scheduling_a_follow_up_answers_its_id(self, course: Course) -> None:
        assert UUID(course.steps["schedule"].response.json()["follow_up_id"])

    def test_commands_answer_plain_json(self, course: Course) -> None:
        for step in course.steps.values():
            assert step.response.headers["content-type"].startswith("application/json")


class TestReadYourWrites:
    def test_the_medication_list_reflects_each_command_as_soon_as_it_is_answered(
        self, course: Course
    ) -> None:
        seen = {name: step.medications for name, step in course.steps.items()}
        assert seen == {
            "open": [],
            "evaluate": [],
            "prescribe": [("sertraline", "25", "mg")],
            "change_dose": [("sertraline", "50", "mg")],
            "schedule": [("sertraline", "50", "mg")],
            "complete": [("sertraline", "50", "mg")],
            "discontinue": [],
        }

    def test_the_audit_trail_reflects_each_command_as_soon_as_it_is_answered(
        self, course: Course
    ) -> None:
        for step in course.steps.values():
            version = step.response.json()["version"]
            assert step.audit_versions == list(range(1, version + 1)), step.name


@pytest.fixture(scope="module")
def events(course: Course, auditor: Api) -> list[dict[str, Any]]:
    """The course's history, as an auditor reads it."""
    return auditor.events(course.plan)


@pytest.fixture(scope="module")
def entries(course: Course, auditor: Api) -> list[dict[str, Any]]:
    """The course's audit trail, as an auditor reads it."""
    return auditor.audit_entries(course.plan)


class TestHistory:
    def test_history_lists_every_event_in_order_with_versions_1_to_n(
        self, events: list[dict[str, Any]]
    ) -> None:
        assert [e["type"] for e in events] == EXPECTED_TYPES
        assert [e["version"] for e in events] == list(range(1, len(EXPECTED_TYPES) + 1))

    def test_every_event_records_who_acted_and_in_what_role(
        self, events: list[dict[str, Any]]
    ) -> None:
        actors = [(e["actor"]["id"], e["actor"]["role"]) for e in events]
        ada, sam = ("dr-ada", "prescriber"), ("rn-sam", "clinician")
        assert actors == [ada, ada, ada, ada, ada, sam, sam, ada, ada]
        assert events[0]["actor"]["name"] == "Dr Ada Okafor"

    def test_every_event_carries_its_request_id_as_correlation_id(
        self, events: list[dict[str, Any]], course: Course
    ) -> None:
        by_version = [e["correlation_id"] for e in events]
        assert by_version == [
            "journey-open",
            "journey-evaluate",
            "journey-prescribe",
            "journey-prescribe",
            "journey-change_dose",
            "journey-schedule",
            "journey-complete",
            "journey-discontinue",
            "journey-discontinue",
        ]
        for step in course.steps.values():
            assert step.response.headers["X-Request-ID"] == step.request_id

    def test_every_event_has_clinical_and_recording_times_in_utc(
        self, events: list[dict[str, Any]]
    ) -> None:
        for event in events:
            assert event["occurred_at"].endswith("Z")
            assert event["recorded_at"].endswith("Z")
        recorded = [datetime.fromisoformat(e["recorded_at"]) for e in events]
        assert recorded == sorted(recorded)

    def test_history_keeps_the_clinical_facts_of_each_event(
        self, events: list[dict[str, Any]], course: Course
    ) -> None:
        opened, evaluated, prescribed, first_follow_up, changed, scheduled, done, stopped, ack = (
            events
        )
        assert opened["data"]["patient_id"] == "patient-journey"
        assert evaluated["data"]["kind"] == "initial"
        assert evaluated["data"]["diagnoses"][0]["code"] == "F32.1"
        assert prescribed["data"]["drug"] == "sertraline"
        assert prescribed["data"]["dose"] == {"amount": "25", "unit": "mg"}
        assert prescribed["data"]["prescription_id"] == course.prescription
        assert first_follow_up["data"]["prescription_id"] == course.prescription
        assert changed["data"]["dose"] == {"amount": "50", "unit": "mg"}
        assert changed["data"]["previous_dose"] == {"amount": "25", "unit": "mg"}
        assert changed["data"]["reason"] == DOSE_REASON
        assert scheduled["data"]["follow_up_id"] == course.scheduled_follow_up
        assert scheduled["data"]["purpose"] == FOLLOW_UP_PURPOSE
        assert scheduled["data"]["prescription_id"] is None
        assert done["data"]["measurements"] == [{"instrument": "PHQ-9", "total": 12, "items": []}]
        assert done["data"]["side_effects"] == ["mild nausea"]
        assert stopped["data"]["reason"] == STOP_REASON
        assert stopped["data"]["reason_code"] == "adverse_reaction"
        assert [w["code"] for w in stopped["data"]["warnings"]] == [
            "discontinuation.taper_required"
        ]
        assert ack["data"]["subject_id"] == course.prescription
        assert ack["data"]["code"] == "discontinuation.taper_required"


class TestAuditTrail:
    def test_the_audit_trail_has_one_entry_per_event_in_order(
        self, entries: list[dict[str, Any]], course: Course
    ) -> None:
        assert [e["type"] for e in entries] == EXPECTED_TYPES
        assert [e["version"] for e in entries] == list(range(1, len(EXPECTED_TYPES) + 1))
        assert {e["care_plan_id"] for e in entries} == {course.plan}

    def test_each_entry_says_in_words_what_happened_and_who_did_it(
        self, entries: list[dict[str, Any]]
    ) -> None:
        summaries = [e["summary"] for e in entries]
        assert summaries[0] == "Care plan opened"
        assert summaries[1] == "Initial evaluation (in person): F32.1"
        assert summaries[2] == (
            "Prescribed sertraline 25 mg daily, oral; options discussed, patient agrees"
        )
        assert summaries[4] == f"sertraline dose 25 mg → 50 mg: {DOSE_REASON}"
        assert summaries[5].endswith(f": {FOLLOW_UP_PURPOSE}")
        assert summaries[6] == "Follow-up completed (in person): PHQ-9 12"
        assert summaries[7] == f"Discontinued sertraline: {STOP_REASON}"
        assert all(summaries)
        assert [e["actor"]["role"] for e in entries][5:7] == ["clinician", "clinician"]
        assert entries[5]["actor"]["id"] == "rn-sam"

    def test_the_audit_trail_agrees_with_the_history(
        self, entries: list[dict[str, Any]], course: Course, auditor: Api
    ) -> None:
        history = auditor.events(course.plan)
        assert [(e["version"], e["type"], e["actor"]["id"]) for e in entries] == [
            (e["version"], e["type"], e["actor"]["id"]) for e in history
        ]


class TestThePlanAsItStands:
    def test_the_plan_shows_the_stopped_prescription_and_both_follow_ups(
        self, course: Course, clinician: Api
    ) -> None:
        response = clinician.plan(course.plan)
        assert response.status_code == 200
        plan = response.json()
        assert plan["care_plan_id"] == course.plan
        assert plan["patient_id"] == "patient-journey"
        assert plan["status"] == "open"
        assert plan["version"] == 9
        assert plan["opened_by"] == "dr-ada"
        assert plan["has_initial_evaluation"] is True
        [rx] = plan["prescriptions"]
        assert rx["prescription_id"] == course.prescription
        assert rx["drug"] == "sertraline"
        assert rx["dose"] == {"amount": "50", "unit": "mg"}
        assert rx["status"] == "discontinued"
        assert rx["prescriber"] == "dr-ada"
        statuses = {f["follow_up_id"]: f["status"] for f in plan["follow_ups"]}
        assert statuses[course.scheduled_follow_up] == "completed"
        assert sorted(statuses.values()) == ["completed", "scheduled"]

    def test_an_auditor_and_a_downstream_service_read_what_their_role_allows(
        self, course: Course, auditor: Api, service: Api
    ) -> None:
        assert auditor.plan(course.plan).status_code == 200
        assert auditor.history(course.plan).status_code == 200
        assert service.medications(course.plan).status_code == 200
        assert_problem(service.history(course.plan), 403, "auth.forbidden")


class TestAmountsAndDrugNames:
    @pytest.mark.parametrize(
        ("sent", "shown"),
        [("37.5", "37.5"), (37.5, "37.5"), (25, "25"), ("0.25", "0.25"), (" 12.5 ", "12.5")],
    )
    def test_an_amount_sent_as_number_or_decimal_string_is_shown_as_a_decimal_string(
        self, prescriber: Api, sent: Any, shown: str
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        response = prescriber.prescribe(plan, prescription("sertraline", sent))
        assert response.status_code == 201, response.text
        assert prescriber.active_drugs(plan) == [("sertraline", shown, "mg")]
        [rx] = prescriber.plan(plan).json()["prescriptions"]
        assert rx["dose"] == {"amount": shown, "unit": "mg"}
        prescribed = prescriber.events(plan)[2]
        assert prescribed["data"]["dose"] == {"amount": shown, "unit": "mg"}

    def test_a_drug_name_is_matched_whatever_its_case(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        first = prescriber.prescribe(plan, prescription("Sertraline", "25"))
        assert first.status_code == 201, first.text
        assert prescriber.active_drugs(plan) == [("sertraline", "25", "mg")]
        with stores_nothing(prescriber, plan):
            again = prescriber.prescribe(plan, prescription("SERTRALINE", "50"))
            body = assert_problem(again, 409, "prescription.already_active")
        assert first.json()["prescription_id"] in body["detail"]
        assert prescriber.active_drugs(plan) == [("sertraline", "25", "mg")]

    def test_a_stopped_drug_can_be_prescribed_again(self, prescriber: Api) -> None:
        plan, rx, _ = prescriber.ready_prescription()
        assert prescriber.discontinue(plan, rx).status_code == 201
        again = prescriber.prescribe(plan, prescription("sertraline", "50"))
        assert again.status_code == 201, again.text
        assert prescriber.active_drugs(plan) == [("sertraline", "50", "mg")]

    def test_a_late_entry_keeps_its_clinical_time_apart_from_its_recording_time(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        occurred = f"{due(-30)}T09:30:00Z"
        body = prescription("sertraline", "25", follow_up_in_days=7, occurred_at=occurred)
        assert prescriber.prescribe(plan, body).status_code == 201
        prescribed = prescriber.events(plan)[2]
        assert prescribed["occurred_at"] == occurred
        recorded_at = datetime.fromisoformat(prescribed["recorded_at"])
        assert recorded_at - datetime.fromisoformat(occurred) > timedelta(days=29)


class TestConcurrentCommands:
    def test_concurrent_commands_on_one_plan_are_each_stored_or_refused_never_lost(
        self, server: Server, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()

        def schedule(index: int) -> httpx.Response:
            with client(server.base_url, role="clinician", sub=f"rn-{index}") as http:
                return Api(http).schedule(plan, {"due_on": due(7 + index)})

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(schedule, range(8)))

        stored = [r for r in responses if r.status_code == 201]
        for refused in (r for r in responses if r.status_code != 201):
            assert_problem(refused, 409, "care_plan.concurrent_update")
        assert stored, "at least one of the concurrent commands should win"
        events = prescriber.events(plan)
        assert [e["version"] for e in events] == list(range(1, 3 + len(stored)))
        assert sorted(r.json()["version"] for r in stored) == list(range(3, 3 + len(stored)))
        follow_ups = {f["follow_up_id"] for f in prescriber.plan(plan).json()["follow_ups"]}
        assert follow_ups == {r.json()["follow_up_id"] for r in stored}
        assert len(prescriber.audit_entries(plan)) == len(events)


def test_none_of_these_requests_made_the_server_fail(server: Server) -> None:
    """Runs last in the module: the server logged no unexpected error (no 500)."""
    assert server.logged_failures() == []
