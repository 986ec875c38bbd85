"""The error answers every endpoint may give, documented once for the OpenAPI contract.

Every refusal is RFC 9457 problem+json with a stable ``code``; which codes a route
can return are listed in README (errors) and, by status, here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    """An RFC 9457 problem: ``code`` is stable, ``detail`` is for people."""

    model_config = ConfigDict(extra="allow")  # e.g. errors (422), source (a rule's source)

    type: str
    title: str
    status: int
    detail: str
    code: str


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": Problem,
        "content": {"application/problem+json": {}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("Malformed header (If-Match, Idempotency-Key)."),
    401: _problem("No token, or a token we do not accept."),
    403: _problem("The role may not do this, or the plan is not on the caller's care team."),
    404: _problem("The plan, prescription, follow-up or entry does not exist."),
    409: _problem("A clinical or workflow rule refuses it; or a concurrent update."),
    412: _problem("If-Match names a version the plan has moved past."),
    413: _problem("The request body is too large."),
    422: _problem("The request does not match the schema, or a value is meaningless."),
    503: _problem("A view a rule reads is behind the event log (views.behind): retry shortly."),
}


def move_problem_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files a response ``model`` under application/json; ours are served as
    application/problem+json, so the schema is moved to the type actually sent."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if "application/problem+json" in content and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return spec
