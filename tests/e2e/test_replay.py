"""Auditors replay a plan over HTTP: by version, as it was known, as it was clinically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fhir.resources.R4B.bundle import Bundle

from tests.e2e.careplan_api import (
    PLAN_OPENED_AT,
    Api,
    assert_problem,
    dose_change,
    prescription,
)


def state(auditor: Api, plan: str, **params: object) -> dict:  # type: ignore[type-arg]
    response = auditor.http.get(f"/v1/care-plans/{plan}/state", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def doses(body: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {m["drug"]: m["dose"]["amount"] for m in body["medications"]}


def test_a_late_dose_change_is_in_the_clinical_view_but_was_not_known_then(
    prescriber: Api, auditor: Api
) -> None:
    plan = prescriber.ready_evaluated_plan()
    five_days_ago = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    started = prescriber.prescribe(plan, prescription(occurred_at=five_days_ago))
    rx = started.json()["prescription_id"]
    known_before = datetime.now(UTC).isoformat()
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    late = dose_change("50", occurred_at=two_days_ago)
    assert prescriber.change_dose(plan, rx, late).status_code == 201
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert doses(state(auditor, plan, clinical_as_of=yesterday)) == {"sertraline": "50"}
    assert doses(state(auditor, plan, as_of=known_before)) == {"sertraline": "25"}
    by_version = state(auditor, plan, version=3)
    assert by_version["version"] == 3
    assert [e["version"] for e in by_version["events"]] == [1, 2, 3]
    assert by_version["events"][0]["summary"]


def test_before_the_plan_opened_there_is_nothing(prescriber: Api, auditor: Api) -> None:
    plan = prescriber.ready_plan()
    before = datetime.fromisoformat(PLAN_OPENED_AT) - timedelta(days=1)
    assert state(auditor, plan, clinical_as_of=before.isoformat())["exists"] is False


def test_one_point_at_a_time_and_times_with_zones(prescriber: Api, auditor: Api) -> None:
    plan = prescriber.ready_plan()
    both = {"version": 1, "as_of": datetime.now(UTC).isoformat()}
    path = f"/v1/care-plans/{plan}/state"
    assert_problem(auditor.http.get(path, params=both), 422, "replay.one_point")
    naive = {"as_of": "2026-01-01T10:00:00"}
    assert_problem(auditor.http.get(path, params=naive), 422, "request.invalid")


def test_the_record_exports_as_fhir_json_and_csv(prescriber: Api, auditor: Api) -> None:
    plan, _, _ = prescriber.ready_prescription()
    prescriber.plan(plan)  # a read, to come back as an AuditEvent
    path = f"/v1/care-plans/{plan}/export"
    fhir = auditor.http.get(path, params={"format": "fhir"})
    assert fhir.status_code == 200, fhir.text
    assert fhir.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(fhir.json())
    kinds = [entry.resource.get_resource_type() for entry in bundle.entry]
    assert "MedicationRequest" in kinds
    assert "AuditEvent" in kinds
    record = auditor.http.get(path, params={"format": "json"}).json()
    assert [e["type"] for e in record["events"]][:3] == [
        "CarePlanOpened",
        "EvaluationRecorded",
        "MedicationPrescribed",
    ]
    lines = auditor.http.get(path, params={"format": "csv"}).text.splitlines()
    assert lines[0].startswith("version,type,occurred_at")
    assert len(lines) == len(record["events"]) + 1
    assert_problem(auditor.http.get(path, params={"format": "xml"}), 422, "request.invalid")


def test_the_events_that_led_there_come_a_page_at_a_time(prescriber: Api, auditor: Api) -> None:
    plan, _, _ = prescriber.ready_prescription()
    whole = state(auditor, plan)
    total = whole["events_total"]
    assert [e["version"] for e in whole["events"]] == list(range(1, total + 1))
    assert whole["earlier_events_before"] is None
    collected, before = [], None
    while True:
        params = {"events_limit": 2} | ({"events_before": before} if before else {})
        page = state(auditor, plan, **params)
        assert page["events_total"] == total
        assert page["version"] == whole["version"]
        collected = page["events"] + collected
        before = page["earlier_events_before"]
        if before is None:
            break
    assert collected == whole["events"]
    path = f"/v1/care-plans/{plan}/state"
    assert_problem(auditor.http.get(path, params={"events_limit": 0}), 422, "request.invalid")
