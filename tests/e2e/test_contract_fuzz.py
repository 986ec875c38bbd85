"""The contract, fuzzed: schemathesis generates requests from /openapi.json for every
operation (a fixed number of examples each) against the real server. No answer is
a 500, every answer matches its documented status, content type and schema, and a
refused request stores no event (the server's own event counter does not move)."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.careplan_api import token
from tests.e2e.conftest import Server

EXAMPLES_PER_OPERATION = 5
# A schema-valid body can still be clinically meaningless (a time in the future, a drug
# not in the formulary, a dose above its maximum): those are documented 422s and 409s,
# so "schema-valid must be accepted" does not hold for this API by design.
CLINICAL_422 = [positive_data_acceptance]


def events_stored(server: Server) -> float:
    admin = {"Authorization": f"Bearer {token('admin', 'ops-fuzz')}"}
    text = httpx.get(f"{server.base_url}/metrics", headers=admin, timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "careplan_events_appended"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def test_the_api_keeps_its_contract(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    bearer = {"Authorization": f"Bearer {token('prescriber', 'dr-fuzz')}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25
    count = [events_stored(server)]  # events stored so far, as the server counts them

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def keeps_its_contract(case: Any) -> None:
            response = case.call_and_validate(headers=bearer, excluded_checks=CLINICAL_422)
            stored = events_stored(server)
            if response.status_code >= 400:
                assert stored == count[0], "a refused request stored an event"
            count[0] = stored

        keeps_its_contract()
