"""A critical lab value comes back at once, so the clinic can act the same day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.careplan_api import Api, assert_problem, prescription


def lab(api: Api, plan: str, value: str) -> dict:  # type: ignore[type-arg]
    body = {
        "test": "lithium_level",
        "value": value,
        "unit": "mEq/L",
        "collected_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    response = api.http.post(f"/v1/care-plans/{plan}/lab-results", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_toxic_lithium_level_is_urgent_and_a_high_one_is_not(
    clinician: Api, prescriber: Api
) -> None:
    plan = prescriber.ready_evaluated_plan()
    [urgent] = lab(clinician, plan, "1.8")["urgent"]
    assert (urgent["code"], urgent["severity"]) == ("lab.critical", "urgent")
    assert urgent["source"]
    assert lab(clinician, plan, "1.3")["urgent"] == []


def test_a_rash_on_lamotrigine_is_urgent_and_completes_the_check(
    clinician: Api, prescriber: Api
) -> None:
    plan = prescriber.ready_evaluated_plan()
    started = prescriber.prescribe(plan, prescription("lamotrigine", "25"))
    assert started.status_code == 201, started.text
    checks = f"/v1/care-plans/{plan}/checks"
    negative = clinician.http.post(checks, json={"check": "rash_check", "present": False})
    assert negative.status_code == 201, negative.text
    assert negative.json()["urgent"] == []
    positive = clinician.http.post(
        checks, json={"check": "rash_check", "present": True, "note": "target lesions"}
    )
    [urgent] = positive.json()["urgent"]
    assert urgent["code"] == "lamotrigine.rash"
    assert clinician.events(plan)[-1]["type"] == "ClinicalCheckRecorded"


def test_an_unknown_check_is_a_problem(clinician: Api, prescriber: Api) -> None:
    plan = prescriber.ready_evaluated_plan()
    response = clinician.http.post(
        f"/v1/care-plans/{plan}/checks", json={"check": "mood", "present": True}
    )
    assert_problem(response, 422, "request.invalid")
