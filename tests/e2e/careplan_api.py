"""A thin client for the Careplan HTTP API, request bodies, and the assertions tests share.

Methods return the raw ``httpx.Response`` so tests assert on exactly what a
clinical app would receive; ``ready_*`` helpers build a plan in a known state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx

from services.tokens import issue_token
from tests.conftest import TEST_SECRET

PROBLEM_JSON = "application/problem+json"


def token(role: str, sub: str, name: str | None = None, **kwargs: Any) -> str:
    return issue_token(TEST_SECRET, sub=sub, role=role, name=name, **kwargs)


def client(
    base_url: str,
    *,
    role: str | None = None,
    sub: str = "someone",
    name: str | None = None,
    headers: dict[str, str] | None = None,
    care_team: Sequence[str] | None = ("*",),
) -> httpx.Client:
    """An HTTP client; with ``role``, it carries a bearer token for that actor, on every
    plan's care team unless ``care_team`` says otherwise (None: no claim at all)."""
    all_headers = dict(headers or {})
    if role is not None:
        all_headers["Authorization"] = f"Bearer {token(role, sub, name, care_team=care_team)}"
    return httpx.Client(base_url=base_url, headers=all_headers, timeout=15.0)


def today() -> datetime:
    return datetime.now(UTC)


def due(days: int) -> str:
    """A date ``days`` from today (UTC, as the server judges it)."""
    return (today() + timedelta(days=days)).date().isoformat()


def evaluation(kind: str = "initial", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "modality": "in_person",
        "diagnoses": [{"code": "F32.1", "display": "Major depressive disorder, moderate"}],
        "symptoms": ["low mood", "anhedonia"],
        "duration": "3 months",
    }
    body.update(overrides)
    return body


#: What the prescriber explained and the patient agreed to, as a clinic app sends it.
DISCUSSION = {
    "options_considered": ["an SSRI", "CBT", "watchful waiting"],
    "expected_benefit": "less low mood, better sleep",
    "side_effects_discussed": ["nausea", "headache"],
    "timeline": "several weeks before the full effect",
    "decision": "agrees",
}


def prescription(
    drug: str = "sertraline",
    amount: Any = "25",
    unit: str = "mg",
    *,
    follow_up_in_days: int | None = 14,
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "drug": drug,
        "dose": {"amount": amount, "unit": unit},
        "frequency": "daily",
        "route": "oral",
        "indication": "F32.1 major depressive disorder",
        "discussion": DISCUSSION,
    }
    if follow_up_in_days is not None:
        body["follow_up"] = {"due_on": due(follow_up_in_days), "modality": "telehealth"}
    body.update(overrides)
    return body


def dose_change(amount: Any = "50", unit: str = "mg", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dose": {"amount": amount, "unit": unit},
        "reason": "tolerating 25 mg; increase to usual starting dose",
    }
    body.update(overrides)
    return body


def completion(*measurements: tuple[str, Any], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "modality": "in_person",
        "measurements": [{"instrument": name, "total": total} for name, total in measurements],
        "side_effects": ["mild nausea"],
        "adherence": "taking daily",
    }
    body.update(overrides)
    return body


PLAN_OPENED_AT = f"{(datetime.now(UTC) - timedelta(days=60)).date()}T08:00:00Z"
#: Plans are opened for a 40-year-old unless a test says otherwise: age rules then
#: judge a known age (a plan without a birth date is tested on its own).
BIRTH_DATE = "1985-06-15"


def new_patient() -> str:
    """A patient id of its own: a patient has one open plan at a time."""
    return f"pt-{uuid4().hex[:12]}"


class Api:
    """One actor's view of the API."""

    def __init__(self, http: httpx.Client, actor_id: str | None = None) -> None:
        self.http = http
        self.actor_id = actor_id

    # -- commands -------------------------------------------------------------

    def open_plan(
        self,
        patient_id: str | None = None,
        occurred_at: str | None = None,
        birth_date: str | None = BIRTH_DATE,
        **kwargs: Any,
    ) -> httpx.Response:
        """Open a plan; by default for a new patient (one open plan each), aged 40."""
        body = {"patient_id": patient_id or new_patient()}
        if occurred_at is not None:
            body["occurred_at"] = occurred_at
        if birth_date is not None:
            body["birth_date"] = birth_date
        return self.http.post("/v1/care-plans", json=body, **kwargs)

    def evaluate(self, plan: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        body = evaluation() if body is None else body
        return self.http.post(f"/v1/care-plans/{plan}/evaluations", json=body, **kwargs)

    def prescribe(self, plan: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        body = prescription() if body is None else body
        return self.http.post(f"/v1/care-plans/{plan}/prescriptions", json=body, **kwargs)

    def change_dose(self, plan: str, rx: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        body = dose_change() if body is None else body
        path = f"/v1/care-plans/{plan}/prescriptions/{rx}/dose-changes"
        return self.http.post(path, json=body, **kwargs)

    def discontinue(
        self,
        plan: str,
        rx: str,
        reason: str = "generalised rash",
        abrupt: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """Stop at once for an adverse reaction. Sertraline 25 mg, the ready prescription,
        is at the dose its label stops from; above it (``abrupt``) the stop needs a taper,
        and its warning is acknowledged here."""
        path = f"/v1/care-plans/{plan}/prescriptions/{rx}/discontinuation"
        body: dict[str, Any] = {"reason": reason, "reason_code": "adverse_reaction"}
        if abrupt:
            body["acknowledgements"] = [
                {"code": "discontinuation.taper_required", "justification": "stop now: rash"}
            ]
        return self.http.post(path, json=body, **kwargs)

    def schedule(self, plan: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        body = {"due_on": due(28), "modality": "in_person"} if body is None else body
        return self.http.post(f"/v1/care-plans/{plan}/follow-ups", json=body, **kwargs)

    def complete(
        self, plan: str, follow_up: str, body: Any = None, **kwargs: Any
    ) -> httpx.Response:
        body = completion(("PHQ-9", 12)) if body is None else body
        path = f"/v1/care-plans/{plan}/follow-ups/{follow_up}/completion"
        return self.http.post(path, json=body, **kwargs)

    # -- queries --------------------------------------------------------------

    def plan(self, plan: str) -> httpx.Response:
        return self.http.get(f"/v1/care-plans/{plan}")

    def medications(self, plan: str) -> httpx.Response:
        return self.http.get(f"/v1/care-plans/{plan}/medications")

    def history(self, plan: str) -> httpx.Response:
        return self.http.get(f"/v1/care-plans/{plan}/history")

    def audit(self, **params: Any) -> httpx.Response:
        return self.http.get("/v1/audit", params=params)

    def events(self, plan: str) -> list[dict[str, Any]]:
        response = self.history(plan)
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events

    def active_drugs(self, plan: str) -> list[tuple[str, str, str]]:
        """(drug, amount, unit) of each active medication, as the clinic's list shows it."""
        response = self.medications(plan)
        assert response.status_code == 200, response.text
        return [
            (m["drug"], m["dose"]["amount"], m["dose"]["unit"])
            for m in response.json()["medications"]
        ]

    def audit_entries(self, plan: str | None = None, **params: Any) -> list[dict[str, Any]]:
        """One page of up to 500 entries: the plan's, or as filtered by ``params``."""
        if plan is not None:
            params["care_plan_id"] = plan
        response = self.audit(limit=500, **params)
        assert response.status_code == 200, response.text
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

    # -- plans in a known state -----------------------------------------------

    def ready_plan(self, patient_id: str | None = None) -> str:
        """An opened plan (no evaluation yet), opened in clinical time two months ago.

        Backdated so that tests may record late entries: nothing in a plan can
        happen (clinically) before the plan was opened.
        """
        response = self.open_plan(patient_id, occurred_at=PLAN_OPENED_AT)
        assert response.status_code == 201, response.text
        plan_id: str = response.json()["care_plan_id"]
        return plan_id

    def ready_evaluated_plan(self, patient_id: str | None = None) -> str:
        """An opened plan with an initial evaluation (two months ago): ready to prescribe."""
        plan = self.ready_plan(patient_id)
        response = self.evaluate(plan, evaluation(occurred_at=PLAN_OPENED_AT))
        assert response.status_code == 201, response.text
        return plan

    def ready_prescription(self, patient_id: str | None = None) -> tuple[str, str, str]:
        """(plan, prescription, follow-up): sertraline 25 mg with its pending follow-up."""
        plan = self.ready_evaluated_plan(patient_id)
        response = self.prescribe(plan)
        assert response.status_code == 201, response.text
        rx: str = response.json()["prescription_id"]
        follow_up = next(
            f["follow_up_id"]
            for f in self.plan(plan).json()["follow_ups"]
            if f["status"] == "scheduled"
        )
        return plan, rx, follow_up


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the expected status and stable code."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text}"
    )
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["type"], str)
    assert code in body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


@contextmanager
def stores_nothing(reader: Api, plan: str) -> Iterator[None]:
    """The block's command is refused: the plan's history and audit trail stay as they were."""
    events_before = reader.events(plan)
    audit_before = reader.audit_entries(plan)
    yield
    events_after = reader.events(plan)
    assert len(events_after) == len(events_before), "a refused command stored an event"
    assert events_after == events_before
    assert reader.audit_entries(plan) == audit_before
