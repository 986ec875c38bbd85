"""The clinical rules over HTTP: warnings, acknowledgements, tapers, switches, scope."""

from __future__ import annotations

from typing import Any

from tests.e2e.careplan_api import (
    Api,
    assert_problem,
    client,
    due,
    evaluation,
    prescription,
    stores_nothing,
    token,
)
from tests.e2e.conftest import Server


def post(api: Api, path: str, body: dict[str, Any]) -> Any:
    return api.http.post(path, json=body)


def rx_path(plan: str, rx: str, tail: str) -> str:
    return f"/v1/care-plans/{plan}/prescriptions/{rx}/{tail}"


class TestWarningsAndAcknowledgements:
    def test_a_high_start_warns_and_stays_pending_until_acknowledged(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        response = prescriber.prescribe(plan, prescription("sertraline", "100"))
        assert response.status_code == 201, response.text
        [warning] = response.json()["warnings"]
        assert (warning["code"], warning["acknowledged"]) == ("dose.above_usual_start", False)
        rx = response.json()["prescription_id"]
        pending = prescriber.plan(plan).json()["pending_acknowledgements"]
        assert [(p["subject_id"], p["code"]) for p in pending] == [(rx, "dose.above_usual_start")]
        ack = {
            "subject_id": rx,
            "code": "dose.above_usual_start",
            "justification": "prior response",
        }
        assert post(prescriber, f"/v1/care-plans/{plan}/acknowledgements", ack).status_code == 201
        assert prescriber.plan(plan).json()["pending_acknowledgements"] == []
        assert prescriber.events(plan)[-1]["type"] == "SafetyWarningAcknowledged"

    def test_a_warning_acknowledged_in_the_same_command_is_not_pending(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription(
            "sertraline",
            "100",
            acknowledgements=[
                {"code": "dose.above_usual_start", "justification": "prior response"}
            ],
        )
        response = prescriber.prescribe(plan, body)
        assert response.json()["warnings"][0]["acknowledged"] is True
        assert prescriber.plan(plan).json()["pending_acknowledgements"] == []

    def test_acknowledging_what_was_not_raised_is_refused_and_stores_nothing(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription(acknowledgements=[{"code": "dose.nothing", "justification": "x"}])
        with stores_nothing(prescriber, plan):
            assert_problem(prescriber.prescribe(plan, body), 422, "acknowledgement.unexpected")


class TestBlocks:
    def test_an_unknown_drug_is_refused_with_the_nearest_names(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        with stores_nothing(prescriber, plan):
            problem = assert_problem(
                prescriber.prescribe(plan, prescription("setraline")), 422, "drug.unknown"
            )
        assert "sertraline" in problem["detail"]

    def test_a_dose_above_the_maximum_is_refused_with_its_source(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        with stores_nothing(prescriber, plan):
            problem = assert_problem(
                prescriber.prescribe(plan, prescription("sertraline", "250")),
                409,
                "dose.above_maximum",
            )
        assert problem["source"]

    def test_an_maoi_beside_an_ssri_is_contraindicated(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        assert prescriber.prescribe(plan, prescription("sertraline", "50")).status_code == 201
        body = prescription("phenelzine", "15", frequency="three_times_daily")
        with stores_nothing(prescriber, plan):
            assert_problem(prescriber.prescribe(plan, body), 409, "interaction.contraindicated")

    def test_a_physician_assistant_needs_a_supervisor(self, server: Server) -> None:
        pa_token = token("prescriber", "pa-lee", extra={"profession": "physician_assistant"})
        with client(server.base_url, headers={"Authorization": f"Bearer {pa_token}"}) as http:
            pa = Api(http)
            plan = pa.ready_evaluated_plan()
            with stores_nothing(pa, plan):
                assert_problem(
                    pa.prescribe(plan, prescription()), 409, "prescriber.supervisor_required"
                )


class TestTaperAndStop:
    def test_stopping_paroxetine_abruptly_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        rx = prescriber.prescribe(plan, prescription("paroxetine", "20")).json()["prescription_id"]
        body = {"reason": "remission", "reason_code": "remission"}
        with stores_nothing(prescriber, plan):
            response = post(prescriber, rx_path(plan, rx, "discontinuation"), body)
            assert_problem(response, 409, "discontinuation.taper_required")

    def test_a_taper_then_its_step_then_the_stop(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        rx = prescriber.prescribe(plan, prescription("paroxetine", "20")).json()["prescription_id"]
        taper = {
            "steps": [
                {"starts_on": due(0), "dose": {"amount": "10", "unit": "mg"}},
                {"starts_on": due(14), "dose": {"amount": "5", "unit": "mg"}},
            ],
            "reason": "remission for 9 months",
        }
        assert post(prescriber, rx_path(plan, rx, "taper"), taper).status_code == 201
        step = {"dose": {"amount": "10", "unit": "mg"}, "reason": "taper step 1"}
        assert prescriber.change_dose(plan, rx, step).json()["warnings"] == []
        assert prescriber.events(plan)[-1]["data"]["taper_step"] == 1
        stop = {"reason": "done", "reason_code": "taper_completed"}
        assert post(prescriber, rx_path(plan, rx, "discontinuation"), stop).status_code == 201
        assert prescriber.active_drugs(plan) == []


class TestSwitch:
    def test_a_cross_taper_links_old_and_new(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        old = prescriber.prescribe(plan, prescription("sertraline", "50")).json()["prescription_id"]
        body = {
            "strategy": "cross_taper",
            "reason": "sexual side effects",
            "drug": "bupropion",
            "dose": {"amount": "150", "unit": "mg"},
            "frequency": "daily",
            "indication": "F32.1",
            "taper": [{"starts_on": due(7), "dose": {"amount": "25", "unit": "mg"}}],
        }
        response = post(prescriber, rx_path(plan, old, "switch"), body)
        assert response.status_code == 201, response.text
        new = response.json()["prescription_id"]
        switched = prescriber.events(plan)[-1]
        assert switched["type"] == "MedicationSwitched"
        assert (
            switched["data"]["from_prescription_id"],
            switched["data"]["to_prescription_id"],
        ) == (
            old,
            new,
        )
        assert sorted(d for d, _, _ in prescriber.active_drugs(plan)) == ["bupropion", "sertraline"]

    def test_a_clinician_cannot_switch(self, clinician: Api, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        old = prescriber.prescribe(plan, prescription()).json()["prescription_id"]
        body = {
            "strategy": "direct",
            "reason": "x",
            "drug": "escitalopram",
            "dose": {"amount": "10", "unit": "mg"},
            "frequency": "daily",
            "indication": "F32.1",
        }
        with stores_nothing(prescriber, plan):
            assert_problem(
                post(clinician, rx_path(plan, old, "switch"), body), 403, "auth.forbidden"
            )


class TestAnEvaluationJudgesWhatIsTaken:
    def test_a_condition_that_lowers_the_maximum_flags_the_standing_dose(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        body = prescription(
            "escitalopram",
            "20",
            acknowledgements=[{"code": "dose.above_usual_start", "justification": "prior dose"}],
        )
        rx = prescriber.prescribe(plan, body).json()["prescription_id"]
        reassessment = evaluation("reassessment", diagnoses=[], conditions=["hepatic_impairment"])
        response = prescriber.evaluate(plan, reassessment)
        assert response.status_code == 201, response.text
        [flagged] = response.json()["flagged"]
        assert flagged["prescription_id"] == rx
        assert [(w["code"], w["severity"]) for w in flagged["warnings"]] == [
            ("dose.above_maximum", "warn")
        ]
        pending = prescriber.plan(plan).json()["pending_acknowledgements"]
        assert (rx, "dose.above_maximum") in [(p["subject_id"], p["code"]) for p in pending]
        types = [e["type"] for e in prescriber.events(plan)[-2:]]
        assert types == ["EvaluationRecorded", "MedicationReviewFlagged"]

    def test_an_ended_condition_is_resolved_and_a_contradiction_refused(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        pregnant = evaluation("reassessment", diagnoses=[], conditions=["pregnant"])
        assert prescriber.evaluate(plan, pregnant).json()["flagged"] == []
        ended = evaluation("reassessment", diagnoses=[], resolved_conditions=["pregnant"])
        assert prescriber.evaluate(plan, ended).status_code == 201
        both = evaluation(
            "reassessment", diagnoses=[], conditions=["pregnant"], resolved_conditions=["pregnant"]
        )
        with stores_nothing(prescriber, plan):
            assert_problem(
                prescriber.evaluate(plan, both), 422, "evaluation.condition_contradictory"
            )


class TestTheUseSetsTheMaximum:
    def test_a_labelled_indication_allows_its_own_maximum(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        high = prescription(
            "paroxetine",
            "60",
            acknowledgements=[{"code": "dose.above_usual_start", "justification": "transfer"}],
        )
        with stores_nothing(prescriber, plan):
            assert_problem(prescriber.prescribe(plan, high), 409, "dose.above_maximum")
        response = prescriber.prescribe(plan, {**high, "indication_code": "ocd", "form": "ir"})
        assert response.status_code == 201, response.text
        [rx] = prescriber.plan(plan).json()["prescriptions"]
        assert (rx["form"], rx["indication_code"], rx["setting"]) == ("ir", "ocd", "outpatient")

    def test_a_weight_from_the_evaluation_caps_a_dose_per_kilogram(self, prescriber: Api) -> None:
        plan = prescriber.ready_plan()
        weighed = evaluation(weight_kg="50")
        assert prescriber.evaluate(plan, weighed).status_code == 201
        body = prescription("divalproex", "1000", frequency="four_times_daily")
        with stores_nothing(prescriber, plan):
            problem = assert_problem(prescriber.prescribe(plan, body), 409, "dose.above_maximum")
        assert "60 mg/kg at 50 kg" in problem["detail"]

    def test_an_unknown_form_or_an_implausible_weight_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        assert_problem(
            prescriber.prescribe(plan, prescription(form="gummy")), 422, "request.invalid"
        )
        assert_problem(prescriber.evaluate(plan, evaluation(weight_kg="0")), 422, "request.invalid")
