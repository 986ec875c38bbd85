"""Every guarded route of the API, read from the routers themselves, so a suite that
walks them all (role matrix, care-team isolation) covers a new route unasked."""

from __future__ import annotations

from fastapi.routing import APIRoute

from services.api.app import ROUTERS


def permission_of(route: APIRoute) -> str | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        action = getattr(dependency.call, "action", None)
        if action is not None:
            return str(action)
        pending.extend(dependency.dependencies)
    return None


#: (method, path template, permission) of every route that names a permission.
ROUTES = [
    (method, route.path, action)
    for router in ROUTERS
    for route in router.routes
    if isinstance(route, APIRoute) and (action := permission_of(route)) is not None
    for method in sorted(route.methods)
]

UNGUARDED = sorted(
    route.path
    for router in ROUTERS
    for route in router.routes
    if isinstance(route, APIRoute) and permission_of(route) is None
)
