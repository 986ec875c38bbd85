"""A snapshot gives back exactly the plan that was folded: every event type, every
value type the plan holds; and what is not a state this code wrote is refused."""

from __future__ import annotations

import zlib
from uuid import uuid4

import pytest

from domain.care_plan import CarePlan
from services.application import CarePlans
from services.snapshots.codec import (
    UnreadableSnapshot,
    UnsnapshottableState,
    decode_plan,
    encode_plan,
)
from tests.unit.clinic import FORMULARY, ctx, evaluated_plan
from tests.unit.every_event import every_event_type
from tests.unit.exact import state

APP = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)


def folded_after_every_event() -> list[CarePlan]:
    """Each plan of every_event_type, folded from its events after a trip through the
    mapper (as a replay gets them), one copy per version."""
    plans: list[CarePlan] = []
    plan: CarePlan | None = None
    for event in every_event_type():
        stored = APP.mapper.to_domain_event(APP.mapper.to_stored_event(event))
        if plan is not None and stored.originator_id != plan.id:
            plan = None
        plan = stored.mutate(plan)  # type: ignore[assignment]
        assert plan is not None
        plans.append(decode_plan(encode_plan(plan), plan.id, plan.version))  # a copy
    return plans


def test_every_event_type_folds_to_a_state_that_round_trips_exactly() -> None:
    plans = folded_after_every_event()
    kinds = {type(e).__name__ for e in every_event_type()}
    assert len(plans) == len(every_event_type())
    assert len(kinds) >= 26
    for plan in plans:
        again = decode_plan(encode_plan(plan), plan.id, plan.version)
        assert state(again) == state(plan), f"version {plan.version}"
        assert type(again) is CarePlan
        assert again.pending_events == []


def test_the_tricky_values_survive() -> None:
    """Tuple keys, sets, Decimals, dates in dataclasses: what JSON alone would change."""
    last = max(folded_after_every_event(), key=lambda plan: plan.version)  # the long one
    again = decode_plan(encode_plan(last), last.id, last.version)
    assert again.pending_acknowledgements.keys() == last.pending_acknowledgements.keys()
    assert all(type(key) is tuple for key in again.acknowledged_warnings)
    assert type(again.conditions) is set
    assert again.conditions == last.conditions
    assert again.weight_kg == last.weight_kg
    assert str(again.weight_kg) == str(last.weight_kg)
    rx = next(iter(again.prescriptions.values()))
    assert all(type(entry) is tuple for entry in rx.dose_history)
    assert type(rx.raised) is set


def test_the_folded_plan_keeps_folding_after_a_round_trip() -> None:
    plan = evaluated_plan()
    events = plan.collect_events()
    first = events[0].mutate(None)
    restored = decode_plan(encode_plan(first), first.id, first.version)
    assert state(events[1].mutate(restored)) == state(events[1].mutate(first))


def test_a_plan_with_unsaved_events_is_no_stored_state() -> None:
    with pytest.raises(UnsnapshottableState):
        encode_plan(evaluated_plan())


def test_a_value_the_codec_does_not_know_is_refused_not_approximated() -> None:
    plan = folded_after_every_event()[0]
    plan.__dict__["stranger"] = object()
    with pytest.raises(UnsnapshottableState):
        encode_plan(plan)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-5],  # truncated
        lambda data: b"not zlib at all",
        lambda data: zlib.compress(b'{"d":[[{"x":1},2]]}'),  # an unknown tag
        lambda data: zlib.compress(b'{"c":"os:system","v":[]}'),  # not a domain class
        lambda data: zlib.compress(
            zlib.decompress(data).replace(b'"domain.prescribing:Prescription"', b'"domain.x:Y"')
        ),
    ],
)
def test_damaged_bytes_are_refused(damage) -> None:  # type: ignore[no-untyped-def]
    plan = folded_after_every_event()[10]
    with pytest.raises(UnreadableSnapshot):
        decode_plan(damage(encode_plan(plan)), plan.id, plan.version)


def test_a_state_of_another_plan_or_version_is_refused() -> None:
    plan = folded_after_every_event()[5]
    data = encode_plan(plan)
    with pytest.raises(UnreadableSnapshot):
        decode_plan(data, uuid4(), plan.version)
    with pytest.raises(UnreadableSnapshot):
        decode_plan(data, plan.id, plan.version + 1)


def test_a_dataclass_whose_fields_changed_is_refused() -> None:
    plan = folded_after_every_event()[10]
    text = zlib.decompress(encode_plan(plan))
    marker = b'"domain.prescribing:Prescription","v":['
    assert marker in text
    fewer = text.replace(marker, marker + b'"extra",', 1)
    with pytest.raises(UnreadableSnapshot):
        decode_plan(zlib.compress(fewer), plan.id, plan.version)


def test_equal_sets_built_in_different_orders_encode_to_the_same_bytes() -> None:
    """A snapshot's bytes depend on the state, not on the order its sets were built in."""
    plan = CarePlan.open("pt-1", ctx())
    plan.collect_events()
    other = CarePlan.open("pt-1", ctx())
    other.collect_events()
    codes = [f"drug:{n}" for n in range(200)]
    plan.allergies = set(codes)
    other.allergies = set()
    for code in reversed(codes):  # the same members, added in the other order
        other.allergies.add(code)
    other.__dict__.update({k: v for k, v in vars(plan).items() if k != "allergies"})
    assert encode_plan(plan) == encode_plan(other)
