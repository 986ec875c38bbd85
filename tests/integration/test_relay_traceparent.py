"""A command's W3C traceparent, from the HTTP header to the header of its Kafka messages.

The API runs in process (no server needed to carry one header), on both stores;
the relay publishes to a topic of this test's own and the records are read back.
"""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.bootstrap import Careplan
from services.publisher import Relay, make_producer
from services.tokens import issue_token
from tests.conftest import TEST_SECRET
from tests.e2e.careplan_api import evaluation
from tests.integration.kafka_helpers import by_key, new_topic, read_topic

pytestmark = [pytest.mark.kafka]

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# Wrong length, upper case, unknown version layout, all-zero trace id: all ignored.
INVALID = [
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
    "not-a-traceparent",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
]


def open_plan(http: TestClient, patient: str, headers: dict[str, str]) -> str:
    response = http.post("/v1/care-plans", json={"patient_id": patient}, headers=headers)
    assert response.status_code == 201, response.text  # an invalid traceparent is no refusal
    return str(response.json()["care_plan_id"])


def test_the_request_traceparent_reaches_the_kafka_header(careplan: Careplan, kafka: str) -> None:
    bearer = issue_token(TEST_SECRET, sub="dr-trace", role="prescriber", name="Dr Trace")
    http = TestClient(create_app(careplan))  # no lifespan: the fixture owns the application
    auth = {"Authorization": f"Bearer {bearer}"}

    traced = open_plan(http, "patient-traced", {**auth, "traceparent": TRACEPARENT})
    untraced = open_plan(http, "patient-untraced", auth)
    invalid = [
        open_plan(http, f"patient-invalid-{i}", {**auth, "traceparent": value})
        for i, value in enumerate(INVALID)
    ]
    # A later command on the traced plan, without the header: its event has none.
    later = http.post(
        f"/v1/care-plans/{traced}/evaluations",
        json=evaluation(),
        headers=auth,
    )
    assert later.status_code == 201, later.text

    topic = new_topic(kafka)
    relay = Relay(
        recorder=careplan.app.recorder,
        mapper=careplan.app.mapper,
        tracking=None,
        producer=make_producer(kafka),
        topic=topic,
        source="urn:careplan:trace-tests",
    )
    try:
        relay.run(threading.Event(), until_idle=True)
    finally:
        relay.close()
    expected = 3 + len(invalid)
    plans = by_key(read_topic(kafka, topic, at_least=expected))

    opened = plans[traced.encode()][0]
    assert opened.headers["traceparent"] == TRACEPARENT.encode()
    assert "traceparent" not in plans[untraced.encode()][0].headers
    for plan in invalid:
        assert "traceparent" not in plans[plan.encode()][0].headers
    assert "traceparent" not in plans[traced.encode()][1].headers
    assert "traceparent" not in opened.value  # metadata only: the payload is unchanged
