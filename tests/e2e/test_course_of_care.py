"""The whole course of care over HTTP: whether to prescribe, options explained and
agreed, reviews that come due, measurement-based prompts, visits spaced by stability,
functioning beside symptoms."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx

from tests.e2e.careplan_api import (
    DISCUSSION,
    PLAN_OPENED_AT,
    Api,
    assert_problem,
    due,
    evaluation,
    prescription,
    stores_nothing,
    today,
)

OPENED = date.fromisoformat(PLAN_OPENED_AT[:10])


def post(api: Api, path: str, body: dict[str, Any]) -> httpx.Response:
    return api.http.post(path, json=body)


def codes(response: httpx.Response) -> list[str]:
    return [finding["code"] for finding in response.json()["warnings"]]


def phq9(api: Api, plan: str, total: int, at: str) -> httpx.Response:
    items = [min(3, max(0, total - 3 * n)) for n in range(8)] + [0]
    body = {"instrument": "PHQ-9", "items": items, "occurred_at": at}
    response = post(api, f"/v1/care-plans/{plan}/measurements", body)
    assert response.status_code == 201, response.text
    return response


def medication(api: Api, plan: str, rx: str) -> dict[str, Any]:
    listed = api.medications(plan).json()["medications"]
    return next(m for m in listed if m["prescription_id"] == rx)


class TestWhetherToPrescribe:
    def test_a_decision_not_to_prescribe_is_kept_and_shown(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = {
            "decision": "medication_not_indicated",
            "reason": "mild depression; therapy first",
            "alternatives": ["CBT referral"],
        }
        response = post(prescriber, f"/v1/care-plans/{plan}/treatment-decisions", body)
        assert response.status_code == 201, response.text
        [shown] = prescriber.plan(plan).json()["treatment_decisions"]
        assert (shown["decision"], shown["alternatives"]) == (
            "medication_not_indicated",
            ["CBT referral"],
        )
        assert prescriber.events(plan)[-1]["type"] == "TreatmentDecisionRecorded"
        summary = prescriber.audit_entries(plan)[-1]["summary"]
        assert summary.startswith("Medication not indicated: mild depression")

    def test_a_decision_before_any_evaluation_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        body = {"decision": "medication_declined", "reason": "prefers therapy"}
        response = post(prescriber, f"/v1/care-plans/{plan}/treatment-decisions", body)
        assert_problem(response, 409, "prescription.requires_evaluation")


class TestOptionsExplainedAndAgreed:
    def test_a_prescription_without_the_discussion_answers_a_finding(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription()
        del body["discussion"]
        response = prescriber.prescribe(plan, body)
        assert codes(response) == ["consent.not_recorded"]
        rx = response.json()["prescription_id"]
        [shown] = [
            p for p in prescriber.plan(plan).json()["prescriptions"] if p["prescription_id"] == rx
        ]
        assert shown["discussed"] is False

    def test_a_declined_drug_is_refused_and_nothing_stored(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription(discussion={**DISCUSSION, "decision": "declines"})
        with stores_nothing(prescriber, plan):
            response = prescriber.prescribe(plan, body)
        assert_problem(response, 409, "consent.declined")

    def test_clozapine_without_agreed_monitoring_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription("clozapine", "12.5", indication="F20.9 schizophrenia")
        assert_problem(prescriber.prescribe(plan, body), 409, "consent.monitoring_not_agreed")
        agreed = {**DISCUSSION, "monitoring_agreed": True}
        body = prescription("clozapine", "12.5", indication="F20.9", discussion=agreed)
        response = prescriber.prescribe(plan, body)
        assert response.status_code == 201, response.text


class TestReviewsComeDue:
    def test_a_review_is_due_at_the_end_of_the_response_window(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        response = prescriber.prescribe(plan, prescription("sertraline", "50"))
        rx = response.json()["prescription_id"]
        listed = medication(prescriber, plan, rx)
        assert listed["review_due_on"] == (today().date() + timedelta(days=56)).isoformat()
        assert listed["review_overdue"] is False
        reviewed = post(
            prescriber,
            f"/v1/care-plans/{plan}/prescriptions/{rx}/reviews",
            {"outcome": "continue", "rationale": "responding; tolerating it"},
        )
        assert reviewed.status_code == 201, reviewed.text
        assert reviewed.json()["review_id"]
        later = (today().date() + timedelta(days=182)).isoformat()
        assert medication(prescriber, plan, rx)["review_due_on"] == later
        assert prescriber.events(plan)[-1]["type"] == "MedicationReviewed"

    def test_an_overdue_review_is_on_the_worklist(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription("alprazolam", "0.25", frequency="three_times_daily")
        body["occurred_at"] = PLAN_OPENED_AT
        body["follow_up"] = {"due_on": (OPENED + timedelta(days=14)).isoformat()}
        discussion = {**DISCUSSION, "controlled_substance_agreement": True}
        response = prescriber.prescribe(plan, {**body, "discussion": discussion})
        assert response.status_code == 201, response.text
        rx = response.json()["prescription_id"]
        assert medication(prescriber, plan, rx)["review_overdue"] is True  # due after 28 days
        listed = prescriber.http.get("/v1/worklist", params={"from": str(OPENED)}).json()
        [item] = [i for i in listed["items"] if i["kind"] == "review" and i["care_plan_id"] == plan]
        assert (item["prescription_id"], item["overdue"], item["status"]) == (rx, True, "due")

    def test_a_review_of_a_stopped_prescription_is_refused(self, prescriber: Api) -> None:
        plan, rx, _ = prescriber.ready_prescription()
        assert prescriber.discontinue(plan, rx).status_code == 201
        response = post(
            prescriber,
            f"/v1/care-plans/{plan}/prescriptions/{rx}/reviews",
            {"outcome": "stop", "rationale": "stopped already"},
        )
        assert_problem(response, 409, "prescription.not_active")


class TestMeasurementBasedCare:
    def test_no_improvement_after_an_adequate_trial_prompts_a_review(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        phq9(prescriber, plan, 18, PLAN_OPENED_AT)
        body = prescription("sertraline", "50", occurred_at=PLAN_OPENED_AT)
        body["follow_up"] = {"due_on": (OPENED + timedelta(days=14)).isoformat()}
        rx = prescriber.prescribe(plan, body).json()["prescription_id"]
        response = phq9(prescriber, plan, 16, today().isoformat())
        assert "outcome.no_improvement" in codes(response)
        listed = prescriber.http.get("/v1/worklist", params={"from": str(OPENED)}).json()
        [item] = [i for i in listed["items"] if i["kind"] == "review" and i["care_plan_id"] == plan]
        assert (item["prescription_id"], item["status"], item["prompt"]) == (
            rx,
            "prompted",
            "outcome.no_improvement",
        )

    def test_a_long_interval_while_not_stable_warns(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        prescriber.prescribe(plan, prescription("sertraline", "50"))
        response = prescriber.schedule(plan, {"due_on": due(60), "modality": "in_person"})
        assert response.status_code == 201, response.text
        assert codes(response) == ["follow_up.interval_too_long"]


class TestFunctioning:
    def test_functioning_is_shown_beside_symptom_scores(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        rated = {"work_or_school": "severe", "relationships": "moderate", "daily_tasks": "mild"}
        response = prescriber.evaluate(plan, evaluation(functioning=rated))
        assert response.status_code == 201, response.text
        whodas = {"instrument": "WHODAS 2.0", "items": [2] * 12}
        assert post(prescriber, f"/v1/care-plans/{plan}/measurements", whodas).status_code == 201
        phq9(prescriber, plan, 14, today().isoformat())
        outcomes = prescriber.http.get(f"/v1/care-plans/{plan}/outcomes").json()
        assert sorted(i["instrument"] for i in outcomes["instruments"]) == ["PHQ-9", "WHODAS-12"]
        [rating] = outcomes["functioning"]
        assert {k: rating[k] for k in rated} == rated

    def test_an_unknown_functioning_level_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        body = evaluation(functioning={"work_or_school": "awful"})
        assert_problem(prescriber.evaluate(plan, body), 422, "request.invalid")


def test_the_export_carries_the_patients_decisions_as_consents(
    prescriber: Api, auditor: Api
) -> None:
    plan = prescriber.ready_evaluated_plan()
    prescriber.prescribe(plan, prescription("sertraline", "50"))
    exported = auditor.http.get(f"/v1/care-plans/{plan}/export").json()
    consents = [
        e["resource"] for e in exported["entry"] if e["resource"]["resourceType"] == "Consent"
    ]
    assert [c["provision"]["type"] for c in consents] == ["permit"]
