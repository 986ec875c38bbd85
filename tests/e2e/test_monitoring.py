"""Monitoring through the real server: follow-ups missed, cancelled and rescheduled;
side effects, adherence, rating scales and lab results. Refused commands store
nothing; clinicians record, auditors only read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import uuid4

import httpx
import pytest

from tests.e2e.careplan_api import Api, assert_problem, due, stores_nothing
from tests.e2e.conftest import Server
from tests.e2e.monitoring_api import (
    adherence,
    ago,
    cancel,
    created,
    follow_up_status,
    lab_result,
    measurement,
    missed,
    past_due_follow_up,
    reschedule,
    side_effect,
)

PHQ9_SELF_HARM = [2, 2, 1, 1, 2, 1, 1, 1, 1]  # total 12, item 9 = 1


class Treated(NamedTuple):
    """A plan on sertraline 25 mg, with the prescription's follow-up due in two weeks."""

    plan: str
    rx: str
    follow_up: str


@pytest.fixture
def treated(prescriber: Api) -> Treated:
    return Treated(*prescriber.ready_prescription())


def last_event(api: Api, plan: str) -> dict[str, Any]:
    return api.events(plan)[-1]


def last_summary(api: Api, plan: str) -> str:
    summary: str = api.audit_entries(plan)[-1]["summary"]
    return summary


# -- follow-ups missed, cancelled, rescheduled -------------------------------------


class TestFollowUpMissed:
    def test_a_clinician_marks_an_overdue_follow_up_missed(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        follow_up = past_due_follow_up(prescriber, treated.plan)
        body = created(missed(clinician, treated.plan, follow_up))
        event = last_event(prescriber, treated.plan)
        assert (event["type"], event["version"]) == ("FollowUpMissed", body["version"])
        assert event["actor"]["id"] == "rn-sam"
        assert event["data"] == {"follow_up_id": follow_up, "note": "no answer to two calls"}
        assert follow_up_status(prescriber, treated.plan, follow_up)["status"] == "missed"
        assert last_summary(prescriber, treated.plan) == "Follow-up missed: no answer to two calls"

    def test_a_follow_up_due_today_can_be_missed(self, prescriber: Api, treated: Treated) -> None:
        follow_up = created(prescriber.schedule(treated.plan, {"due_on": due(0)}))["follow_up_id"]
        created(missed(prescriber, treated.plan, follow_up, note=None))
        assert follow_up_status(prescriber, treated.plan, follow_up)["status"] == "missed"

    def test_a_follow_up_not_yet_due_is_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = missed(prescriber, treated.plan, treated.follow_up)
            assert_problem(response, 422, "follow_up.not_yet_due")
        assert follow_up_status(prescriber, treated.plan, treated.follow_up)["status"] == (
            "scheduled"
        )

    def test_a_missed_follow_up_cannot_be_completed(
        self, prescriber: Api, treated: Treated
    ) -> None:
        follow_up = past_due_follow_up(prescriber, treated.plan)
        created(missed(prescriber, treated.plan, follow_up))
        with stores_nothing(prescriber, treated.plan):
            assert_problem(
                prescriber.complete(treated.plan, follow_up), 409, "follow_up.not_pending"
            )


class TestFollowUpCancelled:
    def test_a_follow_up_is_cancelled_once(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        created(cancel(clinician, treated.plan, treated.follow_up))
        event = last_event(prescriber, treated.plan)
        assert event["type"] == "FollowUpCancelled"
        assert event["data"]["reason"] == "admitted to hospital; the ward reviews medication"
        assert follow_up_status(prescriber, treated.plan, treated.follow_up)["status"] == (
            "cancelled"
        )
        with stores_nothing(prescriber, treated.plan):
            response = cancel(clinician, treated.plan, treated.follow_up)
            assert_problem(response, 409, "follow_up.not_pending")

    @pytest.mark.parametrize("body", [{"reason": "  "}, {}, {"reason": "a\x00b"}])
    def test_a_cancellation_without_a_proper_reason_is_422(
        self, prescriber: Api, treated: Treated, body: dict[str, Any]
    ) -> None:
        path = f"/v1/care-plans/{treated.plan}/follow-ups/{treated.follow_up}/cancellation"
        with stores_nothing(prescriber, treated.plan):
            assert_problem(prescriber.http.post(path, json=body), 422, "request.invalid")


class TestFollowUpRescheduled:
    def test_a_rescheduled_follow_up_stays_pending_with_its_new_date(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        created(reschedule(clinician, treated.plan, treated.follow_up, modality="in_person"))
        event = last_event(prescriber, treated.plan)
        assert event["type"] == "FollowUpRescheduled"
        assert event["data"] == {
            "follow_up_id": treated.follow_up,
            "due_on": due(21),
            "modality": "in_person",
            "reason": "patient on holiday",
        }
        follow_up = follow_up_status(prescriber, treated.plan, treated.follow_up)
        assert (follow_up["status"], follow_up["due_on"], follow_up["modality"]) == (
            "scheduled",
            due(21),
            "in_person",
        )
        assert last_summary(prescriber, treated.plan) == (
            f"Follow-up moved to {due(21)} (in person): patient on holiday"
        )

    def test_the_modality_is_kept_when_not_given(self, prescriber: Api, treated: Treated) -> None:
        created(reschedule(prescriber, treated.plan, treated.follow_up))
        assert last_event(prescriber, treated.plan)["data"]["modality"] == "telehealth"

    @pytest.mark.parametrize(
        ("due_on", "code"), [(-1, "follow_up.due_in_past"), (800, "follow_up.too_far")]
    )
    def test_a_new_date_is_checked_like_a_scheduled_one(
        self, prescriber: Api, treated: Treated, due_on: int, code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = reschedule(prescriber, treated.plan, treated.follow_up, due_on=due(due_on))
            assert_problem(response, 422, code)

    def test_a_cancelled_follow_up_cannot_be_rescheduled(
        self, prescriber: Api, treated: Treated
    ) -> None:
        created(cancel(prescriber, treated.plan, treated.follow_up))
        with stores_nothing(prescriber, treated.plan):
            response = reschedule(prescriber, treated.plan, treated.follow_up)
            assert_problem(response, 409, "follow_up.not_pending")

    @pytest.mark.parametrize("command", [missed, cancel, reschedule])
    def test_an_unknown_follow_up_is_404(
        self, prescriber: Api, treated: Treated, command: Callable[..., httpx.Response]
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(command(prescriber, treated.plan, "nope"), 404, "follow_up.not_found")


# -- side effects and adherence ---------------------------------------------------


class TestSideEffects:
    def test_a_side_effect_is_reported_against_a_prescription(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        body = created(
            side_effect(
                clinician,
                treated.plan,
                prescription_id=treated.rx,
                severity="moderate",
                action="dose_reduced",
            )
        )
        event = last_event(prescriber, treated.plan)
        assert (event["type"], event["version"]) == ("SideEffectReported", body["version"])
        assert event["data"] == {
            "side_effect_id": body["side_effect_id"],
            "prescription_id": treated.rx,
            "description": "nausea in the mornings",
            "severity": "moderate",
            "action": "dose_reduced",
        }
        assert last_summary(prescriber, treated.plan) == (
            "Side effect (moderate): nausea in the mornings; dose reduced"
        )

    def test_an_unknown_prescription_is_404_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = side_effect(prescriber, treated.plan, prescription_id="nope")
            assert_problem(response, 404, "prescription.not_found")

    @pytest.mark.parametrize(
        "overrides",
        [{"severity": "catastrophic"}, {"action": "ignored"}, {"description": " "}, {"x": 1}],
        ids=["severity", "action", "blank", "unknown-field"],
    )
    def test_a_malformed_report_is_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated, overrides: dict[str, Any]
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = side_effect(prescriber, treated.plan, **overrides)
            assert_problem(response, 422, "request.invalid")


class TestAdherence:
    def test_adherence_to_an_active_prescription_is_recorded(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        response = adherence(
            clinician,
            treated.plan,
            prescription_id=treated.rx,
            adherence="missed_some_doses",
            note="forgets at weekends",
        )
        assert created(response).keys() == {"version"}
        event = last_event(prescriber, treated.plan)
        assert event["type"] == "AdherenceRecorded"
        assert event["data"] == {
            "prescription_id": treated.rx,
            "adherence": "missed_some_doses",
            "note": "forgets at weekends",
        }

    def test_adherence_to_a_stopped_prescription_is_409_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        created(prescriber.discontinue(treated.plan, treated.rx))
        with stores_nothing(prescriber, treated.plan):
            response = adherence(prescriber, treated.plan, prescription_id=treated.rx)
            assert_problem(response, 409, "adherence.prescription_not_active")


# -- rating scales ------------------------------------------------------------------


class TestMeasurements:
    def test_phq9_item_9_above_0_comes_back_urgent_and_is_stored_so(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        body = created(measurement(clinician, treated.plan, items=PHQ9_SELF_HARM))
        (finding,) = body["urgent"]
        assert (finding["code"], finding["severity"]) == ("measurement.self_harm_risk", "urgent")
        assert "same day" in finding["message"]
        assert "Kroenke" in finding["source"]
        event = last_event(prescriber, treated.plan)
        assert event["type"] == "MeasurementRecorded"
        assert event["data"] == {
            "measurement_id": body["measurement_id"],
            "instrument": "PHQ-9",
            "total": 12,
            "items": PHQ9_SELF_HARM,
            "band": "moderate",
            "urgent": True,
            "findings": [finding],
            "prompts": [],
        }
        assert last_summary(prescriber, treated.plan) == (
            "PHQ-9 12 (moderate); needs same-day attention"
        )

    def test_item_9_at_0_is_not_urgent(self, prescriber: Api, treated: Treated) -> None:
        items = [*PHQ9_SELF_HARM[:8], 0]
        assert created(measurement(prescriber, treated.plan, items=items))["urgent"] == []
        assert last_event(prescriber, treated.plan)["data"]["urgent"] is False

    def test_a_licensed_instrument_takes_a_total(self, prescriber: Api, treated: Treated) -> None:
        created(measurement(prescriber, treated.plan, instrument="C-SSRS", total=1))
        assert last_event(prescriber, treated.plan)["data"]["items"] == []

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"total": 13, "items": PHQ9_SELF_HARM}, "measurement.items_mismatch"),
            ({"instrument": "MDQ", "items": [1, 0, 1]}, "measurement.items_not_licensed"),
            ({"total": 28}, "measurement.out_of_range"),
            ({"instrument": "Beck", "total": 3}, "measurement.unknown_instrument"),
            ({"items": [1] * 8}, "measurement.item_count"),
            ({"items": []}, "measurement.total_required"),
        ],
        ids=["mismatch", "licensed", "range", "instrument", "count", "nothing"],
    )
    def test_a_refused_measurement_is_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated, overrides: dict[str, Any], code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(measurement(prescriber, treated.plan, **overrides), 422, code)


# -- lab results --------------------------------------------------------------------


class TestLabResults:
    def test_a_lithium_level_above_1_5_is_stored_critical_with_the_default_range(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        collected = ago(1)
        body = created(
            lab_result(clinician, treated.plan, value="1.60", unit="mmol/L", collected_at=collected)
        )
        event = last_event(prescriber, treated.plan)
        assert (event["type"], event["version"]) == ("LabResultRecorded", body["version"])
        data = event["data"]
        assert data["lab_result_id"] == body["lab_result_id"]
        assert (data["test"], data["value"], data["unit"], data["flag"]) == (
            "lithium_level",
            "1.6",
            "mmol/L",
            "critical",
        )
        assert (data["reference_low"], data["reference_high"]) == ("0.6", "1.2")
        assert "Lithium" in data["reference_source"]
        assert data["collected_at"][:19] == collected[:19]
        assert last_summary(prescriber, treated.plan).startswith(
            "lithium level 1.6 mmol/L (critical), collected"
        )

    def test_the_laboratory_range_is_kept_and_judges_the_value(
        self, prescriber: Api, treated: Treated
    ) -> None:
        created(
            lab_result(
                prescriber,
                treated.plan,
                test="tsh",
                value=5.1,
                unit="mIU/L",
                reference_low="0.4",
                reference_high="4.0",
            )
        )
        data = last_event(prescriber, treated.plan)["data"]
        assert (data["value"], data["flag"], data["reference_source"]) == ("5.1", "high", None)

    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"unit": "mg/dL"}, "lab.unknown_unit"),
            ({"reference_low": "2", "reference_high": "1"}, "lab.invalid_range"),
            ({"collected_at": "2090-01-01T00:00:00Z"}, "lab.collected_after_result"),
            ({"test": "unobtainium"}, "request.invalid"),
            ({"value": "-1"}, "request.invalid"),
            ({"collected_at": "2026-03-02T08:00:00"}, "request.invalid"),
        ],
        ids=["unit", "range", "collected-later", "test", "negative", "naive-time"],
    )
    def test_a_refused_result_is_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated, overrides: dict[str, Any], code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(lab_result(prescriber, treated.plan, **overrides), 422, code)


# -- the plan's state, and who may do what -------------------------------------------


Action = Callable[[Api, Treated], httpx.Response]

ACTIONS: dict[str, Action] = {
    "missed": lambda api, t: missed(api, t.plan, t.follow_up),
    "cancellation": lambda api, t: cancel(api, t.plan, t.follow_up),
    "rescheduling": lambda api, t: reschedule(api, t.plan, t.follow_up),
    "side-effects": lambda api, t: side_effect(api, t.plan),
    "adherence": lambda api, t: adherence(api, t.plan),
    "measurements": lambda api, t: measurement(api, t.plan),
    "lab-results": lambda api, t: lab_result(api, t.plan),
}
# "missed" needs an overdue follow-up to succeed: the others succeed as they are.
SUCCEEDING = sorted(set(ACTIONS) - {"missed"})


def test_a_closed_plan_takes_no_monitoring_and_stores_nothing(prescriber: Api) -> None:
    plan, rx, follow_up = prescriber.ready_prescription()
    created(prescriber.discontinue(plan, rx))
    close = prescriber.http.post(
        f"/v1/care-plans/{plan}/closure", json={"reason": "treatment_completed"}
    )
    created(close)
    with stores_nothing(prescriber, plan):
        for action in ACTIONS.values():
            assert_problem(
                action(prescriber, Treated(plan, rx, follow_up)), 409, "care_plan.closed"
            )


class TestRoles:
    @pytest.mark.parametrize("action", SUCCEEDING)
    def test_a_clinician_may_record(
        self, prescriber: Api, clinician: Api, treated: Treated, action: str
    ) -> None:
        created(ACTIONS[action](clinician, treated))
        assert last_event(prescriber, treated.plan)["actor"]["id"] == "rn-sam"

    @pytest.mark.parametrize("role", ["auditor", "service", "admin"])
    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_other_roles_are_refused_with_403_and_store_nothing(
        self,
        request: pytest.FixtureRequest,
        prescriber: Api,
        treated: Treated,
        role: str,
        action: str,
    ) -> None:
        actor: Api = request.getfixturevalue(role)
        with stores_nothing(prescriber, treated.plan):
            assert_problem(ACTIONS[action](actor, treated), 403, "auth.forbidden")

    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_without_a_token_is_401(
        self, prescriber: Api, anonymous: httpx.Client, treated: Treated, action: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = ACTIONS[action](Api(anonymous), treated)
            assert_problem(response, 401, "auth.missing_token")

    @pytest.mark.parametrize("action", sorted(ACTIONS))
    def test_an_unknown_care_plan_is_404(self, prescriber: Api, action: str) -> None:
        response = ACTIONS[action](prescriber, Treated(str(uuid4()), "rx", "fu"))
        assert_problem(response, 404, "care_plan.not_found")


def test_the_openapi_document_lists_the_monitoring_commands_with_their_enums(
    server: Server,
) -> None:
    spec = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    for path in ("missed", "cancellation", "rescheduling"):
        assert (
            f"/v1/care-plans/{{care_plan_id}}/follow-ups/{{follow_up_id}}/{path}" in spec["paths"]
        )
    for path in ("side-effects", "adherence", "measurements", "lab-results"):
        assert f"/v1/care-plans/{{care_plan_id}}/{path}" in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert "life_threatening" in schemas["ReportSideEffect"]["properties"]["severity"]["enum"]
    assert "lithium_level" in schemas["RecordLabResult"]["properties"]["test"]["enum"]


def test_none_of_these_requests_made_the_server_fail(server: Server) -> None:
    """Runs last in the module: the server logged no unexpected error (no 500)."""
    assert server.logged_failures() == []
