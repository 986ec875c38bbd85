"""Hostile input and careless output: every hole a clear refusal or an escape, never a
500, a spoofed id, a formula in a spreadsheet, a terminal driven by a log, a secret shown."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.care_plan import CarePlan
from domain.errors import InvalidValue
from domain.taper_rules import check_taper_plan
from domain.values import Actor, CommandContext, TaperStep, require_identifier
from services.api.app import create_app
from services.application import CarePlans
from services.bootstrap import bootstrap
from services.export import export
from services.logging import no_control_characters
from services.settings import Settings
from services.tokens import SharedSecret, TokenError
from tests.unit.clinic import FORMULARY, NOW, ctx, mg

SECRET = "unit-test-secret-unit-test-secret-123456"
INVISIBLE = ["\u202e", "\u200b", "\ufeff", "\u2066", "\u2069", "\u200e", "\u2028"]


class TestIdentifiers:
    @pytest.mark.parametrize("char", INVISIBLE)
    def test_an_invisible_or_bidirectional_character_in_a_patient_id_is_refused(
        self, char: str
    ) -> None:
        with pytest.raises(InvalidValue) as refused:
            CarePlan.open(f"mrn-{char}0042", ctx())
        assert refused.value.code == "text.invisible_character"

    @given(st.text(min_size=1, max_size=20))
    @settings(max_examples=200)
    def test_an_accepted_id_has_nothing_hidden_in_it(self, text: str) -> None:
        try:
            accepted = require_identifier(text, "patient.invalid", "Patient id")
        except InvalidValue:
            return
        assert not any(char in accepted for char in INVISIBLE)
        assert accepted == accepted.strip()


class TestClaims:
    @pytest.mark.parametrize(
        "role", [["prescriber"], {"role": "prescriber"}, 7, None, True, "Prescriber"]
    )
    def test_a_signed_token_with_a_role_of_another_shape_is_refused(self, role: Any) -> None:
        token = jwt.encode({"sub": "x", "role": role, "exp": 4102444800}, SECRET, "HS256")
        with pytest.raises(TokenError):
            SharedSecret(SECRET).caller(token)

    @given(
        claims=st.dictionaries(
            st.sampled_from(["sub", "role", "name", "care_team", "profession", "supervisor_id"]),
            st.one_of(
                st.none(),
                st.integers(),
                st.text(max_size=10),
                st.lists(st.text(max_size=5), max_size=3),
                st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
            ),
        )
    )
    @settings(max_examples=300)
    def test_any_claims_give_a_caller_or_a_token_error(self, claims: dict[str, Any]) -> None:
        token = jwt.encode({**claims, "exp": 4102444800}, SECRET, "HS256")
        try:
            caller = SharedSecret(SECRET).caller(token)
        except TokenError:
            return
        assert isinstance(caller.actor.role, str)
        assert isinstance(caller.actor.id, str)

    @pytest.mark.parametrize("sub", ["dr\u202eada", "\ufeffdr-ada"])
    def test_a_subject_with_a_hidden_character_is_refused(self, sub: str) -> None:
        token = jwt.encode({"sub": sub, "role": "prescriber", "exp": 4102444800}, SECRET, "HS256")
        with pytest.raises(TokenError):
            SharedSecret(SECRET).caller(token)


def test_a_taper_step_years_away_is_refused() -> None:
    steps = [TaperStep(NOW.date() + timedelta(days=3000), mg("10"))]
    with pytest.raises(InvalidValue) as refused:
        check_taper_plan(mg("20"), steps, NOW.date().isoformat())
    assert refused.value.code == "taper.too_far"


def test_no_cell_of_the_csv_export_runs_as_a_formula() -> None:
    app = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)
    hostile = Actor("=HYPERLINK(1)", "prescriber")
    at = CommandContext(hostile, NOW, correlation_id="+cmd")
    plan = app.open_care_plan("@pt", at).care_plan_id
    app.refer_to_therapy(
        plan, therapy="cbt", to_whom="-x", reason="=1+1", urgency="routine", ctx=at
    )
    _, body = export(app, plan, "csv")
    for row in list(csv.reader(io.StringIO(body)))[1:]:
        assert all(cell[:1] not in ("=", "+", "-", "@") for cell in row), row


def test_a_log_line_escapes_what_a_request_brought() -> None:
    logged = no_control_characters(None, "info", {"path": "/v1/\x1b[2J\x1b]0;owned\x07", "n": 1})
    assert "\x1b" not in logged["path"]
    assert "\x07" not in logged["path"]
    assert logged["n"] == 1


def test_no_part_of_a_rejected_secret_is_shown() -> None:
    secret = "tail-of-the-secret-QXZ"
    with pytest.raises(ValueError, match="at least 32 characters") as refused:
        Settings(environment="production", jwt_secret=secret)
    assert "QXZ" not in str(refused.value)
    assert "QXZ" not in repr(Settings(jwt_secret=secret))


def test_production_refuses_to_run_without_a_chain_key(tmp_path: Any) -> None:
    """The key lives outside the database; without one, the chain could be recomputed
    by anyone able to write to it."""
    settings = Settings(data_dir=tmp_path, environment="production", jwt_secret=SECRET)
    with pytest.raises(ValueError, match="CAREPLAN_CHAIN_KEY must be set"):
        bootstrap(settings)
    with pytest.raises(ValueError, match="at least 32"):
        Settings(chain_key="short-key-XYZ").resolved_chain_key()
    assert not (tmp_path / "chain-key").exists()  # production never makes one up


@pytest.mark.parametrize(("environment", "served"), [("development", 200), ("production", 404)])
def test_the_api_docs_are_off_in_production_unless_asked_for(
    tmp_path: Any, environment: str, served: int
) -> None:
    careplan = bootstrap(
        Settings(data_dir=tmp_path, environment=environment, jwt_secret=SECRET, chain_key="k" * 40)
    )
    try:
        with TestClient(create_app(careplan)) as http:
            assert http.get("/openapi.json").status_code == served
            assert http.get("/docs").status_code == served
    finally:
        careplan.close()
