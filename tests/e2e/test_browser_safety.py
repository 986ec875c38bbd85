"""What a browser-based clinical app relies on: security headers on every response,
and CORS only for the configured origins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.careplan_api import Api, client
from tests.e2e.conftest import Server

ALLOWED = "https://clinic.example"


@pytest.mark.parametrize("path", ["/v1/care-plans/not-a-plan", "/health", "/nowhere"])
def test_every_response_carries_the_security_headers(prescriber: Api, path: str) -> None:
    response = prescriber.http.get(path)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "Server" not in response.headers  # the stack is not advertised


def test_the_docs_page_may_load_its_scripts(server: Server) -> None:
    response = client(server.base_url).get("/docs")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def preflight(server: Server, origin: str) -> dict[str, str]:
    response = client(server.base_url).options(
        "/v1/care-plans",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key,if-match",
        },
    )
    return dict(response.headers)


def test_a_configured_origin_may_call_with_our_headers(server: Server) -> None:
    headers = preflight(server, ALLOWED)
    assert headers["access-control-allow-origin"] == ALLOWED
    allowed = headers["access-control-allow-headers"].lower()
    assert "idempotency-key" in allowed
    assert "if-match" in allowed


def test_another_origin_is_not_allowed(server: Server) -> None:
    assert "access-control-allow-origin" not in preflight(server, "https://evil.example")


def test_the_etag_is_readable_by_the_browser(server: Server, prescriber: Api) -> None:
    response = prescriber.http.get("/health", headers={"Origin": ALLOWED})
    assert "ETag" in response.headers["access-control-expose-headers"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(prescriber: Api) -> None:
    huge = {"patient_id": "x" * (300 * 1024)}
    response = prescriber.http.post("/v1/care-plans", json=huge)
    assert response.status_code == 413
    assert response.json()["code"] == "request.too_large"
    assert response.headers["content-type"] == "application/problem+json"


def test_a_chunked_body_over_the_limit_is_refused_too(prescriber: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"patient_id": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}'

    response = prescriber.http.post(
        "/v1/care-plans", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
