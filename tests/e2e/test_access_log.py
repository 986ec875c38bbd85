"""Every read of patient data is recorded, and auditors can see who looked at what."""

from __future__ import annotations

from typing import Any

from tests.e2e.careplan_api import Api, assert_problem


def access_entries(auditor: Api, **params: Any) -> list[dict[str, Any]]:
    response = auditor.http.get("/v1/audit/access", params=params)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["entries"]
    return entries


def logged(auditor: Api, plan: str, **by: str) -> list[dict[str, Any]]:
    """A read is answered only once its entry is stored, so the entry is there the
    moment the answer is. (The auditor's own reads are logged too: filter by actor.)"""
    return access_entries(auditor, care_plan_id=plan, **by)


def test_reads_are_logged_with_who_what_and_why(prescriber: Api, auditor: Api) -> None:
    plan = prescriber.ready_evaluated_plan()
    prescriber.http.get(f"/v1/care-plans/{plan}", headers={"X-Purpose-Of-Use": "TREAT"})
    prescriber.http.get(f"/v1/care-plans/{plan}/medications")
    entries = logged(auditor, plan, actor_id=prescriber.actor_id)
    assert len(entries) == 2
    latest, first = entries[0], entries[1]
    assert (first["actor_id"], first["role"], first["purpose"], first["status"]) == (
        prescriber.actor_id,
        "prescriber",
        "TREAT",
        200,
    )
    assert first["endpoint"] == "/v1/care-plans/{care_plan_id}"
    assert latest["endpoint"] == "/v1/care-plans/{care_plan_id}/medications"
    assert first["request_id"]


def test_a_read_that_found_nothing_is_logged_too(clinician: Api, auditor: Api) -> None:
    nowhere = "00000000-0000-0000-0000-000000000000"
    assert clinician.http.get(f"/v1/care-plans/{nowhere}").status_code == 404
    entries = logged(auditor, nowhere, actor_id=clinician.actor_id)
    assert (entries[0]["actor_id"], entries[0]["status"]) == (clinician.actor_id, 404)


def test_only_auditors_read_the_access_log(prescriber: Api) -> None:
    assert_problem(prescriber.http.get("/v1/audit/access"), 403, "auth.forbidden")


def test_the_access_log_cannot_be_changed_through_the_api(auditor: Api) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = auditor.http.request(method, "/v1/audit/access", json={})
        assert response.status_code == 405, (method, response.status_code)


def test_every_spelling_of_a_plan_is_logged_as_one(prescriber: Api, auditor: Api) -> None:
    """Upper case, braces and urn:uuid: name the same plan; an auditor searching by the
    plan finds every read of it, however the caller spelled it."""
    plan = prescriber.ready_evaluated_plan()
    for spelling in (plan.upper(), "{" + plan + "}", f"urn:uuid:{plan}"):
        response = prescriber.http.get(f"/v1/care-plans/{spelling}")
        assert response.status_code == 200, (spelling, response.text)
    entries = logged(auditor, plan, actor_id=prescriber.actor_id)
    assert len(entries) == 3
    assert {e["care_plan_id"] for e in entries} == {plan}
