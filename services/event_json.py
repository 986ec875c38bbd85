"""The public JSON shape of an event: the history entry and the Kafka value.

One function builds it for both, so what a clinical app reads from
``/history`` and what a downstream service consumes from Kafka cannot drift.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

# Fields every event carries, shown at the top level of an entry, not in "data".
ENVELOPE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "occurred_at", "correlation_id"}
)

# Where the JSON Schemas of the Kafka values are said to live (``ce_dataschema``, ``$id``).
# ``.example`` is reserved: the URI names a schema; an organisation that wants it to
# resolve hosts ``infra/schemas/`` and sets CAREPLAN_SCHEMA_BASE_URI.
DEFAULT_SCHEMA_BASE_URI = "https://careplan.example/schemas/"


def to_json_value(value: Any) -> Any:
    """Convert event field values to JSON-safe ones; decimals stay exact as strings."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    msg = f"no JSON form for {type(value).__name__}"
    raise TypeError(msg)


def iso_time(moment: datetime) -> str:
    """UTC with a Z, the form the HTTP API uses, so history and Kafka values match."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_type(event: Any) -> str:
    return type(event).__name__


def versioned_type(event_class: type) -> str:
    """``careplan.<EventType>.v<N>``: the ``ce_type`` and the name of the event's schema."""
    return f"careplan.{event_class.__name__}.v{getattr(event_class, 'class_version', 1)}"


def schema_uri(event_class: type, base_uri: str = DEFAULT_SCHEMA_BASE_URI) -> str:
    """The ``ce_dataschema`` of an event class: its schema file under ``base_uri``."""
    return f"{base_uri.rstrip('/')}/{versioned_type(event_class)}.json"


def is_data_field(name: str) -> bool:
    """Whether an event field goes into "data" (the rest is envelope or library detail)."""
    return name not in ENVELOPE_FIELDS and not name.startswith("originator_topic")


def event_data(event: Any) -> dict[str, Any]:
    return {
        name: to_json_value(value) for name, value in vars(event).items() if is_data_field(name)
    }


def actor_json(event: Any) -> dict[str, Any]:
    return actor_entry(event.actor)


def actor_entry(actor: Any) -> dict[str, Any]:
    """An actor as published: the optional fields only when they are set."""
    entry = {"id": actor.id, "role": actor.role}
    if actor.name:
        entry["name"] = actor.name
    if actor.supervisor_id:
        entry["supervisor_id"] = actor.supervisor_id
    if actor.profession:
        entry["profession"] = actor.profession
    return entry


def history_entry(event: Any) -> dict[str, Any]:
    """One event as clinical apps and auditors see it."""
    return {
        "version": event.originator_version,
        "type": event_type(event),
        "occurred_at": iso_time(event.occurred_at),
        "recorded_at": iso_time(event.timestamp),
        "actor": actor_json(event),
        "correlation_id": event.correlation_id,
        "data": event_data(event),
    }


def message_value(event: Any) -> dict[str, Any]:
    """The Kafka value: the history entry plus the plan it belongs to."""
    return {"care_plan_id": str(event.originator_id), **history_entry(event)}
