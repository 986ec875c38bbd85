"""Request-scoped dependencies as ``Annotated`` aliases: the running Careplan,
the authenticated actor, and the permission check.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.values import Actor, CommandContext
from services.api.errors import ApiError
from services.api.permissions import PERMISSIONS
from services.bootstrap import Careplan
from services.tokens import TokenError, actor_from_token

bearer = HTTPBearer(auto_error=False, description="HS256 JWT with sub, role, exp")


def get_careplan(request: Request) -> Careplan:
    careplan: Careplan = request.app.state.careplan
    return careplan


CareplanDep = Annotated[Careplan, Depends(get_careplan)]


def get_actor(
    careplan: CareplanDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    challenge = {"WWW-Authenticate": 'Bearer realm="careplan"'}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "auth.missing_token", "Send Authorization: Bearer <token>.", challenge)
    try:
        actor = actor_from_token(careplan.settings.resolved_jwt_secret(), credentials.credentials)
    except TokenError as error:
        raise ApiError(401, "auth.invalid_token", f"Token refused: {error}.", challenge) from None
    structlog.contextvars.bind_contextvars(actor_id=actor.id, actor_role=actor.role)
    return actor


def allowed(action: str) -> Callable[..., Actor]:
    """Dependency factory: the actor, if their role may perform ``action``."""
    roles = PERMISSIONS[action]

    def check(actor: Annotated[Actor, Depends(get_actor)]) -> Actor:
        if actor.role not in roles:
            raise ApiError(403, "auth.forbidden", f"Role {actor.role!r} may not perform {action}.")
        return actor

    check.action = action  # type: ignore[attr-defined]  # read by the role-matrix test
    return check


def context(actor: Actor, request: Request, occurred_at: datetime | None) -> CommandContext:
    """The command context: the actor, clinical time (default now), the request id."""
    return CommandContext(
        actor=actor,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=getattr(request.state, "request_id", None),
    )
