"""The contract is published: integrators generate clients from /openapi.json."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Server


def test_the_openapi_document_lists_every_command_with_enums_from_the_domain(
    server: Server,
) -> None:
    spec = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    paths = spec["paths"]
    for path in (
        "/v1/care-plans",
        "/v1/care-plans/{care_plan_id}/prescriptions",
        "/v1/care-plans/{care_plan_id}/prescriptions/{prescription_id}/taper",
        "/v1/care-plans/{care_plan_id}/prescriptions/{prescription_id}/switch",
        "/v1/care-plans/{care_plan_id}/acknowledgements",
        "/v1/audit",
    ):
        assert path in paths, path
    frequency = spec["components"]["schemas"]["Prescribe"]["properties"]["frequency"]
    assert "twice_daily" in frequency["enum"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def test_every_operation_documents_its_problems_and_commands_have_examples(
    server: Server,
) -> None:
    spec = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in ("/health", "/ready"):  # no token, no body: counts only
                continue
            responses = operation["responses"]
            assert {"401", "403", "422"} <= set(responses), (method, path)
            problem = responses["403"]["content"]["application/problem+json"]["schema"]
            assert problem["$ref"].endswith("/Problem")
    schemas = spec["components"]["schemas"]
    for name in ("OpenCarePlan", "RecordEvaluation", "Prescribe", "ChangeDose", "Discontinue"):
        assert schemas[name]["examples"], name
