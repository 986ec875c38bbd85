"""The record as FHIR R4B: validated by fhir.resources, statuses checked by us, and
the links between resources resolve inside the Bundle."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from domain.care_plan import CarePlan
from domain.scales import validated_measurement
from domain.values import FollowUpPlan, TaperStep
from services.fhir_export import export_bundle
from services.fhir_statuses import InvalidStatus, check_codes
from tests.unit.clinic import AGREED, DR_ADA, FORMULARY, NOW, ctx, evaluated_plan, in_weeks, mg
from tests.unit.test_upcasting import a_full_history


def later(days: int) -> Any:
    return ctx(DR_ADA, NOW + timedelta(days=days))


def build(plan: CarePlan, reads: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    history = list(plan.collect_events())
    return export_bundle(plan, history, FORMULARY, reads or [])


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


@pytest.fixture
def treated() -> CarePlan:
    """Sertraline raised then tapered, paroxetine stopped for a rash, a PHQ-9 at a
    telehealth visit, a lithium level, an entry in error."""
    plan = evaluated_plan()
    sertraline, _ = plan.prescribe(
        "sertraline", mg("50"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    plan.change_dose(
        sertraline, mg("100"), "partial response", None, later(14), formulary=FORMULARY
    )
    steps = [TaperStep((NOW + timedelta(days=30)).date(), mg("50"))]
    steps.append(TaperStep((NOW + timedelta(days=44)).date(), mg("25")))
    plan.start_taper(sertraline, steps, "remission", later(28), formulary=FORMULARY)
    paroxetine, _ = plan.prescribe(
        "paroxetine", mg("10"), "daily", "oral", "panic", None, later(1), formulary=FORMULARY
    )
    plan.discontinue(
        paroxetine, "rash", later(3), reason_code="adverse_reaction", formulary=FORMULARY
    )
    (visit,) = list(plan.follow_ups)
    plan.complete_follow_up(
        visit, "telehealth", [validated_measurement("PHQ-9", 12)], [], None, later(14)
    )
    plan.schedule_follow_up(FollowUpPlan((NOW + timedelta(days=40)).date()), later(28))
    return plan


def test_the_bundle_validates_and_every_reference_resolves(treated: CarePlan) -> None:
    bundle = build(treated)
    Bundle.model_validate(bundle)
    check_codes(bundle)
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    assert set(references(bundle)) <= urls


def test_each_prescription_version_links_to_the_one_it_replaced(treated: CarePlan) -> None:
    requests = of_type(build(treated), "MedicationRequest")
    sertraline = [r for r in requests if r["medicationCodeableConcept"]["text"] == "sertraline"]
    first, latest = sertraline
    assert (first["status"], latest["status"]) == ("completed", "active")
    assert latest["priorPrescription"]["reference"] == f"urn:uuid:{first['id']}"
    assert latest["medicationCodeableConcept"]["coding"][0]["code"]  # RxNorm
    doses = [
        line["doseAndRate"][0]["doseQuantity"]["value"] for line in latest["dosageInstruction"]
    ]
    assert doses == [100, 50, 25]  # the taper, as sequenced dosage lines
    assert [line["sequence"] for line in latest["dosageInstruction"]] == [1, 2, 3]


def test_a_stopped_prescription_says_why(treated: CarePlan) -> None:
    requests = of_type(build(treated), "MedicationRequest")
    [stopped] = [r for r in requests if r["medicationCodeableConcept"]["text"] == "paroxetine"]
    assert stopped["status"] == "stopped"
    assert stopped["statusReason"]["coding"][0]["code"] == "adverse_reaction"


def test_current_medications_are_statements_based_on_the_latest_order(treated: CarePlan) -> None:
    bundle = build(treated)
    [statement] = of_type(bundle, "MedicationStatement")
    latest = [r for r in of_type(bundle, "MedicationRequest") if r["status"] == "active"]
    assert statement["basedOn"][0]["reference"] == f"urn:uuid:{latest[0]['id']}"


def test_scales_are_observations_with_loinc_and_visits_are_encounters(treated: CarePlan) -> None:
    bundle = build(treated)
    [phq9] = of_type(bundle, "Observation")
    assert (phq9["code"]["coding"][0]["code"], phq9["valueInteger"]) == ("44261-6", 12)
    encounters = {e["status"]: e["class"]["code"] for e in of_type(bundle, "Encounter")}
    assert encounters == {"finished": "VR", "planned": "AMB"}


def test_every_event_has_its_provenance(treated: CarePlan) -> None:
    history = list(treated.collect_events())
    bundle = export_bundle(treated, history, FORMULARY)
    provenance = of_type(bundle, "Provenance")
    assert len(provenance) == len(history)
    assert {p["agent"][0]["who"]["identifier"]["value"] for p in provenance} == {"dr-ada"}
    activities = [p["activity"]["coding"][0]["code"] for p in provenance]
    assert activities == [type(e).__name__ for e in history]


def test_reads_become_audit_events() -> None:
    plan = evaluated_plan()
    read = {
        "id": 7,
        "at": "2026-03-02T10:00:00.000000Z",
        "actor_id": "au-lee",
        "role": "auditor",
        "method": "GET",
        "endpoint": "/v1/care-plans/{care_plan_id}",
        "status": 200,
        "purpose": "HOPERAT",
    }
    [audit] = of_type(build(plan, [read]), "AuditEvent")
    assert (audit["action"], audit["outcome"]) == ("R", "0")
    assert audit["purposeOfEvent"][0]["coding"][0]["code"] == "HOPERAT"


def test_a_whole_history_with_every_event_type_exports() -> None:
    history = a_full_history()
    plan: Any = None
    for event in history:
        plan = event.mutate(plan)
    bundle = export_bundle(plan, history, FORMULARY)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"MedicationRequest", "Observation", "Encounter", "Provenance", "Patient"} <= kinds
    assert "entered-in-error" in {e["status"] for e in of_type(bundle, "Encounter")}


def test_a_status_outside_its_value_set_is_refused() -> None:
    bad = {
        "type": "collection",
        "entry": [{"resource": {"resourceType": "MedicationRequest", "status": "paused"}}],
    }
    with pytest.raises(InvalidStatus):
        check_codes(bad)


def test_an_entry_in_error_is_exported_as_such() -> None:
    plan = evaluated_plan()
    plan.prescribe(
        "sertraline", mg("25"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    prescribed = next(
        e for e in plan.pending_events if isinstance(e, CarePlan.MedicationPrescribed)
    )
    plan.mark_entry_in_error(prescribed.originator_version, prescribed, "wrong patient", later(1))
    bundle = build(plan)
    [request] = of_type(bundle, "MedicationRequest")
    assert request["status"] == "entered-in-error"
    assert of_type(bundle, "MedicationStatement") == []


def test_decisions_about_medication_are_consents() -> None:
    plan = evaluated_plan()
    plan.record_treatment_decision("medication_declined", "prefers CBT first", ["CBT"], ctx())
    plan.prescribe(
        "sertraline",
        mg("50"),
        "daily",
        "oral",
        "MDD",
        FollowUpPlan((NOW + timedelta(days=44)).date()),
        later(30),
        formulary=FORMULARY,
        discussion=AGREED,
    )
    plan.prescribe(
        "buspirone",
        mg("7.5"),
        "twice_daily",
        "oral",
        "GAD",
        None,
        later(31),
        formulary=FORMULARY,
        discussion=replace(AGREED, decision="undecided"),
    )
    consents = of_type(build(plan), "Consent")
    assert [(c["provision"]["type"], c["status"]) for c in consents] == [
        ("deny", "active"),
        ("permit", "active"),
        ("permit", "proposed"),
    ]
    assert all(c["scope"]["coding"][0]["code"] == "treatment" for c in consents)
