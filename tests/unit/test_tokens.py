"""Bearer tokens: signed, expiring, and carrying a role we know."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from services.tokens import SharedSecret, TokenError, Verifier, actor_from_token, issue_token

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


class _Clock:
    """Stands in for time.time in services.tokens (the remembered tokens' clock)."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr("services.tokens.time", fake)
    return fake


def _token_at(clock: _Clock, ttl: float) -> str:
    """Expiring ``ttl`` after the fake clock's now (which is later than the real one,
    so PyJWT, on the real clock, never refuses it as expired: only the secret can)."""
    claims = {"sub": "dr-ada", "role": "prescriber", "exp": int(clock.now + ttl)}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_a_verified_token_is_remembered_but_not_past_its_expiry(clock: _Clock) -> None:
    verifier = SharedSecret(SECRET)
    token = _token_at(clock, ttl=60)
    assert verifier.caller(token).actor.id == "dr-ada"
    verifier.secret = "rotated-secret-rotated-secret-1234567"
    assert verifier.caller(token).actor.id == "dr-ada"  # remembered: not checked again
    clock.now += 61
    with pytest.raises(TokenError):  # past exp: checked again, and the secret changed
        verifier.caller(token)


def test_a_remembered_token_is_checked_again_after_the_hold(clock: _Clock) -> None:
    """A key withdrawn from the identity provider stops being honoured soon after."""
    verifier = SharedSecret(SECRET)
    token = _token_at(clock, ttl=3600)
    verifier.caller(token)
    verifier.secret = "rotated-secret-rotated-secret-1234567"
    clock.now += Verifier.HOLD - 1
    assert verifier.remembers(token)
    clock.now += 2
    assert not verifier.remembers(token)
    with pytest.raises(TokenError, match="Signature"):
        verifier.caller(token)


def test_a_refused_token_is_not_remembered(clock: _Clock) -> None:
    verifier = SharedSecret(SECRET)
    token = jwt.encode({"sub": "x", "role": "root", "exp": 4102444800}, SECRET, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(TokenError):
            verifier.caller(token)
    assert not verifier.remembers(token)
