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

The direct path parses and writes JSON with orjson, several times faster than the
standard library, except where the two could differ: orjson reads an integer
beyond 64 bits as a float and writes some floats differently (``1e-7`` for
``1e-07``). Events rarely hold a float (amounts are decimals, kept as strings), so
a message in which one appears, read or written, is made again with the standard
library, as the full path makes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from services.event_json import (
    DEFAULT_SCHEMA_BASE_URI,
    ENVELOPE_FIELDS,
    actor_entry,
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
#: Plans whose id is kept as text and bytes (``str(UUID)`` is Python code): a few MB at most.
REMEMBERED_PLANS = 65_536
#: A UTC time exactly as ``datetime.isoformat`` writes it (microseconds only when not
#: zero): ``iso_time`` then only swaps the offset for a Z.
_ISO_UTC = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.(?!000000)[0-9]{6})?\+00:00"
)


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
    """The Kafka value of a domain event: ``message_value`` as compact UTF-8 JSON."""
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


class _Float(Exception):
    """A float was read or is to be written: make the message with the standard library."""


@dataclass(frozen=True)
class _Decoded:
    """A value object's published form, and whether a float was in it or in its stored form."""

    value: Any
    has_float: bool


def _has_float(value: Any) -> bool:
    if type(value) is float:
        return True
    if type(value) is list:
        return any(_has_float(item) for item in value)
    if type(value) is dict:
        return any(_has_float(item) for item in value.values())
    return False


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
        # Times are read by pattern only while the library's own transcoding reads them.
        self._library_times = type(self._names.get("datetime_iso")) is DatetimeAsISO
        self._types: dict[str, _EventType] = {}
        self._plan_ids: dict[UUID, tuple[str, bytes]] = {}
        self._value_object: Callable[[bytes], _Decoded] = lru_cache(
            maxsize=REMEMBERED_VALUE_OBJECTS
        )(self._decode_value_object)
        self._actor: Callable[[bytes], _Decoded] = lru_cache(maxsize=REMEMBERED_VALUE_OBJECTS)(
            self._decode_actor
        )
        #: How many messages took each path (the tests check the direct one is used).
        self.direct_count = 0
        self.standard_json_count = 0
        self.full_count = 0

    # -- the two paths -------------------------------------------------------------

    def encode(self, stored: StoredEvent, traceparent: str | None = None) -> Message:
        """The message of a stored event (a ``Notification`` from the log)."""
        if self.direct:
            try:
                try:
                    message = self._direct(stored, traceparent, fast=True)
                except _Float:
                    self.standard_json_count += 1
                    message = self._direct(stored, traceparent, fast=False)
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

    def _direct(
        self, stored: StoredEvent, traceparent: str | None, *, fast: bool
    ) -> Message | None:
        """The same message without the domain object; None for the full path.

        ``fast``: orjson reads and writes the JSON, and any float raises ``_Float``."""
        kind = self._types.get(stored.topic) or self._learn(stored.topic)
        plan = stored.originator_id
        if type(plan) is not UUID:
            return None
        state = stored.state
        if self.mapper.cipher:
            state = self.mapper.cipher.decrypt(state)
        if self.mapper.compressor:
            state = self.mapper.compressor.decompress(state)
        fields = orjson.loads(state) if fast else json.loads(state)
        if fields.pop("class_version", 1) != kind.class_version:
            return None  # stored by an earlier version: the class's upcasters apply
        recorded = self._time(fields["timestamp"])
        occurred = self._time(fields["occurred_at"])
        correlation_id = fields["correlation_id"]
        if correlation_id is not None and type(correlation_id) is not str:
            return None
        actor = self._actor(self._stored_json(fields["actor"], fast))
        if fast and actor.has_float:
            raise _Float
        data = {}
        for name, value in fields.items():
            if name in ENVELOPE_FIELDS or name.startswith("originator_topic"):
                continue  # as ``event_json.is_data_field``
            kind_of = type(value)
            if kind_of is str or kind_of is int or kind_of is bool or value is None:
                data[name] = value
            else:
                data[name] = self._convert(value, fast)
        plan_id, key = self._plan_ids.get(plan) or self._plan_id(plan)
        version = stored.originator_version
        value = {
            "care_plan_id": plan_id,
            "version": version,
            "type": kind.name,
            "occurred_at": occurred,
            "recorded_at": recorded,
            "actor": actor.value,
            "correlation_id": correlation_id,
            "data": data,
        }
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
        encoded = orjson.dumps(value) if fast else _ENCODER.encode(value).encode()
        return key, encoded, headers

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

    def _plan_id(self, plan: UUID) -> tuple[str, bytes]:
        if len(self._plan_ids) >= REMEMBERED_PLANS:
            self._plan_ids.clear()
        text = str(plan)
        self._plan_ids[plan] = (text, text.encode())
        return self._plan_ids[plan]

    def _scalar(self, stored: Any) -> Any:
        """A transcoded value whose stored form is one string (a time, a date, a UUID,
        a decimal), decoded as the transcoder does."""
        if type(stored) is not dict or len(stored) != 2 or type(stored["_data_"]) is not str:
            raise _Unusual
        return self._names[stored["_type_"]].decode(stored["_data_"])

    def _time(self, stored: Any) -> str:
        """``iso_time`` of a stored time. One that ``isoformat`` wrote in UTC already reads
        as ``iso_time`` writes it, bar the Z: it is checked, not converted."""
        if self._library_times and type(stored) is dict and len(stored) == 2:
            text = stored.get("_data_")
            if (
                stored.get("_type_") == "datetime_iso"
                and type(text) is str
                and _ISO_UTC.fullmatch(text)
            ):
                datetime.fromisoformat(text)  # refuses a date that does not exist, as decoding
                return text[:-6] + "Z"
        return iso_time(self._scalar(stored))

    def _convert(self, stored: Any, fast: bool) -> Any:
        """A stored data value as ``to_json_value`` renders its decoded form."""
        kind = type(stored)
        if kind is str or kind is int or kind is bool or stored is None:
            return stored
        if kind is float:
            if fast:
                raise _Float
            return stored
        if kind is list:
            return [self._convert(item, fast) for item in stored]
        if kind is dict:
            if len(stored) == 2 and "_type_" in stored and "_data_" in stored:
                if type(stored["_data_"]) is str:
                    value = to_json_value(self._scalar(stored))
                    if fast and type(value) is float:
                        raise _Float
                    return value
                decoded = self._value_object(self._stored_json(stored, fast))
                if fast and decoded.has_float:
                    raise _Float
                return decoded.value
            return {name: self._convert(item, fast) for name, item in stored.items()}
        raise _Unusual

    @staticmethod
    def _stored_json(value: Any, fast: bool) -> bytes:
        """A stored value as JSON again: the key of the value-object caches."""
        return orjson.dumps(value) if fast else _ENCODER.encode(value).encode()

    def _decode_value_object(self, stored_json: bytes) -> _Decoded:
        """A value object's published form, through the transcoder's own decoding (its
        class validates and normalises, as when the event is loaded)."""
        value = to_json_value(self.mapper.transcoder.decode(stored_json))
        return _Decoded(value, _has_float(json.loads(stored_json)) or _has_float(value))

    def _decode_actor(self, stored_json: bytes) -> _Decoded:
        value = actor_entry(self.mapper.transcoder.decode(stored_json))
        return _Decoded(value, _has_float(json.loads(stored_json)) or _has_float(value))
