"""The Kafka message of a stored event: key, CloudEvents headers and JSON value.

Two paths give the same message. The full one decodes the stored event into its
domain event object (upcasting old versions) and renders that (``message_value``).
The relay's hot path, :class:`MessageEncoder`, goes from the stored JSON straight
to the message: it skips building the domain object, calls none of the per-field
conversions that plain JSON values do not need, and reuses the headers that are
the same for every event of a type. It takes the full path for anything it does
not expect (an event stored by an earlier class version, an unknown shape, a
transcoder other than the library's JSON one), so the full path stays the one
definition of a message; ``tests/unit/test_relay_messages.py`` holds the two equal
for every event type.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from services.event_json import (
    DEFAULT_SCHEMA_BASE_URI,
    actor_entry,
    is_data_field,
    iso_time,
    message_value,
    schema_uri,
    to_json_value,
    versioned_type,
)

#: (key, value, headers), as ``KafkaProducer.send`` takes them.
Message = tuple[bytes, bytes, list[tuple[str, bytes]]]

#: Compact and UTF-8, as every published value has been; built once, not per message.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_SPECVERSION = ("ce_specversion", b"1.0")
_CONTENT_TYPE = ("content-type", b"application/json")
#: Value objects (doses, diagnoses, actors …) decoded once per distinct stored form.
REMEMBERED_VALUE_OBJECTS = 4096
_PLAIN = frozenset({str, int, float, bool, type(None)})


def cloud_event_headers(
    event: Any,
    source: str,
    schema_base_uri: str = DEFAULT_SCHEMA_BASE_URI,
    traceparent: str | None = None,
) -> list[tuple[str, bytes]]:
    """CloudEvents 1.0 binary-mode headers; ``ce_id`` is fixed by plan and version, and
    ``ce_dataschema`` names the JSON Schema of the value (``infra/schemas/``).

    ``traceparent`` is the W3C header of the request that wrote the event, when it
    had one; the CloudEvents distributed-tracing extension uses the same name, so
    tracing-aware consumers and Kafka instrumentation both pick it up.
    """
    plan_id = str(event.originator_id)
    headers = {
        "ce_specversion": "1.0",
        "ce_id": f"{plan_id}:{event.originator_version}",
        "ce_type": versioned_type(type(event)),
        "ce_source": source,
        "ce_subject": plan_id,
        "ce_time": iso_time(event.timestamp),
        "ce_dataschema": schema_uri(type(event), schema_base_uri),
        "content-type": "application/json",
    }
    if traceparent:
        headers["traceparent"] = traceparent
    return [(name, value.encode()) for name, value in headers.items()]


def encode_value(event: Any) -> bytes:
    return _ENCODER.encode(message_value(event)).encode()


@dataclass(frozen=True)
class _EventType:
    """What every message of one stored topic shares."""

    name: str
    class_version: int
    type_header: tuple[str, bytes]
    schema_header: tuple[str, bytes]


class _Unusual(Exception):
    """The stored event is not one the direct path handles: take the full path."""


class MessageEncoder:
    """Messages for one relay (one source, one schema base), straight from stored events.

    :meth:`encode` gives exactly what :meth:`full` gives, the message built from the
    decoded domain event; it is only cheaper. Not thread-safe (one per relay).
    """

    def __init__(
        self, mapper: Mapper, source: str, schema_base_uri: str = DEFAULT_SCHEMA_BASE_URI
    ) -> None:
        self.mapper = mapper
        self.source = source
        self.schema_base_uri = schema_base_uri
        self._source_header = ("ce_source", source.encode())
        transcoder = mapper.transcoder
        # Another transcoder (or one that decodes differently) writes another JSON:
        # then every event takes the full path.
        self.direct = type(transcoder) is JSONTranscoder
        self._names: dict[str, Any] = transcoder.names if self.direct else {}  # type: ignore[attr-defined]
        self._types: dict[str, _EventType] = {}
        self._value_object: Callable[[str], Any] = lru_cache(maxsize=REMEMBERED_VALUE_OBJECTS)(
            self._decode_value_object
        )
        self._actor: Callable[[str], Any] = lru_cache(maxsize=REMEMBERED_VALUE_OBJECTS)(
            self._decode_actor
        )
        #: How many messages took each path (the tests check the direct one is used).
        self.direct_count = 0
        self.full_count = 0

    # -- the two paths -------------------------------------------------------------

    def encode(self, stored: StoredEvent, traceparent: str | None = None) -> Message:
        """The message of a stored event (a ``Notification`` from the log)."""
        if self.direct:
            try:
                message = self._direct(stored, traceparent)
            except Exception:  # the full path decides, and raises the real error
                message = None
            if message is not None:
                self.direct_count += 1
                return message
        self.full_count += 1
        return self.full(stored, traceparent)

    def full(self, stored: StoredEvent, traceparent: str | None = None) -> Message:
        """The reference: decode (and upcast) the domain event, then render it."""
        event = self.mapper.to_domain_event(stored)
        return (
            str(event.originator_id).encode(),
            encode_value(event),
            cloud_event_headers(event, self.source, self.schema_base_uri, traceparent),
        )

    def _direct(self, stored: StoredEvent, traceparent: str | None) -> Message | None:
        """The same message without the domain object; None for the full path."""
        kind = self._types.get(stored.topic) or self._learn(stored.topic)
        plan = stored.originator_id
        if type(plan) is not UUID:
            return None
        state = stored.state
        if self.mapper.cipher:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor:
            state = self.mapper.compressor.decompress(state)
        fields = json.loads(state)
        if fields.pop("class_version", 1) != kind.class_version:
            return None  # stored by an earlier version: the class's upcasters apply
        recorded = iso_time(self._scalar(fields["timestamp"]))
        occurred = iso_time(self._scalar(fields["occurred_at"]))
        correlation_id = fields["correlation_id"]
        if correlation_id is not None and type(correlation_id) is not str:
            return None
        actor = self._actor(_ENCODER.encode(fields["actor"]))
        data = {
            name: value if type(value) in _PLAIN else self._convert(value)
            for name, value in fields.items()
            if is_data_field(name)
        }
        plan_id = str(plan)
        version = stored.originator_version
        value = {
            "care_plan_id": plan_id,
            "version": version,
            "type": kind.name,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "actor": actor,
            "correlation_id": correlation_id,
            "data": data,
        }
        key = plan_id.encode()
        headers = [
            _SPECVERSION,
            ("ce_id", f"{plan_id}:{version}".encode()),
            kind.type_header,
            self._source_header,
            ("ce_subject", key),
            ("ce_time", recorded.encode()),
            kind.schema_header,
            _CONTENT_TYPE,
        ]
        if traceparent:
            headers.append(("traceparent", traceparent.encode()))
        return key, _ENCODER.encode(value).encode(), headers

    # -- pieces of the direct path ---------------------------------------------------

    def _learn(self, topic: str) -> _EventType:
        event_class = resolve_topic(topic)
        kind = _EventType(
            name=event_class.__name__,
            class_version=getattr(event_class, "class_version", 1),
            type_header=("ce_type", versioned_type(event_class).encode()),
            schema_header=(
                "ce_dataschema",
                schema_uri(event_class, self.schema_base_uri).encode(),
            ),
        )
        self._types[topic] = kind
        return kind

    def _scalar(self, stored: Any) -> Any:
        """A transcoded value whose stored form is one string (a time, a date, a UUID,
        a decimal), decoded as the transcoder does."""
        if type(stored) is not dict or len(stored) != 2 or type(stored["_data_"]) is not str:
            raise _Unusual
        return self._names[stored["_type_"]].decode(stored["_data_"])

    def _convert(self, stored: Any) -> Any:
        """A stored data value as ``to_json_value`` renders its decoded form."""
        kind = type(stored)
        if kind in _PLAIN:
            return stored
        if kind is list:
            return [self._convert(item) for item in stored]
        if kind is dict:
            if len(stored) == 2 and "_type_" in stored and "_data_" in stored:
                if type(stored["_data_"]) is str:
                    return to_json_value(self._scalar(stored))
                return self._value_object(_ENCODER.encode(stored))
            return {name: self._convert(item) for name, item in stored.items()}
        raise _Unusual

    def _decode_value_object(self, stored_json: str) -> Any:
        """A value object's published form, through the transcoder's own decoding (its
        class validates and normalises, as when the event is loaded)."""
        return to_json_value(self.mapper.transcoder.decode(stored_json.encode()))

    def _decode_actor(self, stored_json: str) -> Any:
        return actor_entry(self.mapper.transcoder.decode(stored_json.encode()))
