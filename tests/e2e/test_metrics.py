"""Prometheus metrics for operators: requests by route, events appended, view lag."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.careplan_api import Api, assert_problem, client
from tests.e2e.conftest import Server


def scrape(server: Server) -> dict[str, list[tuple[dict[str, str], float]]]:
    admin = client(server.base_url, role="admin", sub="ops-1")
    response = admin.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(response.text)
    }


def test_requests_events_and_lag_are_counted(server: Server, prescriber: Api) -> None:
    plan = prescriber.ready_evaluated_plan()
    prescriber.plan(plan)
    metrics = scrape(server)
    requests = metrics["careplan_http_requests"]
    assert any(
        labels["route"] == "/v1/care-plans/{care_plan_id}" and labels["status"] == "200"
        for labels, _ in requests
    )
    assert all(plan not in labels["route"] for labels, _ in requests)  # templates, not ids
    opened = [
        v
        for labels, v in metrics["careplan_events_appended"]
        if labels.get("type") == "CarePlanOpened"
    ]
    assert opened
    assert opened[0] >= 1
    lag = {
        labels["projection"]: value for labels, value in metrics["careplan_projection_lag_events"]
    }
    assert {"current_medications", "audit_trail"} <= set(lag)
    assert set(lag.values()) == {0.0}  # read-your-writes: every view has caught up
    seconds = {labels["projection"]: v for labels, v in metrics["careplan_projection_lag_seconds"]}
    assert set(seconds) == set(lag)
    assert set(seconds.values()) == {0.0}
    assert "careplan_http_request_seconds" in metrics


def test_only_operators_read_the_metrics(prescriber: Api) -> None:
    assert_problem(prescriber.http.get("/metrics"), 403, "auth.forbidden")
