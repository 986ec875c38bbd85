"""``careplan project`` as an operator runs it: rebuilding views, and readiness while
views run in their own process (CAREPLAN_PROJECTIONS=external) and fall behind.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.careplan_api import assert_problem, client
from tests.e2e.conftest import CAREPLAN, Server, server_env, stop, wait_until_healthy
from tests.e2e.test_cli import run_careplan
from tests.support.ports import free_port

VIEWS = (
    "current_medications",
    "audit_trail",
    "plan_versions",
    "medication_timeline",
    "worklist",
    "outcomes",
)


def test_rebuild_switches_every_view_at_the_end_of_the_log(tmp_path: Path) -> None:
    assert run_careplan(tmp_path, "demo").returncode == 0
    result = run_careplan(tmp_path, "project", "rebuild", "--batch-size", "5")
    assert result.returncode == 0, result.stderr
    for name in VIEWS:
        assert f"{name}: switched at position 13 (13 events" in result.stdout


def test_an_unknown_view_is_refused_naming_the_views(tmp_path: Path) -> None:
    result = run_careplan(tmp_path, "project", "rebuild", "medication")
    assert result.returncode == 2
    assert "No view 'medication'" in result.stderr
    assert "medication_timeline" in result.stderr


@pytest.fixture
def external(tmp_path: Path) -> Iterator[Server]:
    """A server that leaves its views to ``careplan project`` and answers at once."""
    port = free_port()
    env = server_env(tmp_path, port, None)
    env.update(
        CAREPLAN_PROJECTIONS="external",
        CAREPLAN_READ_YOUR_WRITES_TIMEOUT_SECONDS="0",
        CAREPLAN_READY_MAX_LAG_EVENTS="0",
    )
    stderr_path = tmp_path / "server.stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(CAREPLAN), "serve"], env=env, cwd=tmp_path, stdout=stderr, stderr=stderr
        )
    server = Server("sqlite", f"http://127.0.0.1:{port}", process, stderr_path)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop(process)


def test_ready_answers_503_while_views_lag_and_200_once_they_caught_up(
    external: Server, tmp_path: Path
) -> None:
    probe = httpx.Client(base_url=external.base_url)
    assert probe.get("/ready").status_code == 200
    with client(external.base_url, role="prescriber", sub="dr-ada") as prescriber:
        opened = prescriber.post("/v1/care-plans", json={"patient_id": "pt-lag"})
        assert opened.status_code == 201, opened.text

    lagging = assert_problem(probe.get("/ready"), 503, "projections.lagging")
    assert lagging["head"] == 1
    assert {lag["events_behind"] for lag in lagging["projections"].values()} == {1}
    assert all(lag["seconds_behind"] >= 0 for lag in lagging["projections"].values())

    caught_up = run_careplan(tmp_path, "project", "--until-idle")
    assert caught_up.returncode == 0, caught_up.stderr
    ready = probe.get("/ready")
    assert ready.status_code == 200, ready.text
    assert {lag["events_behind"] for lag in ready.json()["projections"].values()} == {0}
