"""JSON Schemas of the Kafka values, generated from the event classes.

Downstream teams validate against these files, so they must say exactly what
the relay publishes. They are therefore derived, not written: the ``data`` of
each event from its class's annotations (the fields ``event_json.event_data``
emits), the envelope from the shape ``event_json.message_value`` builds. A test
regenerates them and fails when the files in ``infra/schemas/`` differ, and
every message the relay tests publish is validated against its schema.

Files of older event versions are never deleted: messages already on the topic
(retention is unlimited) keep pointing at them through ``ce_dataschema``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from datetime import datetime
from pathlib import Path
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic needs these before 3.12
)
from uuid import UUID

from pydantic import Field, TypeAdapter
from typing_extensions import TypedDict

from domain.care_plan import CarePlan
from domain.plan_part import PlanEvent
from services.event_json import (
    DEFAULT_SCHEMA_BASE_URI,
    is_data_field,
    schema_uri,
    versioned_type,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIRECTORY = Path("infra/schemas")
# The library's own bases: every event subclasses Event, and Created is never
# triggered (CarePlanOpened is the plan's created event).
_NOT_PUBLISHED = frozenset({"Event", "Created"})
_FILE_NAME = re.compile(r"^careplan\.(?P<type>\w+)\.v(?P<version>\d+)\.json$")


class ActorValue(TypedDict):
    """Who acted. Name, supervisor and profession are left out when not known."""

    id: str
    role: str
    name: NotRequired[str]
    supervisor_id: NotRequired[str]
    profession: NotRequired[str]


def published_event_classes() -> list[type[PlanEvent]]:
    """Every event type a care plan records (and so the relay publishes), by name."""
    found = {
        name: value
        for name in dir(CarePlan)
        if name not in _NOT_PUBLISHED
        and isinstance(value := getattr(CarePlan, name), type)
        and issubclass(value, PlanEvent)
    }
    return [found[name] for name in sorted(found)]


def data_type(event_class: type) -> Any:
    """A TypedDict of the event's "data": its own fields, with their annotated types."""
    hints = typing.get_type_hints(event_class)
    fields = {
        field.name: hints[field.name]
        for field in dataclasses.fields(event_class)
        if is_data_field(field.name)
    }
    return TypedDict(f"{event_class.__name__}Data", fields)  # type: ignore[operator]


def message_type(event_class: type) -> Any:
    """A TypedDict of the whole Kafka value, mirroring ``event_json.message_value``."""
    return TypedDict(  # type: ignore[operator]
        versioned_type(event_class),
        {
            "care_plan_id": UUID,
            "version": Annotated[int, Field(ge=1)],
            "type": Literal[event_class.__name__],
            "occurred_at": datetime,
            "recorded_at": datetime,
            "actor": ActorValue,
            "correlation_id": str | None,
            "data": data_type(event_class),
        },
    )


def schema_for(event_class: type, base_uri: str = DEFAULT_SCHEMA_BASE_URI) -> dict[str, Any]:
    """The JSON Schema (2020-12) of one event type's Kafka value."""
    generated = TypeAdapter(message_type(event_class)).json_schema(mode="serialization")
    _close_objects(generated)
    header = {
        "$schema": DIALECT,
        "$id": schema_uri(event_class, base_uri),
        "title": versioned_type(event_class),
        "description": (
            f"The Kafka value of a {event_class.__name__} event (version "
            f"{getattr(event_class, 'class_version', 1)}), as the Careplan relay publishes "
            "it. Generated from the event class by `careplan schemas`; do not edit."
        ),
    }
    return header | {key: value for key, value in generated.items() if key not in header}


def _close_objects(node: Any) -> None:
    """Fix what the annotations alone do not say about the published JSON.

    Every object with declared properties is a fixed set of fields, so none other
    is allowed. ``to_json_value`` writes every field of a value object, so a field
    with a default is still always present: required, with no default.
    Property titles only repeat the field name and are dropped.
    """
    if isinstance(node, list):
        for item in node:
            _close_objects(item)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        node["additionalProperties"] = False
        required = list(node.get("required", []))
        for name, schema in properties.items():
            schema.pop("title", None)
            if schema.pop("default", ...) is not ... and name not in required:
                required.append(name)
        node["required"] = [name for name in properties if name in required]
    for value in node.values():
        _close_objects(value)


def file_name(event_class: type) -> str:
    return f"{versioned_type(event_class)}.json"


def render(schema: dict[str, Any]) -> str:
    """The file text: stable, readable, ending in a newline (diffs stay small)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def expected_files(base_uri: str = DEFAULT_SCHEMA_BASE_URI) -> dict[str, str]:
    """File name → text, for every event type at its current version."""
    return {
        file_name(event_class): render(schema_for(event_class, base_uri))
        for event_class in published_event_classes()
    }


def write_schemas(directory: Path, base_uri: str = DEFAULT_SCHEMA_BASE_URI) -> list[str]:
    """Write the current schemas; return the names of files created or changed."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_files(base_uri).items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(name)
    return written


def schema_problems(directory: Path, base_uri: str = DEFAULT_SCHEMA_BASE_URI) -> list[str]:
    """What differs between the code and the files; empty when they agree.

    A file of an older version of an event is kept on purpose; a file of an event
    or version the code does not have is reported.
    """
    expected = expected_files(base_uri)
    current = {cls.__name__: getattr(cls, "class_version", 1) for cls in published_event_classes()}
    problems = []
    for name, text in expected.items():
        path = directory / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from the code")
    for path in sorted(directory.glob("*.json")):
        if path.name in expected:
            continue
        match = _FILE_NAME.match(path.name)
        if match is None or match["type"] not in current:
            problems.append(f"{path.name}: no such event type")
        elif int(match["version"]) >= current[match["type"]]:
            problems.append(f"{path.name}: the code has no such version")
    return problems


def load_schema(directory: Path, event_class: type) -> dict[str, Any]:
    """One event type's schema as stored (for validating consumers and tests)."""
    text = (directory / file_name(event_class)).read_text(encoding="utf-8")
    return dict(json.loads(text))
