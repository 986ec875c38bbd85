"""A critical lab value comes back at once, so the clinic can act the same day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.careplan_api import Api


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
    assert (urgent["code"], urgent["severity"]) == ("lab.critical", "warn")
    assert urgent["source"]
    assert lab(clinician, plan, "1.3")["urgent"] == []
