"""The role-by-endpoint matrix, exhaustively: every route that names a permission,
called by every role, through the real server. A role the matrix does not allow
gets 403 auth.forbidden and nothing is stored; an allowed one is never refused
for its role. The README's table is the same matrix (checked here too)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.api.permissions import PERMISSIONS
from tests.e2e.careplan_api import Api, assert_problem, client, stores_nothing
from tests.e2e.conftest import Server
from tests.e2e.routes import ROUTES, UNGUARDED

ROLES = ["prescriber", "clinician", "auditor", "service", "admin"]
README = Path(__file__).resolve().parents[2] / "README.md"


CASES = [(method, path, action, role) for method, path, action in ROUTES for role in ROLES]


def test_every_route_but_health_and_ready_names_a_permission() -> None:
    assert UNGUARDED == ["/health", "/ready"]  # counts only, for load balancers
    assert {action for _, _, action in ROUTES} == set(PERMISSIONS)


@pytest.fixture(scope="module")
def plan(prescriber: Api) -> str:
    return prescriber.ready_evaluated_plan()


@pytest.mark.parametrize(
    ("method", "path", "action", "role"), CASES, ids=[f"{c[3]}-{c[0]}-{c[1]}" for c in CASES]
)
def test_the_matrix(
    server: Server, prescriber: Api, plan: str, method: str, path: str, action: str, role: str
) -> None:
    url = re.sub(r"\{care_plan_id\}", plan, path)
    url = re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000001", url)
    actor = client(server.base_url, role=role, sub=f"matrix-{role}")
    body: dict[str, Any] | None = {} if method == "POST" else None
    with stores_nothing(prescriber, plan):
        response = actor.request(method, url, json=body)
    if role in PERMISSIONS[action]:
        assert response.status_code not in (401, 403), (action, role, response.text)
    else:
        assert_problem(response, 403, "auth.forbidden")


def test_the_readme_shows_this_matrix() -> None:
    text = README.read_text()
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `([a-z_.]+)` \|((?: [^|]* \|){5})$", text, re.M)
    }
    for action, roles in PERMISSIONS.items():
        cells = [cell.strip() for cell in rows[action].split("|")[:-1]]  # ends with "|"
        shown = {role for role, cell in zip(ROLES, cells, strict=True) if cell == "✓"}
        assert shown == set(roles), action
