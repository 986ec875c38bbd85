"""The FastAPI application: routes, error handling, request context, lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.api.errors import install_error_handlers
from services.api.middleware import RequestContext
from services.api.routes import commands, monitoring, queries, readiness, record_keeping, views
from services.bootstrap import Careplan


def create_app(careplan: Careplan) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if careplan.runs_projections:
            careplan.start_followers()
        yield
        careplan.close()

    app = FastAPI(
        title="Careplan",
        summary="Event-sourced care plans for psychiatric medication management.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.careplan = careplan
    install_error_handlers(app)
    app.include_router(commands.router)
    app.include_router(monitoring.router)
    app.include_router(record_keeping.router)
    app.include_router(queries.router)
    app.include_router(views.router)
    app.include_router(readiness.router)
    app.add_middleware(RequestContext)
    return app
