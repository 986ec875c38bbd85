"""The views written in the events' own transaction, on both stores: what happens
when every view is current, when one fails, and when one is behind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.values import Actor, CommandContext
from projections.audit_trail import audit_entries
from services.application import CommandResult
from services.bootstrap import Careplan, bootstrap
from services.chain.verify import verify
from services.settings import Settings
from services.tracing import TRACEPARENT

NURSE = Actor("rn-lee", "clinician")


def now() -> CommandContext:
    return CommandContext(NURSE, datetime.now(UTC))


def entries(careplan: Careplan, plan_id: Any) -> list[tuple[int, str]]:
    rows, _ = audit_entries(careplan.views, care_plan_id=str(plan_id), limit=100)
    return [(row["version"], row["type"]) for row in rows]


def stored(careplan: Careplan, plan_id: Any) -> list[tuple[int, str]]:
    return [(e.originator_version, type(e).__name__) for e in careplan.app.history(plan_id)]


def positions(careplan: Careplan) -> dict[str, int]:
    return careplan.views.positions(sorted(careplan.followers))


def caught_up_afterwards(careplan: Careplan) -> list[CommandResult]:
    """Record the catch-ups run after commits, still running them."""
    calls: list[CommandResult] = []
    make_visible = careplan.make_visible

    def recording(result: CommandResult) -> None:
        calls.append(result)
        make_visible(result)

    careplan.app.after_commit = recording
    return calls


def test_current_views_are_written_with_the_events_and_need_no_catch_up(
    careplan: Careplan,
) -> None:
    plan_id = careplan.app.open_care_plan("pt-same-txn", now()).care_plan_id
    afterwards = caught_up_afterwards(careplan)
    result = careplan.app.record_adherence(plan_id, adherence="unknown", ctx=now())
    assert afterwards == []
    assert entries(careplan, plan_id) == stored(careplan, plan_id)
    assert set(positions(careplan).values()) == {result.position}


@pytest.mark.parametrize("failure", ["python", "sql"])
def test_a_view_that_fails_leaves_the_events_stored_and_catches_up_after(
    careplan: Careplan, failure: str
) -> None:
    """The savepoint undoes the failing view's part only; the command is stored and
    answered with its chain link and traceparent, and the catch-up after the commit
    brings every view up."""
    plan_id = careplan.app.open_care_plan("pt-view-fails", now()).care_plan_id
    trace = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    afterwards = caught_up_afterwards(careplan)
    projection = careplan.followers["audit_trail"].projection
    process = projection.process
    failed: list[int] = []

    def fails_once(event: Any, sql: Any, position: int) -> None:
        process(event, sql, position)  # its rows are written, then undone
        if not failed:
            failed.append(position)
            if failure == "sql":
                sql.execute("SELECT * FROM no_such_table")
            raise RuntimeError("view defect")

    projection.process = fails_once  # type: ignore[method-assign]
    token = TRACEPARENT.set(trace)
    try:
        result = careplan.app.record_adherence(plan_id, adherence="unknown", ctx=now())
    finally:
        TRACEPARENT.reset(token)

    assert failed == [result.position]
    assert stored(careplan, plan_id)[-1] == (2, "AdherenceRecorded")
    assert [r.position for r in afterwards] == [result.position]
    assert entries(careplan, plan_id) == stored(careplan, plan_id)
    assert set(positions(careplan).values()) == {result.position}
    assert verify(careplan.app, str(plan_id)).intact  # the link went in with the event
    assert result.position is not None
    traces = careplan.app.recorder.traceparents(0, result.position)  # type: ignore[attr-defined]
    assert traces == {result.position: trace}


def test_a_claim_that_fails_leaves_the_events_stored_and_catches_up_after(
    careplan: Careplan,
) -> None:
    """The views' positions cannot be read (here: their table is gone for a moment):
    the events, their links and the command's answer do not depend on it."""
    plan_id = careplan.app.open_care_plan("pt-claim-fails", now()).care_plan_id
    afterwards = caught_up_afterwards(careplan)
    store = careplan.views
    table = store.tracking_table

    def claim_elsewhere(sql: Any, names: Any) -> None:
        store.tracking_table = "no_such_tracking_table"
        try:
            send_claim(sql, names)
        finally:
            store.tracking_table = table

    send_claim = store.send_claim
    store.send_claim = claim_elsewhere  # type: ignore[method-assign]
    try:
        result = careplan.app.record_adherence(plan_id, adherence="unknown", ctx=now())
    finally:
        store.send_claim = send_claim  # type: ignore[method-assign]

    assert stored(careplan, plan_id)[-1] == (2, "AdherenceRecorded")
    assert [r.position for r in afterwards] == [result.position]
    assert entries(careplan, plan_id) == stored(careplan, plan_id)
    assert set(positions(careplan).values()) == {result.position}
    assert verify(careplan.app, str(plan_id)).intact


def test_views_behind_another_process_are_caught_up_after_the_commit(
    careplan: Careplan, settings: Settings
) -> None:
    plan_id = careplan.app.open_care_plan("pt-behind", now()).care_plan_id
    external = settings.model_copy(
        update={"projections": "external", "read_your_writes_timeout_seconds": 0}
    )
    other = bootstrap(external)  # another process writing, its views left to us
    try:
        other.app.record_adherence(plan_id, adherence="stopped", ctx=now())
    finally:
        other.close()
    afterwards = caught_up_afterwards(careplan)
    result = careplan.app.record_adherence(plan_id, adherence="unknown", ctx=now())

    assert [r.position for r in afterwards] == [result.position]
    assert entries(careplan, plan_id) == stored(careplan, plan_id)
    assert [version for version, _ in stored(careplan, plan_id)] == [1, 2, 3]
    assert set(positions(careplan).values()) == {result.position}


def test_a_notification_of_an_event_already_in_the_views_wakes_no_follower(
    careplan: Careplan,
) -> None:
    """Every NOTIFY of our own writes would otherwise send six followers to read the
    log for nothing."""
    plan_id = careplan.app.open_care_plan("pt-doorbell", now()).care_plan_id
    result = careplan.app.record_adherence(plan_id, adherence="unknown", ctx=now())
    assert result.position is not None
    careplan.wake_followers(result.position)
    assert not any(f._wake.is_set() for f in careplan.followers.values())
    careplan.wake_followers(result.position + 1)  # another process's event
    assert all(f._wake.is_set() for f in careplan.followers.values())
