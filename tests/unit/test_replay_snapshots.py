"""Replay from snapshots gives exactly the answer of a replay from the first event:
at every version, across corrections, with damaged or foreign snapshots ignored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.care_plan import CarePlan, care_plan_id
from domain.errors import InvalidValue
from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.application import CarePlans
from services.replay import document, replay
from services.snapshots.codec import encode_plan, fingerprint
from services.snapshots.store import MemorySnapshots
from tests.unit.clinic import FORMULARY
from tests.unit.exact import state

DR = Actor("dr-ada", "prescriber", name="Dr Ada")
NURSE = Actor("rn-sam", "clinician")
DAY0 = (datetime.now(UTC) - timedelta(days=60)).replace(hour=9, minute=0, second=0, microsecond=0)
INTERVAL = 7


def on(day: float, actor: Actor = DR) -> CommandContext:
    return CommandContext(actor, DAY0 + timedelta(days=day))


def long_story() -> tuple[CarePlans, str, dict[str, Any]]:
    """About sixty events, a snapshot every seven: a dose changed and corrected, a wrong
    drug, a warning acknowledged and the acknowledgement corrected, notes."""
    app = CarePlans(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        formulary=FORMULARY,
        snapshot_interval=INTERVAL,
    )
    plan = str(app.open_care_plan("pt-s", on(0)).care_plan_id)
    app.record_evaluation(
        plan, Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),)), on(0)
    )
    rx = {}
    for drug, amount in (("sertraline", "100"), ("bupropion", "150")):
        result = app.prescribe(
            plan,
            drug=drug,
            dose=Dose(Decimal(amount), "mg"),
            frequency="daily",
            route="oral",
            indication="MDD",
            follow_up=FollowUpPlan((DAY0 + timedelta(days=14)).date()),
            ctx=on(0),
        )
        assert result.created_id
        rx[drug] = result.created_id
    for day in range(1, 10):
        app.record_measurement(plan, instrument="PHQ-9", total=day % 27, ctx=on(day, NURSE))
        app.record_adherence(plan, adherence="taking_as_prescribed", ctx=on(day + 0.5, NURSE))
    # Sertraline started at 100 mg, above the usual start: acknowledged, later in error.
    acknowledged = app.acknowledge_warning(
        plan, rx["sertraline"], "dose.above_usual_start", "tolerated it before", on(10)
    )
    for day in range(11, 20):
        app.record_measurement(plan, instrument="PHQ-9", total=day % 27, ctx=on(day, NURSE))
        app.record_adherence(plan, adherence="taking_as_prescribed", ctx=on(day + 0.5, NURSE))
    change = app.change_dose(
        plan,
        rx["sertraline"],
        dose=Dose(Decimal(50), "mg"),
        reason="partial response",
        follow_up=None,
        ctx=on(20),
    )
    for day in range(21, 30):
        app.report_side_effect(
            plan, description="dry mouth", severity="mild", action="monitor", ctx=on(day, NURSE)
        )
    # The dose change, many snapshots back, was wrong: 25 mg again from here on.
    app.mark_entry_in_error(plan, version=change.version, reason="wrong patient", ctx=on(30))
    wrong = next(
        e.originator_version for e in app.history(plan) if getattr(e, "drug", None) == "bupropion"
    )
    app.mark_entry_in_error(plan, version=wrong, reason="other patient", ctx=on(31))
    app.mark_entry_in_error(
        plan, version=acknowledged.version, reason="not what was discussed", ctx=on(31.5)
    )
    for day in range(32, 36):
        app.record_adherence(plan, adherence="missed_some_doses", ctx=on(day, NURSE))
    app.settle_snapshots()
    return app, plan, rx


STORY = long_story()


@pytest.fixture
def story() -> tuple[CarePlans, str, dict[str, Any]]:
    return STORY


@contextmanager
def without_snapshots(app: CarePlans) -> Iterator[None]:
    interval, app.plan_snapshots.interval = app.plan_snapshots.interval, 0
    try:
        yield
    finally:
        app.plan_snapshots.interval = interval


def folded(app: CarePlans, plan: str, version: int) -> CarePlan:
    """The plan at a version the long way: every event from the first, no snapshot."""
    result: Any = None
    for event in app.history(plan, up_to=version):
        result = event.mutate(result)
    return result  # type: ignore[no-any-return]


def snapshot_rows(app: CarePlans) -> dict[tuple[Any, int, str], bytes]:
    store = app.plan_snapshots.store
    assert isinstance(store, MemorySnapshots)
    return store._rows


def test_commands_take_a_snapshot_each_interval_folded_from_the_store(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _ = story
    top = app.care_plan(plan).version
    taken = sorted(version for (_, version, _) in snapshot_rows(app))
    assert top > 8 * INTERVAL
    # One per interval crossed; a command of several events snapshots where it ends.
    assert len(taken) == top // INTERVAL
    assert all(version // INTERVAL == n + 1 for n, version in enumerate(taken))
    for (_, version, _), data in snapshot_rows(app).items():
        assert data == encode_plan(folded(app, plan, version))


def test_the_state_at_every_version_is_the_fold_from_the_first_event(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _ = story
    for version in range(1, app.care_plan(plan).version + 1):
        replayed = replay(app, plan, version=version).plan
        assert replayed is not None
        assert state(replayed) == state(folded(app, plan, version)), f"version {version}"


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_replay_with_snapshots_answers_as_one_without(data: st.DataObject) -> None:
    app, plan, _ = STORY
    top = app.care_plan(plan).version
    version = data.draw(st.integers(1, top + 3), label="version")
    limit = data.draw(st.none() | st.integers(1, 30), label="events_limit")
    before = data.draw(st.none() | st.integers(1, top + 3), label="events_before")
    asked = {"version": version, "events_limit": limit, "events_before": before}
    fast = replay(app, plan, **asked)
    with without_snapshots(app):
        slow = replay(app, plan, **asked)
    assert fast.plan is not None
    assert slow.plan is not None
    assert state(fast.plan) == state(slow.plan)
    assert document(fast) == document(slow)


def test_a_correction_across_a_snapshot_restores_the_dose(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, rx = story
    change = next(e for e in app.history(plan) if isinstance(e, CarePlan.DoseChanged))
    marks = [e for e in app.history(plan) if isinstance(e, CarePlan.EntryMarkedInError)]
    mark = next(e for e in marks if e.entry_version == change.originator_version)
    assert mark.originator_version // INTERVAL > change.originator_version // INTERVAL
    dose = lambda v: replay(app, plan, version=v).plan.prescriptions[rx["sertraline"]].dose  # noqa: E731
    assert dose(mark.originator_version - 1) == Dose(Decimal(50), "mg")
    assert dose(mark.originator_version) == Dose(Decimal(100), "mg")
    assert rx["bupropion"] not in {
        m["prescription_id"] for m in document(replay(app, plan))["medications"]
    }


def test_an_acknowledgement_in_error_across_snapshots_makes_the_warning_wait_again(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, rx = story
    ack = next(e for e in app.history(plan) if isinstance(e, CarePlan.SafetyWarningAcknowledged))
    marks = [e for e in app.history(plan) if isinstance(e, CarePlan.EntryMarkedInError)]
    mark = next(e for e in marks if e.entry_version == ack.originator_version)
    assert mark.originator_version // INTERVAL > ack.originator_version // INTERVAL + 1
    key = (rx["sertraline"], "dose.above_usual_start")
    for version, waiting in (
        (ack.originator_version - 1, True),
        (ack.originator_version, False),
        (mark.originator_version - 1, False),
        (mark.originator_version, True),
    ):
        doc = document(replay(app, plan, version=version, events_limit=1))
        pending = {(p["subject_id"], p["code"]) for p in doc["pending_acknowledgements"]}
        assert (key in pending) is waiting, version
        # Every acknowledgement given stays listed, as the events say it was given.
        given = version >= ack.originator_version
        assert [a["justification"] for a in doc["acknowledged_warnings"]] == (
            ["tolerated it before"] if given else []
        )


def test_paging_back_by_cursor_gives_every_event_once(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _ = story
    version = app.care_plan(plan).version - 2
    whole = document(replay(app, plan, version=version))
    pages, before = [], None
    while True:
        page = document(replay(app, plan, version=version, events_limit=9, events_before=before))
        assert page["acknowledged_warnings"] == whole["acknowledged_warnings"]
        assert page["events_total"] == version
        assert len(page["events"]) <= 9
        pages = page["events"] + pages
        before = page["earlier_events_before"]
        if before is None:
            break
    assert pages == whole["events"]
    assert [e["version"] for e in pages] == list(range(1, version + 1))


def test_a_damaged_snapshot_is_ignored(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _ = story
    version = 4 * INTERVAL + 3
    expected = state(folded(app, plan, version))
    rows = snapshot_rows(app)
    key = max((k for k in rows if k[1] <= version), key=lambda k: k[1])
    good = rows[key]
    try:
        rows[key] = good[: len(good) // 2]
        assert state(replay(app, plan, version=version).plan) == expected
    finally:
        rows[key] = good


def test_a_snapshot_taken_by_other_code_or_for_another_version_is_ignored(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _ = story
    uuid = care_plan_id(plan)
    version = 5 * INTERVAL + 2
    expected = state(folded(app, plan, version))
    wrong = encode_plan(folded(app, plan, 3))  # a valid state, of the wrong version
    rows = snapshot_rows(app)
    planted = [(uuid, version, "an-older-fingerprint"), (uuid, version - 1, fingerprint())]
    try:
        for key in planted:
            rows[key] = wrong
        assert state(replay(app, plan, version=version).plan) == expected
    finally:
        for key in planted:
            rows.pop(key, None)


def test_as_known_and_as_it_was_answer_as_without_snapshots(story) -> None:  # type: ignore[no-untyped-def]
    """Neither uses snapshots (they filter events by times inside the events); the
    answers, and the acknowledgements now kept in the plan, stay what they were."""
    app, plan, _ = story
    for moment in (DAY0 + timedelta(days=d) for d in (0.5, 10, 20.5, 30.5, 40)):
        for point in ({"clinical_at": moment}, {"known_at": datetime.now(UTC)}):
            fast = replay(app, plan, **point)
            with without_snapshots(app):
                slow = replay(app, plan, **point)
            assert document(fast) == document(slow)
    doc = document(replay(app, plan, clinical_at=DAY0 + timedelta(days=25)))
    assert {m["drug"]: m["dose"]["amount"] for m in doc["medications"]} == {"sertraline": "100"}


def test_a_page_asks_for_at_least_one_event(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _ = story
    with pytest.raises(InvalidValue):
        replay(app, plan, version=3, events_limit=0)
