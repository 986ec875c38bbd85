"""Hostile input through a real server: each answered with a 4xx problem, never a 500."""

from __future__ import annotations

import json

import jwt
import pytest

from tests.conftest import TEST_SECRET
from tests.e2e.careplan_api import Api, assert_problem, client, prescription
from tests.e2e.conftest import Server

EXTREME_TIMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("as_of", EXTREME_TIMES)
def test_an_as_of_with_no_utc_time_is_422(prescriber: Api, as_of: str) -> None:
    plan = prescriber.ready_plan()
    for path in ("medications", "history"):
        response = prescriber.http.get(f"/v1/care-plans/{plan}/{path}", params={"as_of": as_of})
        assert_problem(response, 422, "request.invalid")


@pytest.mark.parametrize("occurred_at", EXTREME_TIMES)
def test_a_clinical_time_with_no_utc_time_is_422(prescriber: Api, occurred_at: str) -> None:
    response = prescriber.open_plan(occurred_at=occurred_at)
    assert_problem(response, 422, "request.invalid")


@pytest.mark.parametrize("role", [["prescriber"], {"is": "prescriber"}, 1])
def test_a_signed_token_with_a_role_of_another_shape_is_401(server: Server, role: object) -> None:
    token = jwt.encode({"sub": "x", "role": role, "exp": 4102444800}, TEST_SECRET, "HS256")
    with client(server.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        response = http.get("/v1/worklist")
    assert_problem(response, 401, "auth.invalid_token")


def test_a_field_given_twice_is_refused_not_read_as_the_last(prescriber: Api) -> None:
    plan = prescriber.ready_evaluated_plan()
    body = json.dumps(prescription("sertraline", "25"))
    twice = body.replace('"amount": "25"', '"amount": "25", "amount": "250"')
    assert twice != body
    response = prescriber.http.post(
        f"/v1/care-plans/{plan}/prescriptions",
        content=twice,
        headers={"content-type": "application/json"},
    )
    assert_problem(response, 422, "request.duplicate_key")
    assert prescriber.active_drugs(plan) == []


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\ufeff", "\u2066"])
def test_a_patient_id_that_could_pass_for_another_is_refused(prescriber: Api, char: str) -> None:
    assert_problem(prescriber.open_plan(f"mrn-00{char}42"), 422, "text.invisible_character")
