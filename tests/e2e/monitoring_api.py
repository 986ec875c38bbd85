"""The monitoring calls a clinical app makes, with bodies that succeed unless overridden.

Each returns the raw ``httpx.Response``; ``past_due_follow_up`` builds a follow-up
that was planned weeks ago and is now overdue (a follow-up is missed only from its
due date, and nothing can be scheduled in the past).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.e2e.careplan_api import Api, due, today


def ago(days: int) -> str:
    """A clinical time ``days`` ago (UTC), for late entries."""
    return (today() - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def follow_up_path(plan: str, follow_up: str, what: str) -> str:
    return f"/v1/care-plans/{plan}/follow-ups/{follow_up}/{what}"


def missed(api: Api, plan: str, follow_up: str, **body: Any) -> httpx.Response:
    body.setdefault("note", "no answer to two calls")
    return api.http.post(follow_up_path(plan, follow_up, "missed"), json=body)


def cancel(api: Api, plan: str, follow_up: str, **body: Any) -> httpx.Response:
    body.setdefault("reason", "admitted to hospital; the ward reviews medication")
    return api.http.post(follow_up_path(plan, follow_up, "cancellation"), json=body)


def reschedule(api: Api, plan: str, follow_up: str, **body: Any) -> httpx.Response:
    body = {"due_on": due(21), "reason": "patient on holiday", **body}
    return api.http.post(follow_up_path(plan, follow_up, "rescheduling"), json=body)


def side_effect(api: Api, plan: str, **body: Any) -> httpx.Response:
    body = {"description": "nausea in the mornings", "severity": "mild", **body}
    return api.http.post(f"/v1/care-plans/{plan}/side-effects", json=body)


def adherence(api: Api, plan: str, **body: Any) -> httpx.Response:
    body = {"adherence": "taking_as_prescribed", **body}
    return api.http.post(f"/v1/care-plans/{plan}/adherence", json=body)


def measurement(api: Api, plan: str, **body: Any) -> httpx.Response:
    body = {"instrument": "PHQ-9", **body}
    if "total" not in body and "items" not in body:
        body["total"] = 12
    return api.http.post(f"/v1/care-plans/{plan}/measurements", json=body)


def lab_result(api: Api, plan: str, **body: Any) -> httpx.Response:
    body = {
        "test": "lithium_level",
        "value": "0.8",
        "unit": "mEq/L",
        "collected_at": ago(1),
        **body,
    }
    return api.http.post(f"/v1/care-plans/{plan}/lab-results", json=body)


def past_due_follow_up(api: Api, plan: str) -> str:
    """A follow-up planned 20 days ago, due 10 days ago, still pending."""
    body = {"due_on": due(-10), "modality": "telehealth", "occurred_at": ago(20)}
    response = api.schedule(plan, body)
    assert response.status_code == 201, response.text
    follow_up: str = response.json()["follow_up_id"]
    return follow_up


def follow_up_status(api: Api, plan: str, follow_up: str) -> dict[str, Any]:
    response = api.plan(plan)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = next(
        f for f in response.json()["follow_ups"] if f["follow_up_id"] == follow_up
    )
    return found


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
