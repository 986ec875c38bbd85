"""Every error leaves as application/problem+json (RFC 9457) with a stable ``code``.

Messages come from domain errors, which name ids only; request validation
errors list where and what, without echoing the submitted values.
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InterfaceError, OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from domain.errors import (
    ConcurrentUpdate,
    DomainError,
    InvalidValue,
    NotFound,
    RuleViolation,
    StaleVersion,
)
from projections.lag import ViewsBehind
from services.chain.links import ChainBroken
from services.exactly_once import CommitUnconfirmed

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """An error raised at the HTTP edge itself (authentication, authorisation)."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    422: "Unprocessable request",
    500: "Internal error",
    503: "Service unavailable",
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": f"urn:careplan:problem:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(error: DomainError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, StaleVersion):
        return 412
    if isinstance(error, (RuleViolation, ConcurrentUpdate)):
        return 409
    if isinstance(error, InvalidValue):
        return 422
    return 400


async def domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    extra = {"source": error.source} if isinstance(error, RuleViolation) and error.source else {}
    return problem(status_of(error), error.code, error.message, **extra)


async def api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return problem(error.status, error.code, error.detail, headers=error.headers)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {
            "loc": [str(part) for part in e.get("loc", ())],
            "msg": e.get("msg"),
            "type": e.get("type"),
        }
        for e in error.errors()
    ]
    return problem(422, "request.invalid", "The request does not match the schema.", errors=errors)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    code = {404: "route.not_found", 405: "method.not_allowed"}.get(error.status_code, "http.error")
    return problem(error.status_code, code, str(error.detail), headers=error.headers)


async def views_behind(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ViewsBehind)
    return problem(503, "views.behind", str(error), headers={"Retry-After": "1"})


async def outcome_unknown(request: Request, error: Exception) -> JSONResponse:
    """The commit went out and its answer was lost: say so, never "failed"."""
    log.warning("command.outcome_unknown", path=request.url.path, error=str(error))
    keyed = request.headers.get("idempotency-key") is not None
    how = (
        "retry with the same Idempotency-Key to learn its outcome (it will not be stored twice)"
        if keyed
        else "read the plan's history before sending it again (an Idempotency-Key makes "
        "retries safe)"
    )
    return problem(
        503,
        "command.outcome_unknown",
        f"The database did not confirm the command, which may or may not be stored; {how}.",
        headers={"Retry-After": "1"},
    )


async def chain_broken(request: Request, error: Exception) -> JSONResponse:
    """Tamper evidence: the plan takes nothing new until an auditor has looked."""
    log.error("chain.broken", path=request.url.path, error=str(error))
    return problem(
        503,
        "chain.broken",
        "This plan's hash chain is broken (a link is missing), so it takes no new entries "
        "until an auditor has run `careplan audit verify`. Nothing was stored.",
    )


async def store_unavailable(request: Request, error: Exception) -> JSONResponse:
    """A lost or refused database connection is the service's trouble, and passing."""
    log.warning("store.unavailable", path=request.url.path, error=str(error))
    return problem(
        503,
        "store.unavailable",
        "The database is out of reach; nothing was changed. Retry shortly.",
        headers={"Retry-After": "1"},
    )


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("request.failed", path=request.url.path)
    return problem(500, "internal.error", "An unexpected error occurred; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ViewsBehind, views_behind)
    app.add_exception_handler(CommitUnconfirmed, outcome_unknown)
    app.add_exception_handler(ChainBroken, chain_broken)
    for lost in (
        OperationalError,
        InterfaceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
    ):
        app.add_exception_handler(lost, store_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
