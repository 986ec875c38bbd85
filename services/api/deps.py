"""Request-scoped dependencies as ``Annotated`` aliases: the running Careplan,
the authenticated actor, and the permission check.

They are ``async`` although they never wait: FastAPI runs a plain ``def``
dependency on its thread pool, and the hand-off to a thread and back costs more
than everything these do. The one check that may wait on the network (keys
fetched from an identity provider's URL) goes to the thread pool itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPBearer

from domain.values import Actor, CommandContext
from services.api.errors import ApiError
from services.api.permissions import PERMISSIONS
from services.bootstrap import Careplan
from services.tokens import Caller, TokenError


async def get_careplan(request: Request) -> Careplan:
    careplan: Careplan = request.app.state.careplan
    return careplan


CareplanDep = Annotated[Careplan, Depends(get_careplan)]


async def verified_caller(request: Request, token: str) -> Caller:
    """The caller a token names, checked by the app's verifier (TokenError if refused)."""
    verifier = request.app.state.verifier
    if verifier.may_block and not verifier.remembers(token):
        caller: Caller = await run_in_threadpool(verifier.caller, token)
        return caller
    remembered: Caller = verifier.caller(token)
    return remembered


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


class BearerCaller(HTTPBearer):
    """The caller a bearer token names, verified; documented in OpenAPI exactly as
    FastAPI's HTTPBearer (which this is), but one dependency where HTTPBearer and a
    check of its credentials were two, without a credentials model per request."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        challenge = {"WWW-Authenticate": 'Bearer realm="careplan"'}
        token = bearer_token(request)
        if token is None:
            raise ApiError(
                401, "auth.missing_token", "Send Authorization: Bearer <token>.", challenge
            )
        try:
            caller = await verified_caller(request, token)
        except TokenError as error:
            raise ApiError(
                401, "auth.invalid_token", f"Token refused: {error}.", challenge
            ) from None
        structlog.contextvars.bind_contextvars(
            actor_id=caller.actor.id, actor_role=caller.actor.role
        )
        return caller


#: Reads across plans: a caller limited to some care teams must name the plan.
CROSS_PLAN_READS = frozenset({"audit.read", "access_log.read"})

BEARER_DESCRIPTION = "JWT with sub, role, exp (HS256, or RS256/ES256 from a JWKS)"


class Permitted(BearerCaller):
    """The actor, if their role may perform ``action`` and, when the token lists
    care teams, the plan is one of theirs: the token's check and the permission's
    in one dependency (FastAPI solves each dependency, and each of its own, on
    every request: a tenth of a command's time in the web stack was that)."""

    def __init__(self, action: str) -> None:
        super().__init__(scheme_name="HTTPBearer", auto_error=False, description=BEARER_DESCRIPTION)
        self.action = action  # read by the role-matrix test
        self.roles = PERMISSIONS[action]

    async def __call__(self, request: Request) -> Actor:  # type: ignore[override]
        return (await self.permitted(request)).actor

    async def permitted(self, request: Request) -> Caller:
        caller = await super().__call__(request)
        actor = caller.actor
        if actor.role not in self.roles:
            raise ApiError(
                403, "auth.forbidden", f"Role {actor.role!r} may not perform {self.action}."
            )
        plan = request.path_params.get("care_plan_id") or request.query_params.get("care_plan_id")
        if plan is not None and not caller.may_see(str(plan)):
            raise ApiError(
                403, "auth.not_on_care_team", f"{actor.id} is not on this plan's care team."
            )
        if plan is None and self.action in CROSS_PLAN_READS and not caller.sees_every_plan:
            raise ApiError(
                403, "auth.not_on_care_team", "Name a care_plan_id of a care team you are on."
            )
        return caller


class PermittedCaller(Permitted):
    """The caller itself (with their care teams), for lists that filter by care team."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        return await self.permitted(request)


def allowed(action: str) -> Callable[..., Awaitable[Actor]]:
    """Dependency factory: the actor, if permitted to perform ``action`` (``Permitted``)."""
    return Permitted(action)


def context(actor: Actor, request: Request, occurred_at: datetime | None) -> CommandContext:
    """The command context: the actor, clinical time (default now), the request id."""
    return CommandContext(
        actor=actor,
        occurred_at=occurred_at or datetime.now(UTC),
        correlation_id=getattr(request.state, "request_id", None),
    )
