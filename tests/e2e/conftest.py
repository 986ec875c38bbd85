"""End-to-end fixtures: a real ``careplan serve`` process per store and module, and clients.

Each test module gets its own server for each store (SQLite in a temporary data
directory, PostgreSQL in a fresh database), so no module sees another's plans.
When a test fails, the tail of that server's stderr is attached to the report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.e2e.careplan_api import Api, client
from tests.support.ports import free_port
from tests.support.postgres import fresh_database

CAREPLAN = Path(sys.executable).parent / "careplan"
STORES = ["sqlite", "postgres"]
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STDERR_TAIL_LINES = 60


@dataclass
class Server:
    """A running ``careplan serve``: where it answers and what it has logged."""

    store: str
    base_url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        return "\n".join(self.stderr().splitlines()[-lines:])

    def logged_failures(self) -> list[str]:
        """Log lines of requests that ended in a 500 or an unexpected exception."""
        log = self.stderr()
        assert "http.request" in log, "the server's request log is missing"
        return [
            line for line in log.splitlines() if "status=500" in line or "request.failed" in line
        ]


def server_env(
    data_dir: Path, port: int, database_url: str | None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The caller's environment minus any Careplan or Kafka settings, plus the test ones."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CAREPLAN_") and name != "KAFKA_BOOTSTRAP_SERVERS"
    }
    env.update(
        CAREPLAN_HOST="127.0.0.1",
        CAREPLAN_PORT=str(port),
        CAREPLAN_DATA_DIR=str(data_dir),
        CAREPLAN_JWT_SECRET=TEST_SECRET,
        CAREPLAN_CORS_ORIGINS='["https://clinic.example"]',
    )
    if database_url is not None:
        env["CAREPLAN_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def wait_until_healthy(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            pytest.fail(
                f"careplan serve ({server.store}) exited with {code} before answering "
                f"/health. Its stderr:\n{server.stderr()}",
                pytrace=False,
            )
        try:
            if httpx.get(f"{server.base_url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(
        f"careplan serve ({server.store}) did not answer GET /health with 200 within "
        f"{timeout}s. Its stderr:\n{server.stderr()}",
        pytrace=False,
    )


@contextmanager
def running_server(
    store: str, data_dir: Path, database_url: str | None, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = free_port()
    stderr_path = data_dir / "server.stderr.log"
    with stderr_path.open("wb") as stderr, (data_dir / "server.stdout.log").open("wb") as stdout:
        process = subprocess.Popen(
            [str(CAREPLAN), "serve"],
            env=server_env(data_dir, port, database_url, extra_env),
            cwd=data_dir,
            stdout=stdout,
            stderr=stderr,
        )
    server = Server(store, f"http://127.0.0.1:{port}", process, stderr_path)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="module", params=STORES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One real server per store for the requesting module."""
    store: str = request.param
    data_dir = tmp_path_factory.mktemp(f"careplan-{store}")
    with ExitStack() as stack:
        database_url = None
        if store == "postgres":
            postgres_url: str = request.getfixturevalue("postgres_url")
            database_url = stack.enter_context(fresh_database(postgres_url))
        # Entered last, so the server stops before its database is dropped.
        yield stack.enter_context(running_server(store, data_dir, database_url))


@pytest.fixture(scope="module")
def store(server: Server) -> str:
    return server.store


def _api(server: Server, role: str, sub: str, name: str | None = None) -> Iterator[Api]:
    with client(server.base_url, role=role, sub=sub, name=name) as http:
        yield Api(http, actor_id=sub)


@pytest.fixture(scope="module")
def prescriber(server: Server) -> Iterator[Api]:
    yield from _api(server, "prescriber", "dr-ada", "Dr Ada Okafor")


@pytest.fixture(scope="module")
def clinician(server: Server) -> Iterator[Api]:
    yield from _api(server, "clinician", "rn-sam", "Sam Reyes, RN")


@pytest.fixture(scope="module")
def auditor(server: Server) -> Iterator[Api]:
    yield from _api(server, "auditor", "au-lee")


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[Api]:
    yield from _api(server, "admin", "ops-kim")


@pytest.fixture(scope="module")
def service(server: Server) -> Iterator[Api]:
    yield from _api(server, "service", "svc-pharmacy")


@pytest.fixture(scope="module")
def anonymous(server: Server) -> Iterator[httpx.Client]:
    with client(server.base_url) as http:
        yield http


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """On failure, show what the server logged: the cause of a 500 is only there."""
    report = yield
    running = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(running, Server):
        report.sections.append(
            (f"careplan serve ({running.store}) stderr, last lines", running.stderr_tail())
        )
    return report
