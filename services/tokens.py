"""Bearer tokens: JWTs carrying who the caller is, in what role, on which care teams.

Development signs and checks HS256 tokens with a shared secret (``careplan
token``). Production is expected to trust an identity provider instead: its
public keys (a JWKS file or URL), RS256 or ES256, with the issuer and audience
checked, so that no secret able to mint tokens lives on the API server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from domain.care_plan import canonical_plan_id
from domain.errors import InvalidValue
from domain.values import PROFESSIONS, ROLES, Actor, require_identifier
from services.settings import Settings

ALGORITHM = "HS256"
#: The care-team claim's wildcard: every plan (auditors, services, a solo practice).
EVERY_PLAN = "*"


class TokenError(Exception):
    """The token is missing, malformed, expired, or makes claims we do not accept."""


def issue_token(
    secret: str,
    *,
    sub: str,
    role: str,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=8),
    extra: dict[str, Any] | None = None,
    care_team: Sequence[str] | None = (EVERY_PLAN,),
) -> str:
    """A development token. It names its care teams explicitly (default every plan,
    ``["*"]``): a token without the claim sees no patient data. None leaves it out."""
    if role not in ROLES:
        msg = f"unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}"
        raise TokenError(msg)
    profession = (extra or {}).get("profession")
    if profession is not None and profession not in PROFESSIONS:
        msg = f"unknown profession {profession!r}; expected one of {', '.join(sorted(PROFESSIONS))}"
        raise TokenError(msg)
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
    if name:
        claims["name"] = name
    if care_team is not None:
        claims["care_team"] = list(care_team)
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


REQUIRED_CLAIMS = ["sub", "role", "exp"]
PUBLIC_KEY_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the Actor stored on events, and the plans whose care teams
    the identity provider says they are on (canonical ids; None: no claim sent).

    Fail closed: a token without the claim sees no patient data; only an explicit
    ``["*"]`` sees every plan (see docs/decisions/care-team-claims.md)."""

    actor: Actor
    care_team: frozenset[str] | None

    @property
    def sees_every_plan(self) -> bool:
        return self.care_team is not None and EVERY_PLAN in self.care_team

    @property
    def visible_plans(self) -> frozenset[str] | None:
        """The plans a list may show: None means every plan."""
        return None if self.sees_every_plan else (self.care_team or frozenset())

    def may_see(self, care_plan_id: str) -> bool:
        if self.care_team is None:
            return False
        return self.sees_every_plan or canonical_plan_id(care_plan_id) in self.care_team


class Verifier:
    """Checks a token once, then remembers the verified caller by the token's exact
    text: a clinical app sends the same token with every request until it expires,
    and checking its signature costs more than the rest of a small request.

    A remembered token is honoured until its ``exp``, and for at most ``HOLD``
    seconds, so a key withdrawn from the identity provider's JWKS stops being
    honoured soon after (PyJWT keeps fetched keys for an hour anyway). Only
    verified tokens are remembered; a refusal is checked again every time.
    """

    HOLD = 300.0
    SIZE = 4096

    def __init__(self) -> None:
        self._verified: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    #: True when a check may wait on the network (keys fetched from a URL).
    may_block = False

    def caller(self, token: str) -> Caller:
        remembered = self._remembered(token)
        if remembered is not None:
            return remembered
        now = time.time()
        claims = self.claims(token)
        caller = _caller(claims)
        expires = claims.get("exp")
        until = min(float(expires), now + self.HOLD) if isinstance(expires, int | float) else now
        with self._lock:
            if len(self._verified) >= self.SIZE:
                self._verified.pop(next(iter(self._verified)))  # the oldest remembered
            self._verified[token] = (caller, until)
        return caller

    def remembers(self, token: str) -> bool:
        return self._remembered(token) is not None

    def _remembered(self, token: str) -> Caller | None:
        found = self._verified.get(token)
        return found[0] if found is not None and time.time() < found[1] else None

    def claims(self, token: str) -> dict[str, Any]:
        raise NotImplementedError


class SharedSecret(Verifier):
    """HS256 with one secret (development, or a deployment that issues its own)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def claims(self, token: str) -> dict[str, Any]:
        return _decode(token, self.secret, [ALGORITHM])


class PublicKeys(Verifier):
    """RS256/ES256 tokens from an identity provider: keys from its JWKS (a file, or a
    URL fetched and cached by PyJWT), with issuer and audience required."""

    def __init__(
        self,
        jwks: str,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = PUBLIC_KEY_ALGORITHMS,
    ) -> None:
        super().__init__()
        self.issuer, self.audience, self.algorithms = issuer, audience, list(algorithms)
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=3600)
            self.may_block = True
        else:
            self._keys = jwt.PyJWKSet.from_json(Path(jwks).read_text())

    def claims(self, token: str) -> dict[str, Any]:
        try:
            key = self._signing_key(token)
        except (jwt.PyJWTError, KeyError) as error:
            raise TokenError(f"no trusted key for this token ({error})") from None
        return _decode(token, key, self.algorithms, issuer=self.issuer, audience=self.audience)

    def _signing_key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        return self._keys[kid].key if kid else self._keys.keys[0].key


def _decode(token: str, key: Any, algorithms: list[str], **expected: str) -> dict[str, Any]:
    required = REQUIRED_CLAIMS + [name for name in ("issuer", "audience") if name in expected]
    names = {"issuer": "iss", "audience": "aud"}
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={"require": [names.get(c, c) for c in required]},
            **expected,
        )
    except jwt.PyJWTError as error:
        raise TokenError(str(error)) from None
    return claims


def actor_from_token(secret: str, token: str) -> Actor:
    """Verify an HS256 token and turn its claims into the Actor stored on events."""
    return SharedSecret(secret).caller(token).actor


def _caller(claims: dict[str, Any]) -> Caller:
    team = claims.get("care_team")
    if team is not None and not (
        isinstance(team, list) and all(isinstance(item, str) for item in team)
    ):
        raise TokenError("care_team must be a list of care plan ids or '*'")
    plans = None if team is None else frozenset(canonical_plan_id(plan) for plan in team)
    return Caller(_actor(claims), plans)


def _actor(claims: dict[str, Any]) -> Actor:
    role, sub = claims.get("role"), claims.get("sub")
    if not isinstance(role, str) or role not in ROLES:
        msg = f"token role {role!r} is not one of {', '.join(sorted(ROLES))}"
        raise TokenError(msg)
    if not isinstance(sub, str) or not sub.strip():
        raise TokenError("token subject is empty")
    try:
        require_identifier(sub, "actor.invalid", "Token subject")
    except InvalidValue as error:
        raise TokenError(error.message) from None
    name = claims.get("name")
    supervisor = claims.get("supervisor_id")
    profession = claims.get("profession")
    try:
        return Actor(
            id=sub.strip(),
            role=role,
            name=name if isinstance(name, str) else None,
            supervisor_id=supervisor if isinstance(supervisor, str) else None,
            profession=profession if isinstance(profession, str) else None,
        )
    except InvalidValue as error:
        raise TokenError(error.message) from None


def verifier_for(settings: Settings) -> SharedSecret | PublicKeys:
    """Public keys when a JWKS is configured, else the shared secret."""
    if settings.jwt_jwks:
        assert settings.jwt_issuer
        assert settings.jwt_audience
        return PublicKeys(
            settings.jwt_jwks, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
    return SharedSecret(settings.resolved_jwt_secret())
