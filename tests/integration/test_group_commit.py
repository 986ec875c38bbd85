"""Group commit on both stores: commands waiting together share one transaction,
yet each is judged, ordered and answered as if it had come alone."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, StaleVersion
from domain.values import Actor, CommandContext
from projections.audit_trail import audit_entries
from services.application import EXPECTED_VERSION, CarePlans, CommandResult
from services.bootstrap import Careplan, bootstrap
from services.metrics import REGISTRY
from services.on_the_loop import BlockingOnTheLoop, run_on_the_loop
from services.settings import Settings
from services.tracing import TRACEPARENT
from tests.integration.course import play
from tests.integration.medication_histories import one_plan
from tests.integration.rebuilt import rebuild_all, view_rows

NURSE = Actor("rn-lee", "clinician")


def now() -> CommandContext:
    return CommandContext(NURSE, datetime.now(UTC))


def batches() -> tuple[float, float]:
    """(batches written, commands in them) so far in this process."""
    count = REGISTRY.get_sample_value("careplan_command_batch_size_count") or 0.0
    total = REGISTRY.get_sample_value("careplan_command_batch_size_sum") or 0.0
    return count, total


def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


class Holder:
    """Keeps a batch of one open (its command's act waits) until ``queued`` other
    commands wait behind it: the next batch then holds them all, deterministically."""

    def __init__(self, app: CarePlans, plan_id: UUID, queued: int) -> None:
        self.app = app
        self.holding = threading.Event()
        self.result: CommandResult | None = None

        def act(plan: CarePlan) -> None:
            self.holding.set()
            assert app.group_commit is not None
            until(lambda: app.group_commit is not None and app.group_commit.waiting() >= queued)
            plan.record_adherence("taking_as_prescribed", now(), note="holder")

        def run() -> None:
            assert app.group_commit is not None
            self.result = app.group_commit.run(plan_id, act, None)

        self.thread = threading.Thread(target=run)

    def __enter__(self) -> Holder:
        self.thread.start()
        assert self.holding.wait(20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive()


def with_set(var: ContextVar[Any], value: Any, call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` made with ``var`` set (as a request's If-Match or traceparent is)."""

    def made() -> Any:
        token = var.set(value)
        try:
            return call()
        finally:
            var.reset(token)

    return made


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread; their results or raised errors, in order."""
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except Exception as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
        time.sleep(0.002)  # arrival order = list order
    for thread in threads:
        thread.join(30)
    return outcomes


def test_waiting_commands_share_one_batch_and_each_is_stored_in_order(
    careplan: Careplan,
) -> None:
    app = careplan.app
    plans = [app.open_care_plan(f"pt-group-{n}", now()).care_plan_id for n in range(4)]
    count_before, commands_before = batches()

    def note(plan_id: UUID, n: int) -> Callable[[], CommandResult]:
        return lambda: app.record_adherence(
            plan_id, adherence="taking_as_prescribed", note=f"note {n}", ctx=now()
        )

    calls = [note(plans[n % 4], n) for n in range(12)]
    with Holder(app, plans[0], queued=12) as holder:
        results = in_threads(calls)
    assert holder.result is not None
    assert holder.result.version == 2

    count_after, commands_after = batches()
    assert (count_after - count_before, commands_after - commands_before) == (2, 13)
    assert all(isinstance(r, CommandResult) for r in results), results
    for plan_id in plans:
        history = list(app.history(plan_id))
        assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
        mine = [r for r in results if r.care_plan_id == plan_id]
        # Each caller's version is the one its command's event was stored at, in the
        # order the commands arrived.
        notes = {e.originator_version: e.note for e in history[1:] if e.note != "holder"}
        assert [notes[r.version] for r in mine] == [
            f"note {n}" for n in range(12) if plans[n % 4] == plan_id
        ]
        # Read-your-writes: the audit trail already lists every entry of the batch.
        entries, _ = audit_entries(careplan.views, care_plan_id=str(plan_id), limit=50)
        assert len(entries) == len(history)
    positions = [r.position for r in results]
    assert len(set(positions)) == 12
    assert None not in positions


def test_a_refused_command_is_answered_alone_and_the_batch_goes_on(careplan: Careplan) -> None:
    app = careplan.app
    plan_id = app.open_care_plan("pt-group-refused", now()).care_plan_id

    def adherence(value: str) -> Callable[[], CommandResult]:
        return lambda: app.record_adherence(plan_id, adherence=value, ctx=now())

    with Holder(app, plan_id, queued=3):
        first, refused, third = in_threads(
            [
                adherence("taking_as_prescribed"),
                adherence("sometimes"),
                adherence("missed_some_doses"),
            ]
        )
    assert isinstance(refused, InvalidValue)
    assert (first.version, third.version) == (3, 4)
    stored = [getattr(e, "adherence", None) for e in app.history(plan_id)]
    assert stored == [None, "taking_as_prescribed", "taking_as_prescribed", "missed_some_doses"]


def test_if_match_in_one_batch_lets_only_the_first_through(careplan: Careplan) -> None:
    app = careplan.app
    plan_id = app.open_care_plan("pt-group-if-match", now()).care_plan_id

    def note() -> CommandResult:
        return app.record_adherence(plan_id, adherence="missed_some_doses", ctx=now())

    with Holder(app, plan_id, queued=2):
        won, lost = in_threads([with_set(EXPECTED_VERSION, 2, note) for _ in range(2)])
    assert isinstance(won, CommandResult)
    assert won.version == 3
    assert isinstance(lost, StaleVersion)
    assert len(list(app.history(plan_id))) == 3


def test_another_process_writing_meanwhile_sends_the_batch_back_to_one_by_one(
    careplan: Careplan, settings: Settings
) -> None:
    """The batch's transaction fails on the other writer's version; nothing of it is
    stored, and each command is judged again on the plan as the other left it."""
    app = careplan.app
    plan_id = app.open_care_plan("pt-group-race", now()).care_plan_id
    other = bootstrap(settings)  # a second process on the same store
    judged: list[int] = []
    try:

        def act(plan: CarePlan) -> None:
            judged.append(plan.version)
            if len(judged) == 1:  # between this batch's read and its write
                other.app.record_adherence(plan_id, adherence="missed_some_doses", ctx=now())
            plan.record_adherence("taking_as_prescribed", now(), note="ours")

        assert app.group_commit is not None
        result = app.group_commit.run(plan_id, act, None)
    finally:
        other.close()
    assert judged == [1, 2]
    assert result.version == 3
    stored = [(e.originator_version, getattr(e, "note", None)) for e in app.history(plan_id)]
    assert stored == [(1, None), (2, None), (3, "ours")]


def test_a_refusal_on_a_stale_cached_plan_is_judged_again_on_the_plan_as_stored(
    careplan: Careplan, settings: Settings
) -> None:
    """A command's plan may be taken from this process's cache without asking the
    database; another process may have written the plan since. An accepted command
    would then fail at the write; a refused one (here If-Match, 412 on the stale
    plan) must not be answered before the plan is checked: it is judged again."""
    app = careplan.app
    plan_id = app.open_care_plan("pt-stale-copy", now()).care_plan_id
    app.record_adherence(plan_id, adherence="unknown", ctx=now())  # version 2, cached
    other = bootstrap(settings)  # a second process on the same store
    try:
        other.app.record_adherence(plan_id, adherence="missed_some_doses", ctx=now())
    finally:
        other.close()
    assert app.is_cached(plan_id, 2)  # the stale plan a batch would judge

    def note() -> CommandResult:
        return app.record_adherence(plan_id, adherence="taking_as_prescribed", ctx=now())

    result = with_set(EXPECTED_VERSION, 3, note)()
    assert result.version == 4
    assert [e.originator_version for e in app.history(plan_id)] == [1, 2, 3, 4]
    assert note().version == 5  # from the plan as stored, then kept in the cache
    plan, checked = app.plan_as_stored(plan_id, 5)
    assert (plan.version, checked) == (5, False)


def test_a_batch_takes_the_cached_plan_and_puts_it_back_only_once_stored(
    careplan: Careplan, settings: Settings
) -> None:
    """The plan a batch changes is the cached one itself, not a copy: while the
    batch holds it nobody else can see it; stored, it is cached again; when the
    write fails, what the batch judged never reaches a reader or a later command."""
    app = careplan.app
    plan_id = app.open_care_plan("pt-taken", now()).care_plan_id
    app.record_adherence(plan_id, adherence="unknown", ctx=now())  # version 2, cached
    assert app.is_cached(plan_id, 2)
    taken, checked = app.plan_as_stored(plan_id, 2)
    assert (taken.version, checked) == (2, False)
    assert not app.is_cached(plan_id, 2)  # out of the cache while a batch holds it
    assert app.take_cached(plan_id, 2) is None
    taken.record_adherence("missed_some_doses", now(), note="judged, never stored")
    assert app.care_plan(plan_id).version == 2  # a reader gets the plan as stored

    other = bootstrap(settings)  # a second process gets in first: the write fails
    try:
        other.app.record_adherence(plan_id, adherence="missed_some_doses", ctx=now())
    finally:
        other.close()
    # Judged on the cached plan (version 2), refused at the write, run again alone.
    assert app.record_adherence(plan_id, adherence="taking_as_prescribed", ctx=now()).version == 4
    stored = [getattr(e, "note", None) for e in app.history(plan_id)]
    assert "judged, never stored" not in stored
    assert app.care_plan(plan_id).adherence[None] == "taking_as_prescribed"
    assert app.record_adherence(plan_id, adherence="unknown", ctx=now()).version == 5
    assert app.is_cached(plan_id, 5)  # stored by a batch: cached again


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_with_group_commit_off_commands_run_alone(careplan: Careplan) -> None:
    app = careplan.app
    app.group_commit = None
    plan_id = app.open_care_plan("pt-alone", now()).care_plan_id
    count_before, _ = batches()
    results = in_threads(
        [
            lambda: app.record_adherence(plan_id, adherence="missed_some_doses", ctx=now())
            for _ in range(4)
        ]
    )
    assert sorted(r.version for r in results) == [2, 3, 4, 5]
    assert batches()[0] == count_before


def test_each_command_in_a_batch_keeps_its_own_traceparent(careplan: Careplan) -> None:
    app = careplan.app
    plan_id = app.open_care_plan("pt-group-trace", now()).care_plan_id
    traces = [f"00-{n:032x}-{n:016x}-01" for n in (1, 2)] + [None]

    def note() -> CommandResult:
        return app.record_adherence(plan_id, adherence="unknown", ctx=now())

    with Holder(app, plan_id, queued=3):
        results = in_threads([with_set(TRACEPARENT, trace, note) for trace in traces])
    stored = app.recorder.traceparents(0, max(r.position for r in results))  # type: ignore[attr-defined]
    assert [stored.get(r.position) for r in results] == traces


def test_views_written_by_concurrent_batches_equal_a_rebuild(careplan: Careplan) -> None:
    """Many writers at once (full courses, varied medication histories): the views
    written inside the batches' transactions are, row for row, what a rebuild from
    the log gives."""
    app = careplan.app
    count_before, commands_before = batches()

    def writer(n: int) -> Callable[[], None]:
        def write() -> None:
            rng = random.Random(n)
            for k in range(3):
                if n % 3 == 0:
                    play(app, f"pt-concurrent-course-{n}-{k}")
                else:
                    one_plan(app, rng, f"pt-concurrent-{n}-{k}")

        return write

    outcomes = in_threads([writer(n) for n in range(6)])
    assert outcomes == [None] * 6
    count_after, commands_after = batches()
    assert commands_after - commands_before > 0
    assert count_after - count_before <= commands_after - commands_before

    live = view_rows(careplan)
    assert sum(len(rows) for rows in live.values()) > 0
    rebuild_all(careplan)
    assert view_rows(careplan) == live


def test_commands_from_handlers_on_the_event_loop_are_batched_and_answered(
    careplan: Careplan,
) -> None:
    """HTTP commands run on the event loop (services.on_the_loop): they queue like
    threads do, the batch writer's thread leads their batch, and each is answered."""
    app = careplan.app
    plans = [app.open_care_plan(f"pt-loop-{n}", now()).care_plan_id for n in range(3)]
    count_before, commands_before = batches()

    def command(plan_id: UUID) -> CommandResult:
        return app.record_adherence(plan_id, adherence="unknown", ctx=now())

    async def handlers() -> list[CommandResult]:
        answered = asyncio.gather(*(run_on_the_loop(command, plan) for plan in plans))
        return await asyncio.wait_for(answered, 30)

    with Holder(app, plans[0], queued=3):  # a thread's batch; the three queue behind it
        results = asyncio.run(handlers())

    assert [r.version for r in results] == [3, 2, 2]
    count_after, commands_after = batches()
    assert (count_after - count_before, commands_after - commands_before) == (2, 4)
    assert [type(e).__name__ for e in app.history(plans[0])][1:] == ["AdherenceRecorded"] * 2


def test_a_refusal_reaches_the_handler_on_the_event_loop(careplan: Careplan) -> None:
    app = careplan.app
    plan_id = app.open_care_plan("pt-loop-refused", now()).care_plan_id

    async def stale() -> CommandResult:
        EXPECTED_VERSION.set(7)  # If-Match: "7", the plan is at 1
        return await run_on_the_loop(app.record_adherence, plan_id, adherence="unknown", ctx=now())

    with pytest.raises(StaleVersion):
        asyncio.run(stale())
    assert app.stored_version(plan_id) == 1


def test_a_handler_on_the_event_loop_never_waits_on_the_database(careplan: Careplan) -> None:
    """Opening a plan and correcting an entry run alone, off the loop; reading the
    store from the loop directly is refused rather than stalling every request."""
    app = careplan.app

    def open_and_correct() -> CommandResult:
        opened = app.open_care_plan("pt-loop-alone", now())
        app.record_adherence(opened.care_plan_id, adherence="unknown", ctx=now())
        return app.mark_entry_in_error(
            opened.care_plan_id, version=2, reason="wrong chart", ctx=now()
        )

    corrected = asyncio.run(run_on_the_loop(open_and_correct))
    assert corrected.version == 3
    with pytest.raises(BlockingOnTheLoop):
        asyncio.run(run_on_the_loop(app.stored_version, corrected.care_plan_id))


def test_the_batch_writer_lives_on_when_making_a_batch_visible_fails(
    careplan: Careplan,
) -> None:
    """A failure after the commit (bringing the views up) is logged; the batch's
    handlers are answered and the next batch is written as usual."""
    app = careplan.app
    plan_id = app.open_care_plan("pt-loop-writer", now()).care_plan_id
    app.views_with_the_events = None  # so the views are brought up after the commit
    make_visible = app.after_commit
    assert make_visible is not None
    failures: list[int] = []

    def fails_once(result: CommandResult) -> None:
        if not failures:
            failures.append(result.version)
            raise RuntimeError("views unavailable")
        make_visible(result)

    app.after_commit = fails_once

    async def two_commands() -> list[CommandResult]:
        results = []
        for _ in range(2):
            command = run_on_the_loop(app.record_adherence, plan_id, adherence="unknown", ctx=now())
            results.append(await asyncio.wait_for(command, 30))
        return results

    first, second = asyncio.run(two_commands())
    assert (failures, first.version, second.version) == ([2], 2, 3)
    assert app.stored_version(plan_id) == 3
