"""Production identity: RS256/ES256 tokens from an identity provider's JWKS, with
issuer and audience checked, and care-team claims limiting which plans a caller
sees. The server runs in production mode with no shared secret at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.e2e.careplan_api import Api, assert_problem, evaluation
from tests.e2e.conftest import Server, running_server

ISSUER = "https://idp.clinic.example"
AUDIENCE = "careplan-api"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def jwks() -> str:
    keys = []
    for kid, algorithm, key in (
        ("rsa-1", RSAAlgorithm, RSA_KEY),
        ("ec-1", ECAlgorithm, EC_KEY),
    ):
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig"})
    return json.dumps({"keys": keys})


def token(
    *,
    role: str = "prescriber",
    sub: str = "dr-idp",
    kid: str = "rsa-1",
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    **claims: Any,
) -> str:
    now = datetime.now(UTC)
    body = {"sub": sub, "role": role, "iss": issuer, "aud": audience, "iat": now}
    body |= {"exp": now + timedelta(hours=1), **claims}
    key, algorithm = (RSA_KEY, "RS256") if kid.startswith("rsa") else (EC_KEY, "ES256")
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(scope="module")
def idp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("careplan-idp")
    keys = data_dir / "jwks.json"
    keys.write_text(jwks())
    env = {
        "CAREPLAN_ENVIRONMENT": "production",
        "CAREPLAN_JWT_SECRET": "",
        "CAREPLAN_CHAIN_KEY": "chain-key-for-the-identity-provider-tests",
        "CAREPLAN_JWT_JWKS": str(keys),
        "CAREPLAN_JWT_ISSUER": ISSUER,
        "CAREPLAN_JWT_AUDIENCE": AUDIENCE,
    }
    with running_server("sqlite", data_dir, None, env) as server:
        yield server


def as_(server: Server, raw: str) -> Api:
    return Api(httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {raw}"}))


def test_rs256_and_es256_tokens_from_the_provider_are_accepted(idp_server: Server) -> None:
    for kid in ("rsa-1", "ec-1"):
        api = as_(idp_server, token(kid=kid))
        response = api.open_plan(f"pt-{kid}")
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "raw",
    [
        token(audience="another-api"),
        token(issuer="https://evil.example"),
        jwt.encode({"sub": "x", "role": "prescriber", "exp": 9999999999}, "s" * 40),
    ],
    ids=["wrong-audience", "wrong-issuer", "hs256-with-no-trusted-key"],
)
def test_tokens_the_provider_did_not_issue_for_us_are_refused(idp_server: Server, raw: str) -> None:
    assert_problem(as_(idp_server, raw).open_plan("pt-x"), 401, "auth.invalid_token")


def test_a_care_team_claim_limits_the_plans_a_caller_sees(idp_server: Server) -> None:
    owner = as_(idp_server, token(care_team=["*"]))
    plan = owner.open_plan("pt-team").json()["care_plan_id"]
    assert owner.evaluate(plan, evaluation()).status_code == 201
    member = as_(idp_server, token(sub="dr-in", care_team=[plan]))
    outsider = as_(idp_server, token(sub="dr-out", care_team=["some-other-plan"]))
    assert member.plan(plan).status_code == 200
    assert_problem(outsider.plan(plan), 403, "auth.not_on_care_team")
    assert_problem(outsider.http.get("/v1/audit"), 403, "auth.not_on_care_team")
    assert (
        outsider.http.get("/v1/audit", params={"care_plan_id": "some-other-plan"}).status_code
        == 200
    )
