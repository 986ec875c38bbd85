"""How our value objects are written into stored event state (JSON).

Stored events are kept forever, so these names (``actor``, ``dose`` …) are part
of the storage format: never rename one without keeping the old name decodable.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from domain.safety import Finding
from domain.values import (
    Actor,
    Diagnosis,
    Discussion,
    Dose,
    Functioning,
    Measurement,
    MonitoringItem,
    ReviewPrompt,
    TaperStep,
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ValueObjectAsDict(Transcoding):
    """Stores a frozen dataclass as the dict of its fields."""

    def __init__(self, value_type: type, name: str) -> None:
        self.type = value_type
        self.name = name
        self._field_names = [f.name for f in fields(value_type)]

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


class DoseAsDict(ValueObjectAsDict):
    """Dose amounts are stored as strings so no float ever touches them."""

    def __init__(self) -> None:
        super().__init__(Dose, "dose")

    def encode(self, obj: Dose) -> dict[str, Any]:
        return {"amount": str(obj.amount), "unit": obj.unit}

    def decode(self, data: dict[str, Any]) -> Dose:
        return Dose(Decimal(data["amount"]), data["unit"])


class ActorAsDict(ValueObjectAsDict):
    """Every event names its actor and a plan has few of them: a replay of 1,000 events
    would otherwise validate the same handful of actors 1,000 times. Actors are
    frozen, so one decoded instance is shared by every event that names it."""

    def __init__(self) -> None:
        super().__init__(Actor, "actor")

    def decode(self, data: dict[str, Any]) -> Actor:
        try:
            return _actor(tuple(data.items()))
        except TypeError:  # an unhashable value: let the constructor refuse it
            return Actor(**data)


class MeasurementAsDict(ValueObjectAsDict):
    """Item scores come back from JSON as a list; the value keeps them as a tuple.
    Measurements stored before item scores were kept have none."""

    def __init__(self) -> None:
        super().__init__(Measurement, "measurement")

    def decode(self, data: dict[str, Any]) -> Measurement:
        return Measurement(data["instrument"], data["total"], tuple(data.get("items", ())))


class DiscussionAsDict(ValueObjectAsDict):
    """Lists come back from JSON as lists; the value keeps them as tuples."""

    def __init__(self) -> None:
        super().__init__(Discussion, "discussion")

    def decode(self, data: dict[str, Any]) -> Discussion:
        options, side_effects = data["options_considered"], data["side_effects_discussed"]
        fields_ = {**data, "options_considered": tuple(options)}
        return Discussion(**{**fields_, "side_effects_discussed": tuple(side_effects)})


@lru_cache(maxsize=4096)
def _actor(items: tuple[tuple[str, Any], ...]) -> Actor:
    return Actor(**dict(items))


def register_value_objects(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    transcoder.register(DoseAsDict())
    transcoder.register(ActorAsDict())
    transcoder.register(ValueObjectAsDict(Diagnosis, "diagnosis"))
    transcoder.register(MeasurementAsDict())
    transcoder.register(ValueObjectAsDict(Finding, "finding"))
    transcoder.register(ValueObjectAsDict(TaperStep, "taper_step"))
    transcoder.register(ValueObjectAsDict(MonitoringItem, "monitoring_item"))
    transcoder.register(DiscussionAsDict())
    transcoder.register(ValueObjectAsDict(Functioning, "functioning"))
    transcoder.register(ValueObjectAsDict(ReviewPrompt, "review_prompt"))
