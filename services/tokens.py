"""Bearer tokens: HS256 JWTs carrying who the caller is and in what role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from domain.errors import InvalidValue
from domain.values import PROFESSIONS, ROLES, Actor

ALGORITHM = "HS256"


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
) -> str:
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
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def actor_from_token(secret: str, token: str) -> Actor:
    """Verify signature and expiry, then turn the claims into the Actor stored on events."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]}
        )
    except jwt.PyJWTError as error:
        raise TokenError(str(error)) from None
    role, sub = claims.get("role"), claims.get("sub")
    if role not in ROLES:
        msg = f"token role {role!r} is not one of {', '.join(sorted(ROLES))}"
        raise TokenError(msg)
    if not isinstance(sub, str) or not sub.strip():
        raise TokenError("token subject is empty")
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
