"""The cheap wins of replay keep their promises: a paused collector comes back, and
an actor decoded once is the same actor, still checked."""

from __future__ import annotations

import gc

import pytest
from eventsourcing.persistence import MapperDeserialisationError

from domain.values import Actor
from services.application import CarePlans
from services.gc_pause import collector_paused
from tests.unit.clinic import FORMULARY, evaluated_plan

APP = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)


def test_the_collector_is_back_after_a_pause_even_one_that_failed() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause did not switch it back on early
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_events_decoded_name_one_shared_actor() -> None:
    decoded = [
        APP.mapper.to_domain_event(APP.mapper.to_stored_event(event))
        for event in evaluated_plan().collect_events()
    ]
    first, second = (event.actor for event in decoded)  # type: ignore[attr-defined]
    assert first is second
    assert first == Actor("dr-ada", "prescriber", name="Dr Ada")


def test_an_actor_that_would_be_refused_is_still_refused_when_decoded() -> None:
    stored = APP.mapper.to_stored_event(evaluated_plan().collect_events()[0])
    bad = stored.state.replace(b'"role":"prescriber"', b'"role":"janitor"')
    assert bad != stored.state
    with pytest.raises(MapperDeserialisationError, match="Unknown role 'janitor'"):
        APP.mapper.to_domain_event(type(stored)(stored.originator_id, 1, stored.topic, bad))
