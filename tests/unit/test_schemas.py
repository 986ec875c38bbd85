"""The event schemas: generated from the code, stored in infra/schemas, strict."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from typer.testing import CliRunner

from domain.care_plan import CarePlan
from services.cli import cli
from services.event_json import DEFAULT_SCHEMA_BASE_URI, message_value, schema_uri
from services.schemas import (
    expected_files,
    load_schema,
    published_event_classes,
    schema_problems,
    write_schemas,
)
from tests.unit.every_event import every_event_type

REPOSITORY_SCHEMAS = Path(__file__).parents[2] / "infra" / "schemas"


def validator(event_class: type) -> Draft202012Validator:
    return Draft202012Validator(
        load_schema(REPOSITORY_SCHEMAS, event_class),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def a_prescription_message() -> dict[str, Any]:
    event = next(e for e in every_event_type() if isinstance(e, CarePlan.MedicationPrescribed))
    return message_value(event)


def test_the_schema_files_are_what_the_code_generates() -> None:
    assert schema_problems(REPOSITORY_SCHEMAS) == [], "run `careplan schemas` and commit"


def test_every_published_event_type_has_a_schema_named_by_its_ce_type() -> None:
    names = sorted(path.name for path in REPOSITORY_SCHEMAS.glob("*.json"))
    assert len(published_event_classes()) == 26
    for event_class in published_event_classes():
        version = event_class.class_version
        assert f"careplan.{event_class.__name__}.v{version}.json" in names


def test_each_schema_is_valid_json_schema_with_the_dataschema_uri_as_id() -> None:
    for event_class in published_event_classes():
        schema = load_schema(REPOSITORY_SCHEMAS, event_class)
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == schema_uri(event_class)
        assert schema["$id"].startswith(DEFAULT_SCHEMA_BASE_URI)


def test_a_message_of_every_event_type_validates_against_its_schema() -> None:
    events = every_event_type()
    assert {type(e) for e in events} == set(published_event_classes())
    for event in events:
        validator(type(event)).validate(message_value(event))


def test_the_actor_may_carry_every_optional_field_and_leaves_out_empty_ones() -> None:
    actors = [message_value(e)["actor"] for e in every_event_type()]
    assert {"id", "role"} in [set(actor) for actor in actors]
    assert {"id", "role", "name", "supervisor_id", "profession"} in [set(a) for a in actors]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda m: m.update(extra=1), "an envelope field nobody publishes"),
        (lambda m: m["data"].update(extra=1), "a data field nobody publishes"),
        (lambda m: m["data"]["dose"].update(extra=1), "a field in a value object"),
        (lambda m: m["actor"].update(extra=1), "a field in the actor"),
        (lambda m: m["data"].pop("drug"), "a missing data field"),
        (lambda m: m["data"]["warnings"].append({"code": "x"}), "half a finding"),
        (lambda m: m["data"]["dose"].update(amount=25), "a dose amount as a number"),
        (lambda m: m.update(type="DoseChanged"), "another event's type"),
        (lambda m: m.update(version=0), "version 0"),
        (lambda m: m.update(recorded_at="yesterday"), "a time that is no time"),
        (lambda m: m.update(care_plan_id="plan-1"), "a plan id that is no UUID"),
    ],
)
def test_the_schema_refuses_what_the_relay_never_publishes(change: Any, where: str) -> None:
    message = copy.deepcopy(a_prescription_message())
    change(message)
    with pytest.raises(ValidationError):
        validator(CarePlan.MedicationPrescribed).validate(message)


def test_the_check_reports_missing_changed_and_unknown_files(tmp_path: Path) -> None:
    assert len(write_schemas(tmp_path)) == 26
    assert write_schemas(tmp_path) == []  # current files are left alone
    assert schema_problems(tmp_path) == []

    (tmp_path / "careplan.FollowUpMissed.v1.json").unlink()
    changed = tmp_path / "careplan.DoseChanged.v2.json"
    changed.write_text(changed.read_text().replace('"minimum": 1', '"minimum": 0'))
    (tmp_path / "careplan.DoseChanged.v3.json").write_text("{}")
    (tmp_path / "careplan.Renamed.v1.json").write_text("{}")
    assert schema_problems(tmp_path) == [
        "careplan.DoseChanged.v2.json: differs from the code",
        "careplan.FollowUpMissed.v1.json: missing",
        "careplan.DoseChanged.v3.json: the code has no such version",
        "careplan.Renamed.v1.json: no such event type",
    ]


def test_files_of_older_versions_stay_for_messages_already_on_the_topic(tmp_path: Path) -> None:
    write_schemas(tmp_path)
    (tmp_path / "careplan.DoseChanged.v1.json").write_text("{}")
    assert schema_problems(tmp_path) == []
    write_schemas(tmp_path)
    assert (tmp_path / "careplan.DoseChanged.v1.json").exists()


def test_another_base_uri_names_every_id(tmp_path: Path) -> None:
    base = "https://schemas.hospital.example/careplan"
    files = expected_files(base)
    schema = json.loads(files["careplan.CarePlanOpened.v2.json"])
    assert schema["$id"] == f"{base}/careplan.CarePlanOpened.v2.json"


def test_the_command_writes_then_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREPLAN_SCHEMA_BASE_URI", raising=False)
    runner = CliRunner()
    out = tmp_path / "schemas"
    written = runner.invoke(cli, ["schemas", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert "26 schema files written" in written.output
    assert runner.invoke(cli, ["schemas", "--out", str(out), "--check"]).exit_code == 0

    (out / "careplan.CarePlanClosed.v1.json").write_text("{}")
    stale = runner.invoke(cli, ["schemas", "--out", str(out), "--check"])
    assert stale.exit_code == 1
    assert "careplan.CarePlanClosed.v1.json: differs from the code" in stale.output
