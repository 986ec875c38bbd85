"""The FastAPI application: routes, error handling, request context, lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services import metrics
from services.access_log import AccessLog
from services.api.body_limit import BodyLimit
from services.api.errors import install_error_handlers
from services.api.middleware import RequestContext
from services.api.problems import move_problem_schemas
from services.api.routes import (
    access,
    commands,
    course_of_care,
    monitoring,
    operations,
    queries,
    readiness,
    record_keeping,
    replay,
    views,
)
from services.api.security_headers import SecurityHeaders
from services.bootstrap import Careplan
from services.tokens import verifier_for

CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "X-Request-ID",
    "X-Purpose-Of-Use",
]
CORS_RESPONSE_HEADERS = ["ETag", "Location", "X-Request-ID", "Idempotent-Replayed"]


ROUTERS = (
    commands.router,
    course_of_care.router,
    monitoring.router,
    record_keeping.router,
    queries.router,
    views.router,
    readiness.router,
    access.router,
    replay.router,
    operations.router,
)


def create_app(careplan: Careplan) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if careplan.runs_projections:
            careplan.start_followers()
        yield
        await app.state.access_log.aclose()
        careplan.close()

    docs = careplan.settings.docs_served
    app = FastAPI(
        title="Careplan",
        summary="Event-sourced care plans for psychiatric medication management.",
        version="0.1.0",
        lifespan=lifespan,
        # Off in production unless asked for: the API's map is no one's business but its users'.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.careplan = careplan
    app.state.verifier = verifier_for(careplan.settings)
    app.state.access_log = AccessLog(careplan.views)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = move_problem_schemas(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    metrics.watch(careplan)
    app.add_middleware(RequestContext)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    if careplan.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=careplan.settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    return app
