"""Bearer tokens: signed, expiring, and carrying a role we know."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from services.tokens import TokenError, actor_from_token, issue_token

SECRET = "unit-test-secret-unit-test-secret-123456"


def test_a_token_round_trips_to_the_actor_stored_on_events() -> None:
    token = issue_token(SECRET, sub="dr-ada", role="prescriber", name="Ada")
    actor = actor_from_token(SECRET, token)
    assert (actor.id, actor.role, actor.name) == ("dr-ada", "prescriber", "Ada")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("another-secret-another-secret-12345", sub="x", role="prescriber")
    with pytest.raises(TokenError):
        actor_from_token(SECRET, token)


def test_an_expired_token_is_refused() -> None:
    token = issue_token(SECRET, sub="dr-ada", role="prescriber", ttl=timedelta(seconds=-1))
    with pytest.raises(TokenError, match="expired"):
        actor_from_token(SECRET, token)


def test_a_token_without_a_role_is_refused() -> None:
    token = jwt.encode({"sub": "x", "exp": 4102444800}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        actor_from_token(SECRET, token)


def test_a_token_with_an_unknown_role_is_refused() -> None:
    token = jwt.encode({"sub": "x", "role": "root", "exp": 4102444800}, SECRET, algorithm="HS256")
    with pytest.raises(TokenError, match="role"):
        actor_from_token(SECRET, token)


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "x", "role": "admin", "exp": 4102444800}, None, algorithm="none")
    with pytest.raises(TokenError):
        actor_from_token(SECRET, token)


def test_no_token_is_issued_for_an_unknown_role() -> None:
    with pytest.raises(TokenError):
        issue_token(SECRET, sub="x", role="janitor")
