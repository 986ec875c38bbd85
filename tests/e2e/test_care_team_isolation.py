"""A care team sees only its patients, on every route and every list, however a plan
id is spelled; a token without a care-team claim sees no patient data at all.

Routes are read from the routers (tests/e2e/routes.py): a new plan route is walked
here unasked, and a new list route fails the inventory below until it is given a case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.api.permissions import PERMISSIONS
from tests.e2e.careplan_api import Api, assert_problem, client, due, new_patient
from tests.e2e.conftest import Server
from tests.e2e.routes import ROUTES

SPELLINGS: dict[str, Callable[[str], str]] = {
    "canonical": lambda plan: plan,
    "upper-case": str.upper,
    "braces": lambda plan: "{" + plan + "}",
    "urn": lambda plan: f"urn:uuid:{plan}",
    "bare-hex": lambda plan: plan.replace("-", ""),
}
PLAN_ROUTES = [route for route in ROUTES if "{care_plan_id}" in route[1]]
LIST_ROUTES = sorted(path for method, path, _ in ROUTES if method == "GET" and "{" not in path)
SOMETHING = "00000000-0000-0000-0000-000000000001"


def role_for(action: str) -> str:
    allowed = PERMISSIONS[action]
    return "prescriber" if "prescriber" in allowed else sorted(allowed)[0]


@dataclass(frozen=True)
class Clinic:
    """Two patients' plans, each with work due, and who may see what."""

    ours: str
    theirs: str
    our_patient: str
    their_patient: str


@pytest.fixture(scope="module")
def clinic(prescriber: Api) -> Clinic:
    our_patient, their_patient = new_patient(), new_patient()
    ours, _, _ = prescriber.ready_prescription(our_patient)
    theirs, _, _ = prescriber.ready_prescription(their_patient)
    return Clinic(ours, theirs, our_patient, their_patient)


@pytest.fixture(scope="module")
def callers(server: Server) -> Iterator[Callable[..., httpx.Client]]:
    """Clients by role and care team, closed at the end of the module."""
    made: list[httpx.Client] = []

    def caller(role: str, care_team: Sequence[str] | None) -> httpx.Client:
        http = client(server.base_url, role=role, sub=f"team-{role}", care_team=care_team)
        made.append(http)
        return http

    yield caller
    for http in made:
        http.close()


def url_of(path: str, plan: str) -> str:
    return re.sub(r"\{[a-z_]+\}", SOMETHING, path.replace("{care_plan_id}", plan))


def call(http: httpx.Client, method: str, url: str) -> httpx.Response:
    return http.request(method, url, json={} if method == "POST" else None)


@pytest.mark.parametrize(
    ("method", "path", "action"), PLAN_ROUTES, ids=[f"{m}-{p}" for m, p, _ in PLAN_ROUTES]
)
def test_no_plan_route_serves_a_plan_of_another_care_team(
    prescriber: Api,
    clinic: Clinic,
    callers: Callable[..., httpx.Client],
    method: str,
    path: str,
    action: str,
) -> None:
    """Theirs is refused in every spelling, to a member of another team and to a token
    with no claim; ours passes the care-team check in every spelling (the route may
    still say 404 for the made-up prescription or follow-up id)."""
    member = callers(role_for(action), [clinic.ours])
    no_claim = callers(role_for(action), None)
    history = prescriber.events(clinic.theirs)
    for name, spell in SPELLINGS.items():
        for who in (member, no_claim):
            refused = call(who, method, url_of(path, spell(clinic.theirs)))
            assert_problem(refused, 403, "auth.not_on_care_team")
        assert_problem(
            call(no_claim, method, url_of(path, spell(clinic.ours))), 403, "auth.not_on_care_team"
        )
        if method == "GET":
            allowed = call(member, method, url_of(path, spell(clinic.ours)))
            assert allowed.status_code in (200, 404), (name, allowed.text)
    assert prescriber.events(clinic.theirs) == history  # nothing was stored on theirs


def test_a_claim_names_a_plan_in_any_spelling(
    clinic: Clinic, callers: Callable[..., httpx.Client]
) -> None:
    for spell in SPELLINGS.values():
        member = callers("clinician", [spell(clinic.ours)])
        assert member.get(f"/v1/care-plans/{clinic.ours}").status_code == 200
        assert_problem(member.get(f"/v1/care-plans/{clinic.theirs}"), 403, "auth.not_on_care_team")


def test_every_list_route_has_a_care_team_case() -> None:
    """A new list of patient data must be given a case below (or be counts only)."""
    assert LIST_ROUTES == [
        "/metrics",
        "/v1/audit",
        "/v1/audit/access",
        "/v1/care-plans",
        "/v1/worklist",
    ]


def worklist_plans(http: httpx.Client) -> set[str]:
    response = http.get("/v1/worklist", params={"to": due(400), "limit": 1000})
    assert response.status_code == 200, response.text
    return {item["care_plan_id"] for item in response.json()["items"]}


class TestLists:
    def test_the_worklist_lists_only_the_callers_care_teams(
        self, clinic: Clinic, callers: Callable[..., httpx.Client]
    ) -> None:
        everyone = worklist_plans(callers("clinician", ["*"]))
        assert {clinic.ours, clinic.theirs} <= everyone
        assert worklist_plans(callers("clinician", [clinic.ours])) == {clinic.ours}
        assert worklist_plans(callers("service", [clinic.ours.upper()])) == {clinic.ours}
        assert worklist_plans(callers("clinician", [])) == set()
        assert worklist_plans(callers("clinician", None)) == set()

    def test_a_patients_plan_list_shows_only_the_callers_plans(
        self, clinic: Clinic, callers: Callable[..., httpx.Client]
    ) -> None:
        def listed(http: httpx.Client, patient: str) -> list[str]:
            response = http.get("/v1/care-plans", params={"patient_id": patient})
            assert response.status_code == 200, response.text
            return [plan["care_plan_id"] for plan in response.json()["plans"]]

        member = callers("prescriber", [clinic.ours])
        assert listed(member, clinic.our_patient) == [clinic.ours]
        assert listed(member, clinic.their_patient) == []
        assert listed(callers("prescriber", None), clinic.our_patient) == []
        assert listed(callers("prescriber", ["*"]), clinic.their_patient) == [clinic.theirs]

    @pytest.mark.parametrize(
        ("path", "role"), [("/v1/audit", "clinician"), ("/v1/audit/access", "auditor")]
    )
    def test_audit_lists_need_every_plan_or_one_of_the_callers(
        self, clinic: Clinic, callers: Callable[..., httpx.Client], path: str, role: str
    ) -> None:
        member, no_claim = callers(role, [clinic.ours]), callers(role, None)
        for who in (member, no_claim):
            assert_problem(who.get(path), 403, "auth.not_on_care_team")
            for spell in SPELLINGS.values():
                theirs = who.get(path, params={"care_plan_id": spell(clinic.theirs)})
                assert_problem(theirs, 403, "auth.not_on_care_team")
        for spell in SPELLINGS.values():
            ours = member.get(path, params={"care_plan_id": spell(clinic.ours)})
            assert ours.status_code == 200, ours.text
            plans = {entry["care_plan_id"] for entry in ours.json()["entries"]}
            assert plans == {clinic.ours}  # the canonical id, whatever was asked for
        assert callers(role, ["*"]).get(path).status_code == 200

    def test_metrics_carry_no_patient_data(
        self, clinic: Clinic, callers: Callable[..., httpx.Client]
    ) -> None:
        response = callers("admin", None).get("/metrics")
        assert response.status_code == 200
        for identifier in (clinic.ours, clinic.theirs, clinic.our_patient, clinic.their_patient):
            assert identifier not in response.text


def test_opening_a_plan_does_not_tell_another_teams_plan_id(
    clinic: Clinic, callers: Callable[..., httpx.Client]
) -> None:
    outsider = callers("prescriber", ["some-other-plan"])
    body: dict[str, Any] = {"patient_id": clinic.their_patient, "birth_date": "1990-04-02"}
    refused = outsider.post("/v1/care-plans", json=body)
    assert_problem(refused, 409, "care_plan.already_open")
    assert clinic.theirs not in refused.text
