"""The safety holes a prescriber found in a week of real use, closed, through HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.careplan_api import (
    Api,
    assert_problem,
    client,
    completion,
    due,
    evaluation,
    new_patient,
    prescription,
    stores_nothing,
    token,
)
from tests.e2e.conftest import Server

PHQ9_ITEM_9_POSITIVE = [1, 2, 1, 1, 0, 1, 1, 0, 1]


def post(api: Api, path: str, body: dict[str, Any]) -> httpx.Response:
    return api.http.post(path, json=body)


def rx_path(plan: str, rx: str, tail: str) -> str:
    return f"/v1/care-plans/{plan}/prescriptions/{rx}/{tail}"


def started(api: Api, plan: str, body: dict[str, Any]) -> str:
    response = api.prescribe(plan, body)
    assert response.status_code == 201, response.text
    rx: str = response.json()["prescription_id"]
    return rx


def codes(response: httpx.Response, key: str = "warnings") -> list[str]:
    return [finding["code"] for finding in response.json()[key]]


class TestSelfHarmScreeningAtTheVisit:
    def test_a_positive_item_9_at_the_visit_is_urgent(self, prescriber: Api) -> None:
        plan, _, follow_up = prescriber.ready_prescription()
        body = completion()
        body["measurements"] = [{"instrument": "PHQ-9", "items": PHQ9_ITEM_9_POSITIVE}]
        response = prescriber.complete(plan, follow_up, body)
        assert response.status_code == 201, response.text
        [urgent] = response.json()["urgent"]
        assert (urgent["code"], urgent["severity"]) == ("measurement.self_harm_risk", "urgent")
        visit = prescriber.events(plan)[-1]
        assert visit["data"]["measurements"][0]["items"] == PHQ9_ITEM_9_POSITIVE
        assert visit["data"]["findings"][0]["severity"] == "urgent"

    def test_the_visit_answers_as_the_measurements_route_does(self, prescriber: Api) -> None:
        plan, _, follow_up = prescriber.ready_prescription()
        body = completion()
        body["measurements"] = [{"instrument": "PHQ-9", "items": PHQ9_ITEM_9_POSITIVE}]
        at_visit = prescriber.complete(plan, follow_up, body).json()
        alone = post(
            prescriber,
            f"/v1/care-plans/{plan}/measurements",
            {"instrument": "PHQ-9", "items": PHQ9_ITEM_9_POSITIVE},
        ).json()
        assert at_visit["urgent"] == alone["urgent"]
        assert at_visit["warnings"] == alone["warnings"] == []

    def test_a_total_only_phq9_says_item_9_is_unknown(self, prescriber: Api) -> None:
        plan, _, follow_up = prescriber.ready_prescription()
        response = prescriber.complete(plan, follow_up, completion(("PHQ-9", 12)))
        assert response.json()["urgent"] == []
        assert codes(response) == ["measurement.self_harm_item_unknown"]
        alone = post(
            prescriber, f"/v1/care-plans/{plan}/measurements", {"instrument": "PHQ-9", "total": 7}
        )
        assert codes(alone) == ["measurement.self_harm_item_unknown"]


class TestStoppingAndSwitching:
    def test_a_taper_planned_but_never_followed_is_an_abrupt_stop(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        rx = started(prescriber, plan, prescription("paroxetine", "20"))
        taper = {
            "reason": "remission for a year",
            "steps": [
                {"starts_on": due(7), "dose": {"amount": "10", "unit": "mg"}},
                {"starts_on": due(14), "dose": {"amount": "5", "unit": "mg"}},
            ],
        }
        assert post(prescriber, rx_path(plan, rx, "taper"), taper).status_code == 201
        stop = {"reason": "taper done", "reason_code": "taper_completed"}
        with stores_nothing(prescriber, plan):
            response = post(prescriber, rx_path(plan, rx, "discontinuation"), stop)
        body = assert_problem(response, 409, "discontinuation.taper_required")
        assert "0 of the 2 steps" in body["detail"]
        assert "CLINICAL" not in body["source"]

    def test_switched_with_nothing_started_is_judged_as_a_stop(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        rx = started(prescriber, plan, prescription("alprazolam", "0.5", frequency="twice_daily"))
        stop = {"reason": "switched", "reason_code": "switched"}
        response = post(prescriber, rx_path(plan, rx, "discontinuation"), stop)
        assert_problem(response, 409, "discontinuation.taper_required")

    def test_a_refused_direct_switch_says_what_would_happen(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        rx = started(prescriber, plan, prescription("fluoxetine", "20"))
        switch = {
            "strategy": "direct",
            "reason": "no response",
            **prescription("phenelzine", "15", frequency="three_times_daily"),
        }
        with stores_nothing(prescriber, plan):
            response = post(prescriber, rx_path(plan, rx, "switch"), switch)
        body = assert_problem(response, 409, "interaction.washout_required")
        assert "was stopped" not in body["detail"]


class TestRisksJudgedWhenTheyArise:
    def test_raising_lithium_beside_an_nsaid_warns_again(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        body = evaluation(current_medications=["Ibuprofen 400 mg three times daily"])
        assert prescriber.evaluate(plan, body).status_code == 201
        ack = [{"code": "interaction.lithium_level", "justification": "level in 5 days"}]
        lithium = prescription("lithium", "300", frequency="twice_daily", acknowledgements=ack)
        rx = started(prescriber, plan, lithium)
        raised = post(
            prescriber,
            rx_path(plan, rx, "dose-changes"),
            {"dose": {"amount": "450", "unit": "mg"}, "reason": "mania persists"},
        )
        assert raised.status_code == 201, raised.text
        assert "interaction.lithium_level" in codes(raised)

    def test_lithium_30000_mg_three_times_daily_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription("lithium", "30000", frequency="three_times_daily")
        assert_problem(prescriber.prescribe(plan, body), 409, "dose.above_ceiling")

    def test_a_plan_without_a_birth_date_names_the_missing_fact(self, prescriber: Api) -> None:
        opened = prescriber.open_plan(birth_date=None)
        plan = opened.json()["care_plan_id"]
        assert prescriber.evaluate(plan).status_code == 201
        response = prescriber.prescribe(plan, prescription("citalopram", "40"))
        assert "patient.age_unknown" in codes(response)
        later = evaluation("reassessment", diagnoses=[], birth_date="1950-01-01")
        assert prescriber.evaluate(plan, later).status_code == 201
        again = prescriber.prescribe(plan, prescription("sertraline", "50"))
        assert "patient.age_unknown" not in codes(again)

    def test_mood_stabilisers_combined_on_purpose_are_no_duplicate(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        started(prescriber, plan, prescription("divalproex", "250", frequency="three_times_daily"))
        lamotrigine = prescription("lamotrigine", "25", frequency="every_other_day")
        response = prescriber.prescribe(plan, lamotrigine)
        assert response.status_code == 201, response.text
        assert "interaction.valproate_lamotrigine" in codes(response)
        assert "therapy.duplicate_class" not in codes(response)


class TestCodedFacts:
    def test_a_diagnosis_code_nobody_can_look_up_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        body = evaluation(diagnoses=[{"code": "banana", "display": "fruit"}])
        with stores_nothing(prescriber, plan):
            response = prescriber.evaluate(plan, body)
        assert_problem(response, 422, "diagnosis.unknown_code")

    def test_a_code_without_display_takes_the_code_sets_own(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        response = prescriber.evaluate(plan, evaluation(diagnoses=[{"code": "f321"}]))
        assert response.status_code == 201, response.text
        [diagnosis] = prescriber.events(plan)[-1]["data"]["diagnoses"]
        assert diagnosis == {
            "code": "F32.1",
            "display": "Major depressive disorder, single episode, moderate",
            "system": "http://hl7.org/fhir/sid/icd-10-cm",
        }

    def test_a_drug_the_patient_is_allergic_to_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        body = evaluation(allergies=["Lamictal (rash, 2019)", "penicillin"])
        evaluated = prescriber.evaluate(plan, body)
        assert codes(evaluated) == ["allergy.not_coded"]  # penicillin: checked against nothing
        refused = prescriber.prescribe(plan, prescription("lamotrigine", "25"))
        assert_problem(refused, 409, "allergy.documented")
        cross = prescriber.prescribe(plan, prescription("oxcarbazepine", "300"))
        assert "allergy.cross_reactive" in codes(cross)


class TestOneOpenPlanPerPatient:
    def test_a_second_open_plan_is_refused_and_the_patients_plans_are_listed(
        self, prescriber: Api
    ) -> None:
        patient = new_patient()
        first = prescriber.open_plan(patient).json()["care_plan_id"]
        second = prescriber.open_plan(patient)
        body = assert_problem(second, 409, "care_plan.already_open")
        assert first not in body["detail"]  # it may be on another care team's plan
        listed = prescriber.http.get("/v1/care-plans", params={"patient_id": patient})
        assert listed.json() == {
            "patient_id": patient,
            "plans": [{"care_plan_id": first, "status": "open"}],
        }
        closure = {"reason": "treatment_completed"}
        assert post(prescriber, f"/v1/care-plans/{first}/closure", closure).status_code == 201
        reopened = prescriber.open_plan(patient)
        assert reopened.status_code == 201, reopened.text
        statuses = prescriber.http.get("/v1/care-plans", params={"patient_id": patient}).json()
        assert [p["status"] for p in statuses["plans"]] == ["open", "closed"]

    def test_a_patient_id_with_a_control_character_is_refused(self, prescriber: Api) -> None:
        listed = prescriber.http.get("/v1/care-plans", params={"patient_id": "pt\x00x"})
        assert_problem(listed, 422, "text.control_character")

    def test_the_list_shows_only_the_callers_care_teams(
        self, prescriber: Api, server: Server
    ) -> None:
        patient = new_patient()
        plan = prescriber.open_plan(patient).json()["care_plan_id"]
        outsider = token(
            "clinician", "rn-out", extra={"care_team": ["00000000-0000-0000-0000-000000000000"]}
        )
        with client(server.base_url, headers={"Authorization": f"Bearer {outsider}"}) as http:
            listed = http.get("/v1/care-plans", params={"patient_id": patient})
        assert listed.status_code == 200
        assert listed.json()["plans"] == []
        member = token("clinician", "rn-in", extra={"care_team": [plan]})
        with client(server.base_url, headers={"Authorization": f"Bearer {member}"}) as http:
            listed = http.get("/v1/care-plans", params={"patient_id": patient})
        assert [p["care_plan_id"] for p in listed.json()["plans"]] == [plan]
