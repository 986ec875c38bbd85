"""The CloudEvents headers of a published event, and where they say its schema is."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.publisher import cloud_event_headers
from services.settings import Settings
from tests.unit.clinic import on_sertraline


def test_every_header_of_a_prescription() -> None:
    plan, _ = on_sertraline()
    prescribed = plan.pending_events[2]
    headers = dict(cloud_event_headers(prescribed, "urn:careplan:test"))
    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": f"{plan.id}:3".encode(),
        "ce_type": b"careplan.MedicationPrescribed.v4",
        "ce_source": b"urn:careplan:test",
        "ce_subject": str(plan.id).encode(),
        "ce_time": headers["ce_time"],
        "ce_dataschema": b"https://careplan.example/schemas/careplan.MedicationPrescribed.v4.json",
        "content-type": b"application/json",
    }


@pytest.mark.parametrize(
    "base",
    ["https://schemas.hospital.example/careplan", "https://schemas.hospital.example/careplan/"],
)
def test_a_configured_base_names_the_schema_with_or_without_a_slash(base: str) -> None:
    plan, _ = on_sertraline()
    headers = dict(cloud_event_headers(plan.pending_events[0], "urn:careplan", base))
    assert headers["ce_dataschema"] == (
        b"https://schemas.hospital.example/careplan/careplan.CarePlanOpened.v2.json"
    )


def test_the_schema_base_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREPLAN_SCHEMA_BASE_URI", raising=False)
    assert Settings().schema_base_uri == "https://careplan.example/schemas/"
    monkeypatch.setenv("CAREPLAN_SCHEMA_BASE_URI", "https://schemas.hospital.example/")
    assert Settings().schema_base_uri == "https://schemas.hospital.example/"
    with pytest.raises(ValidationError):
        Settings(schema_base_uri="infra/schemas")  # a dataschema is an absolute URI
