"""The ``careplan`` command as an operator runs it: the demo course and development tokens."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

import jwt
import pytest

from services.tokens import TokenError, actor_from_token
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import CAREPLAN


def run_careplan(
    data_dir: Path, *args: str, secret: str | None = TEST_SECRET
) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CAREPLAN_")}
    env.update(CAREPLAN_DATA_DIR=str(data_dir), COLUMNS="200", PYTHONIOENCODING="utf-8")
    if secret is not None:
        env["CAREPLAN_JWT_SECRET"] = secret
    return subprocess.run(  # noqa: PLW1510 (the tests check returncode themselves)
        [str(CAREPLAN), *args],
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
    )


class Demo(NamedTuple):
    result: subprocess.CompletedProcess[str]
    data_dir: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One run of ``careplan demo`` in an empty data directory."""
    data_dir = tmp_path_factory.mktemp("careplan-demo")
    return Demo(run_careplan(data_dir, "demo", "--patient-id", "demo-patient"), data_dir)


def sections(output: str) -> tuple[str, str]:
    """(the current-medications table, the audit-trail table) of the demo's output."""
    assert "Current medications" in output
    assert "Audit trail" in output
    medications, audit = output.split("Current medications", 1)[1].split("Audit trail", 1)
    return medications, audit


class TestDemo:
    def test_the_demo_runs_and_names_the_plan_it_created(self, demo: Demo) -> None:
        assert demo.result.returncode == 0, demo.result.stderr
        assert demo.result.stdout.startswith("Care plan ")

    def test_the_demo_shows_sertraline_50_mg_as_the_only_current_medication(
        self, demo: Demo
    ) -> None:
        medications, _ = sections(demo.result.stdout)
        rows = [line for line in medications.splitlines() if "sertraline" in line]
        assert len(rows) == 1
        assert "50 mg" in rows[0]
        assert "daily" in rows[0]
        assert "dr-ada" in rows[0]
        assert "trazodone" not in medications  # discontinued during the course

    def test_the_demo_shows_the_audit_trail_of_the_whole_course(self, demo: Demo) -> None:
        _, audit = sections(demo.result.stdout)
        for summary in (
            "Care plan opened",
            "Initial evaluation (in person): F32.1",
            "Prescribed sertraline 25 mg daily, oral",
            "sertraline dose 25 mg → 50 mg",
            "Follow-up completed (telehealth): PHQ-9 16",
            "Discontinued trazodone",
        ):
            assert summary in audit
        assert "rn-sam (clinician)" in audit
        assert "dr-ada (prescriber)" in audit

    def test_the_demo_stores_its_events_in_the_data_directory(self, demo: Demo) -> None:
        assert demo.result.returncode == 0, demo.result.stderr
        assert (demo.data_dir / "careplan.db").is_file()
        # Logs go to stderr, so the tables on stdout stay clean.
        assert "care_plan.event_recorded" in demo.result.stderr
        assert "care_plan.event_recorded" not in demo.result.stdout


class TestToken:
    def test_a_minted_token_is_accepted_with_the_same_secret(self, tmp_path: Path) -> None:
        result = run_careplan(
            tmp_path, "token", "--sub", "dr-ada", "--role", "prescriber", "--name", "Ada"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1
        actor = actor_from_token(TEST_SECRET, lines[0])
        assert (actor.id, actor.role, actor.name) == ("dr-ada", "prescriber", "Ada")
        with pytest.raises(TokenError):
            actor_from_token("some-other-secret-that-is-long-enough-too", lines[0])

    def test_a_token_lives_as_long_as_asked(self, tmp_path: Path) -> None:
        result = run_careplan(
            tmp_path, "token", "--sub", "svc-1", "--role", "service", "--ttl-hours", "1"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        claims = jwt.decode(result.stdout.strip(), TEST_SECRET, algorithms=["HS256"])
        assert claims["exp"] - claims["iat"] == 3600
        assert "name" not in claims
        assert claims["care_team"] == ["*"]  # explicit: a token without it sees nothing

    def test_a_token_names_the_care_teams_asked_for(self, tmp_path: Path) -> None:
        plans = ("7d2f0a4e-0000-4000-8000-000000000001", "7d2f0a4e-0000-4000-8000-000000000002")
        args = [arg for plan in plans for arg in ("--care-team", plan)]
        result = run_careplan(tmp_path, "token", "--sub", "rn-sam", "--role", "clinician", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        claims = jwt.decode(result.stdout.strip(), TEST_SECRET, algorithms=["HS256"])
        assert claims["care_team"] == list(plans)

    def test_without_a_configured_secret_the_data_directorys_own_secret_signs(
        self, tmp_path: Path
    ) -> None:
        result = run_careplan(
            tmp_path, "token", "--sub", "au-lee", "--role", "auditor", secret=None
        )
        assert result.returncode == 0, result.stdout + result.stderr
        generated = (tmp_path / "jwt-secret").read_text().strip()
        assert actor_from_token(generated, result.stdout.strip()).role == "auditor"

    def test_an_unknown_role_exits_non_zero_without_a_token(self, tmp_path: Path) -> None:
        result = run_careplan(tmp_path, "token", "--sub", "dr-ada", "--role", "wizard")
        assert result.returncode != 0
        assert "unknown role" in result.stdout + result.stderr
        assert "eyJ" not in result.stdout

    def test_a_missing_subject_exits_non_zero(self, tmp_path: Path) -> None:
        result = run_careplan(tmp_path, "token", "--role", "prescriber")
        assert result.returncode != 0
        assert "eyJ" not in result.stdout


class TestAuditCommands:
    def plan_of(self, demo: Demo) -> str:
        return demo.result.stdout.split()[2].rstrip(":")

    def test_replay_prints_the_state_at_a_version(self, demo: Demo) -> None:
        plan = self.plan_of(demo)
        result = run_careplan(demo.data_dir, "audit", "replay", plan, "--version", "3", "--json")
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert (body["version"], [e["version"] for e in body["events"]]) == (3, [1, 2, 3])
        table = run_careplan(demo.data_dir, "audit", "replay", plan)
        assert "Medications" in table.stdout
        assert "Events" in table.stdout
        then = run_careplan(
            demo.data_dir, "audit", "replay", plan, "--clinical-as-of", "2000-01-01T00:00:00Z"
        )
        assert then.returncode == 0, then.stderr
        naive = run_careplan(demo.data_dir, "audit", "replay", plan, "--as-of", "2026-01-01")
        assert naive.returncode == 2
        assert "zone" in naive.stderr

    def test_export_writes_a_fhir_bundle_and_csv(self, demo: Demo, tmp_path: Path) -> None:
        plan = self.plan_of(demo)
        out = tmp_path / "record.json"
        result = run_careplan(demo.data_dir, "audit", "export", plan, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert json.loads(out.read_text())["resourceType"] == "Bundle"
        rows = run_careplan(demo.data_dir, "audit", "export", plan, "--format", "csv")
        assert rows.stdout.startswith("version,type,occurred_at")

    def test_an_unknown_plan_is_a_clear_error(self, demo: Demo) -> None:
        result = run_careplan(demo.data_dir, "audit", "replay", "no-such-plan")
        assert result.returncode == 2
        assert "care_plan.not_found" in result.stderr
