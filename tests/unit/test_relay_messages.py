"""The relay's direct path gives, byte for byte, the message the full path gives.

The full path (decode the domain event, upcast it, render it) defines a message;
``MessageEncoder.encode`` goes from the stored JSON straight to the message. For
every event type, old stored versions, odd stored values and a compressing mapper,
both give the same key, value and headers, and the direct path is really taken
where it should be.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import JSONTranscoder, Mapper, Notification, StoredEvent

from domain.care_plan import CarePlan
from services import relay_messages
from services.application import CarePlans
from services.event_json import message_value
from services.publisher import cloud_event_headers, encode_value
from services.relay_messages import MessageEncoder
from tests.support.schemas import validate_message
from tests.unit.clinic import FORMULARY
from tests.unit.every_event import every_event_type
from tests.unit.test_upcasting import V1_ORDER, V2_STATES, stored_v1

APP = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)
SOURCE = "urn:careplan:test"
EAST = timezone(timedelta(hours=2))
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def notification(stored: StoredEvent, position: int = 1) -> Notification:
    return Notification(
        id=position,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )


def stored(event: Any, mapper: Mapper = APP.mapper) -> Notification:
    return notification(mapper.to_stored_event(event))


def encoder(mapper: Mapper = APP.mapper, base: str | None = None) -> MessageEncoder:
    if base is None:
        return MessageEncoder(mapper, SOURCE)
    return MessageEncoder(mapper, SOURCE, base)


@pytest.mark.parametrize("traceparent", [None, TRACEPARENT])
def test_every_event_type_gives_the_full_paths_message_directly(traceparent: str | None) -> None:
    events = every_event_type()
    assert len({type(e) for e in events}) == 26
    direct = encoder()
    for event in events:
        message = direct.encode(stored(event), traceparent)
        assert message == direct.full(stored(event), traceparent), type(event).__name__
        # ... which is the message of the event as the domain recorded it
        assert message == (
            str(event.originator_id).encode(),
            encode_value(event),
            cloud_event_headers(event, SOURCE, traceparent=traceparent),
        )
        ce_type = dict(message[2])["ce_type"].decode()
        validate_message(json.loads(message[1]), ce_type)
    assert (direct.direct_count, direct.full_count) == (len(events), 0)


def test_a_configured_schema_base_names_the_same_schema_on_both_paths() -> None:
    direct = encoder(base="https://schemas.hospital.example/careplan")
    for event in every_event_type():
        assert direct.encode(stored(event)) == direct.full(stored(event))
    assert direct.full_count == 0


def test_the_second_event_of_a_type_and_actor_is_still_exact() -> None:
    """Headers and value objects are remembered per type and per stored form: a later
    event must not pick up anything of an earlier one."""
    direct = encoder()
    events = every_event_type()
    first = [direct.encode(stored(e)) for e in events]
    again = [direct.encode(stored(e)) for e in events]
    assert first == again == [direct.full(stored(e)) for e in events]


def test_plan_ids_forgotten_when_too_many_are_remembered_come_back_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(relay_messages, "REMEMBERED_PLANS", 1)
    direct = encoder()
    events = [*every_event_type(), *every_event_type()]  # every type, on new plans twice
    assert len({e.originator_id for e in events}) > 2
    assert [direct.encode(stored(e)) for e in events] == [direct.full(stored(e)) for e in events]
    assert len(direct._plan_ids) == 1


@pytest.mark.parametrize("name", V1_ORDER)
def test_an_event_stored_by_the_first_release_goes_out_upcast(name: str) -> None:
    direct = encoder()
    old = notification(stored_v1(name, uuid4(), 1))
    key, value, headers = direct.encode(old, TRACEPARENT)
    assert (key, value, headers) == direct.full(old, TRACEPARENT)
    assert (direct.direct_count, direct.full_count) == (0, 1)
    newest = getattr(CarePlan, name).class_version
    assert dict(headers)["ce_type"] == f"careplan.{name}.v{newest}".encode()
    validate_message(json.loads(value), f"careplan.{name}.v{newest}")


@pytest.mark.parametrize("name", sorted(V2_STATES))
def test_an_event_stored_at_version_2_goes_out_at_the_newest(name: str) -> None:
    direct = encoder()
    old = notification(
        StoredEvent(
            originator_id=uuid4(),
            originator_version=2,
            topic=f"domain.care_plan:CarePlan.{name}",
            state=APP.mapper.transcoder.encode(V2_STATES[name]),
        )
    )
    assert direct.encode(old) == direct.full(old)
    assert direct.full_count == 1
    newest = getattr(CarePlan, name).class_version
    assert dict(direct.encode(old)[2])["ce_type"] == f"careplan.{name}.v{newest}".encode()


def rewritten(event: Any, **changes: Any) -> Notification:
    """The event's stored form with some state fields replaced (as JSON values)."""
    original = stored(event)
    state = json.loads(original.state)
    state.update(changes)
    return notification(
        StoredEvent(
            originator_id=original.originator_id,
            originator_version=original.originator_version,
            topic=original.topic,
            state=json.dumps(state).encode(),
        )
    )


def a_prescription() -> Any:
    return next(e for e in every_event_type() if isinstance(e, CarePlan.MedicationPrescribed))


def tagged_time(moment: datetime) -> dict[str, str]:
    return {"_type_": "datetime_iso", "_data_": moment.isoformat()}


@pytest.mark.parametrize(
    "changes",
    [
        # times written with another offset, or on a whole second, are still UTC with a Z
        {"timestamp": tagged_time(datetime(2026, 3, 2, 11, 30, tzinfo=EAST))},
        {"occurred_at": tagged_time(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))},
        {"correlation_id": None},
        # an amount a later release might write unnormalised: the Dose class normalises it
        {"dose": {"_type_": "dose", "_data_": {"amount": "25.000", "unit": "mg"}}},
        {"actor": {"_type_": "actor", "_data_": {"id": " dr-ada ", "role": "prescriber"}}},
        {"note": 'ünïcode ✓ "quoted" \n'},
        {"extra": {"nested": [{"_type_": "decimal_str", "_data_": "1.50"}], "plain": "1.5"}},
        {"extra": {"_type_": "uuid_hex", "_data_": "4bf92f3577b34da6a3ce929d0e0e4736"}},
        {"extra": {"_type_": "date_iso", "_data_": "2026-03-02"}},
        {"extra": {"_type_": "measurement", "_data_": {"instrument": "PHQ-9", "total": 7}}},
        {"refills": 2**63 - 1},
    ],
    ids=[
        "offset",
        "whole-second",
        "no-correlation",
        "dose",
        "actor",
        "text",
        "nested",
        "uuid",
        "date",
        "value-object",
        "64-bit-int",
    ],
)
def test_unusual_stored_values_give_the_same_message(changes: dict[str, Any]) -> None:
    direct = encoder()
    odd = rewritten(a_prescription(), **changes)
    try:
        expected = direct.full(odd)
    except Exception as error:  # the direct path must then fail the same way
        with pytest.raises(type(error)):
            direct.encode(odd)
        return
    assert direct.encode(odd) == expected
    assert direct.direct_count == 1, "an ordinary value sent to the full path"


@pytest.mark.parametrize(
    "changes",
    [
        {"extra": 1e-07},  # orjson would write 1e-7
        {"extra": [1.5, {"deeper": 1e16}]},
        {"refills": 10**30},  # orjson would read a float
        {"extra": {"_type_": "measurement", "_data_": {"instrument": "PHQ-9", "total": 10**30}}},
        {"extra": {"_type_": "measurement", "_data_": {"instrument": "PHQ-9", "total": 2.5}}},
    ],
    ids=[
        "small-float",
        "nested-floats",
        "big-int",
        "big-int-in-value-object",
        "float-in-value-object",
    ],
)
def test_floats_and_big_integers_are_written_as_the_standard_library_writes_them(
    changes: dict[str, Any],
) -> None:
    direct = encoder()
    odd = rewritten(a_prescription(), **changes)
    assert direct.encode(odd) == direct.full(odd)
    assert (direct.direct_count, direct.standard_json_count, direct.full_count) == (1, 1, 0)


def test_a_field_stored_twice_reads_as_the_standard_library_reads_it() -> None:
    event = a_prescription()
    original = stored(event)
    assert b'"frequency":"twice_daily"' in original.state
    state = original.state.replace(
        b'"frequency":"twice_daily"', b'"frequency":"daily","frequency":"twice_daily"'
    )
    twice = notification(
        StoredEvent(
            originator_id=original.originator_id,
            originator_version=original.originator_version,
            topic=original.topic,
            state=state,
        )
    )
    direct = encoder()
    assert direct.encode(twice) == direct.full(twice) == direct.encode(original)
    assert direct.full_count == 0


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T09:30:00+00:00",
        "2026-03-02T09:30:00.000001+00:00",
        "2026-03-02T09:30:00.000000+00:00",  # not as isoformat writes it: converted
        "2026-03-02T09:30:00.123+00:00",
        "2026-03-02 09:30:00+00:00",
        "2026-03-02T09:30:00+01:00",
        "2026-03-02T09:30:00",  # no offset: the full path takes it as local time
        "2026-02-30T09:30:00+00:00",  # no such day: refused on both paths
    ],
)
def test_stored_times_in_any_form_give_the_same_ce_time(text: str) -> None:
    direct = encoder()
    odd = rewritten(a_prescription(), timestamp={"_type_": "datetime_iso", "_data_": text})
    try:
        expected = direct.full(odd)
    except ValueError:
        with pytest.raises(ValueError, match="day is out of range"):
            direct.encode(odd)
        return
    assert direct.encode(odd) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"timestamp": "2026-03-02T09:30:00+00:00"},  # not tagged: the mapper leaves a str
        {"correlation_id": {"_type_": "uuid_hex", "_data_": uuid4().hex}},
        {"dose": {"_type_": "no_such_transcoding", "_data_": {}}},
    ],
    ids=["untagged-time", "uuid-correlation", "unknown-transcoding"],
)
def test_a_stored_event_the_full_path_refuses_is_refused_the_same_way(
    changes: dict[str, Any],
) -> None:
    direct = encoder()
    odd = rewritten(a_prescription(), **changes)
    with pytest.raises(Exception) as full_error:  # noqa: PT011 (whatever the full path raises)
        direct.full(odd)
    with pytest.raises(full_error.type):
        direct.encode(odd)


def test_a_compressing_mapper_is_read_directly_too() -> None:
    transcoder = JSONTranscoder()
    APP.register_transcodings(transcoder)
    zipped = Mapper(transcoder=transcoder, compressor=ZlibCompressor())
    direct = encoder(zipped)
    for event in every_event_type():
        assert direct.encode(stored(event, zipped)) == direct.full(stored(event, zipped))
    assert direct.full_count == 0


def test_another_transcoder_always_takes_the_full_path() -> None:
    class Indented(JSONTranscoder):
        pass

    transcoder = Indented()
    APP.register_transcodings(transcoder)
    mapper = Mapper(transcoder=transcoder)
    other = encoder(mapper)
    event = a_prescription()
    assert other.encode(stored(event, mapper)) == other.full(stored(event, mapper))
    assert (other.direct_count, other.full_count) == (0, 1)


def test_the_value_is_the_published_json_of_the_event() -> None:
    event = a_prescription()
    key, value, _ = encoder().encode(stored(event))
    assert key == str(event.originator_id).encode()
    assert json.loads(value) == message_value(event)
    assert UUID(json.loads(value)["care_plan_id"]) == event.originator_id
