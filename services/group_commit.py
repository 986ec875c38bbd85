"""Group commit: commands arriving together share one transaction and one view update.

The event store takes a table lock for every insert (that is how the library keeps
the notification log free of gaps), and every command then brings six views up to
date before it answers. One command per transaction puts every writer in one queue
behind that lock and those view updates; the database round trips, not the rules,
set the pace.

Here the commands waiting at the same moment form a batch that one thread (the
leader, itself one of the callers) runs in arrival order: each on its plan exactly
as the commands before it left it, so every rule judges what it would have judged
had the commands come one by one, and a plan's events keep the order of its
commands. The batch's events are recorded in one transaction; the views are
brought up to the batch's last position once, before any caller in the batch hears
"done" (read-your-writes). A batch is whatever arrived while the previous one was
being written: nobody waits on a timer, so a lone command goes straight through.

Callers are threads, or HTTP handlers running on the event loop
(``services.on_the_loop``): those await their answer, and a thread of the batch
writer's own leads in their place; a batch answers all of a loop's handlers with
one call onto it.

A command the rules refuse is answered alone; the others in its batch go on. If the
transaction fails because another process wrote one of the plans meanwhile,
nothing of the batch is stored and each command runs again on its own, the usual
way (load, judge, save, retry on conflict), so no rule is ever judged on a stale
plan.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog

from domain.care_plan import CarePlan
from domain.errors import ConcurrentUpdate, StaleVersion
from services.exactly_once import outcome_of
from services.metrics import COMMAND_BATCH
from services.on_the_loop import on_a_thread, on_the_loop, wait_for
from services.tracing import TRACEPARENT

if TYPE_CHECKING:
    from services.application import CarePlans, CommandResult

log = structlog.get_logger(__name__)

#: Plans whose stored version is remembered; one forgotten costs a conflict and a rerun.
REMEMBERED_PLANS = 10_000


@dataclass(eq=False)
class _Command:
    """One caller's command, and where its answer is left for it."""

    plan_id: UUID
    #: Loaded by the caller before it queued (loads run in parallel, not in the
    #: batch); None when the cache holds it: the batch takes it from there.
    plan: CarePlan | None
    #: False when the plan is the cached one, not read from the database
    #: (``CarePlans.plan_as_stored``): a refusal is then answered only once checked.
    checked: bool
    act: Callable[[CarePlan], Any]
    expected: int | None
    #: The caller's context (If-Match, request id…): the act runs in it, whichever
    #: thread leads the batch.
    context: contextvars.Context
    wake: threading.Event = field(default_factory=threading.Event)
    #: Set for a handler on the event loop (services.on_the_loop): answered there,
    #: and never a leader (the batch writer's thread leads in its place).
    future: asyncio.Future[None] | None = None
    lead: bool = False
    result: CommandResult | None = None
    error: BaseException | None = None
    events: list[CarePlan.Event] = field(default_factory=list)

    def answer(self) -> CommandResult:
        if self.error is not None:
            raise self.error
        assert self.result is not None  # every command of a finished batch has one or the other
        return self.result


class GroupCommit:
    """Runs ``CarePlans`` commands in batches; ``run`` blocks until its command's
    events are stored and visible in the views, like a command run alone."""

    def __init__(self, app: CarePlans) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._waiting: list[_Command] = []
        self._leading = False
        #: The version this process last stored of each plan: a plan loaded before
        #: an earlier batch wrote it is loaded again rather than judged stale.
        self._stored: dict[UUID, int] = {}
        #: Leads batches in place of handlers on the event loop (started on first use).
        self._writer: threading.Thread | None = None
        self._writer_due = threading.Event()

    def waiting(self) -> int:
        """Commands queued behind the batch being written."""
        with self._lock:
            return len(self._waiting)

    def run(
        self, plan_id: UUID, act: Callable[[CarePlan], Any], expected: int | None
    ) -> CommandResult:
        if on_the_loop():
            context = contextvars.copy_context()  # the handler's, not its task's
            return wait_for(self._run_from_the_loop(plan_id, act, expected, context))
        # Not found: the caller's answer, at once.
        plan = None if self._is_cached(plan_id) else self._app.care_plan(plan_id)
        context = contextvars.copy_context()
        command = _Command(plan_id, plan, plan is not None, act, expected, context)
        if not self._queue(command):
            command.wake.wait()
            if not command.lead:
                return command.answer()
        self._lead()
        return command.answer()

    async def _run_from_the_loop(
        self,
        plan_id: UUID,
        act: Callable[[CarePlan], Any],
        expected: int | None,
        context: contextvars.Context,
    ) -> CommandResult:
        """``run`` for a handler on the event loop: queued, and awaited there."""
        plan = None
        if not self._is_cached(plan_id):  # loading asks the database: not on the loop
            plan = await on_a_thread(context, self._app.care_plan, plan_id)
        future = asyncio.get_running_loop().create_future()
        command = _Command(plan_id, plan, plan is not None, act, expected, context, future=future)
        if self._queue(command):
            self._hand_to_writer()
        await future
        return command.answer()

    def _is_cached(self, plan_id: UUID) -> bool:
        """The cache holds the plan as this process last stored it: the batch takes it."""
        return self._app.is_cached(plan_id, self._stored.get(plan_id))

    def _queue(self, command: _Command) -> bool:
        """Queue the command; True when nobody leads, so its caller must see to it."""
        with self._lock:
            self._waiting.append(command)
            leads = not self._leading
            self._leading = True
        return leads

    def _hand_to_writer(self) -> None:
        """The batch writer's thread leads the next batch (started on first use)."""
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_batches, name="group-commit", daemon=True
            )
            self._writer.start()
        self._writer_due.set()

    def _write_batches(self) -> None:
        while True:
            self._writer_due.wait()
            self._writer_due.clear()
            try:
                self._lead()
            except Exception:  # its batch is answered; the writer must live on for the next
                log.exception("group_commit.writer_failed")

    def _lead(self) -> None:
        """Write the batch waiting now, hand the lead on, then make the batch visible."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        COMMAND_BATCH.observe(len(batch))
        position: int | None = None
        try:
            position = self._write(batch)
        except BaseException as error:  # a defect here must not strand the batch's callers
            log.exception("group_commit.failed")
            for command in batch:
                if command.result is None and command.error is None:
                    command.error = error
        finally:
            # The next batch is written while this one's views are brought up.
            with self._lock:
                if not self._waiting:
                    self._leading = False
                elif self._waiting[0].future is not None:
                    self._hand_to_writer()
                else:
                    self._waiting[0].lead = True
                    self._waiting[0].wake.set()
        try:
            if position is not None and self._app.after_commit is not None:
                last = next(c.result for c in reversed(batch) if c.result is not None)
                self._app.after_commit(replace(last, position=position))
        finally:
            _answer(batch)

    def _write(self, batch: list[_Command]) -> int | None:
        """Judge every command, record the events of those that passed; the position
        the views must be brought up to, or None when they need nothing."""
        app = self._app
        plans: dict[UUID, CarePlan] = {}
        #: Each plan's version when the batch took it up, while not checked yet.
        unchecked: dict[UUID, int] = {}
        written: dict[UUID, list[CarePlan.Event]] = {}
        passed: list[tuple[_Command, CommandResult]] = []
        for command in batch:
            plan = plans.get(command.plan_id) or command.plan
            checked = command.plan_id in plans or command.checked
            stored = self._stored.get(command.plan_id)
            if plan is None or plan.version < (stored or 0):
                plan, checked = app.plan_as_stored(command.plan_id, stored)
            if command.plan_id not in plans and not checked:
                unchecked[plan.id] = plan.version
            plans[command.plan_id] = plan
            try:
                if command.expected is not None and plan.version != command.expected:
                    raise StaleVersion(plan.id, command.expected, plan.version)
                plan.require_open()
                outcome = command.context.run(command.act, plan)
            except Exception as error:
                # A refusal stands only on a plan checked against the database; one
                # judged on a stale cached plan sends the whole batch back to one by one.
                if plan.id in unchecked and app.stored_version(plan.id) != unchecked.pop(plan.id):
                    log.info("group_commit.stale_plan_running_alone", commands=len(batch))
                    for each in batch:
                        each.error, each.events = None, []
                    return self._run_alone(batch)
                command.error = error
                if plan.collect_events():  # refused halfway: back to the batch's plan so far
                    plans[command.plan_id] = _refold(app, plan.id, written.get(plan.id, []))
                continue
            command.events = plan.collect_events()
            written.setdefault(plan.id, []).extend(command.events)
            # The answer is kept aside until the events are stored: a caller hears of
            # its command only once it is recorded.
            passed.append((command, app.result_from(plan, outcome)))
        events = [event for command, _ in passed for event in command.events]
        traces = [command.context.get(TRACEPARENT) for command, _ in passed for _ in command.events]
        outcomes = [
            stored
            for command, result in passed
            if (stored := command.context.run(outcome_of, result)) is not None
        ]
        try:
            recorded = app.record(events, traces, outcomes)
        except ConcurrentUpdate:
            log.info("group_commit.conflict_running_alone", commands=len(passed))
            return self._run_alone([command for command, _ in passed])
        positions = recorded.positions
        for command, result in passed:
            mine = [positions[(e.originator_id, e.originator_version)] for e in command.events]
            command.result = replace(result, position=max(mine, default=None))
        app.keep_stored(plans.values())
        if recorded.views_current:
            return None  # written with the events: nothing to catch up
        return max(positions.values(), default=None)

    def remember_stored(self, events: Sequence[CarePlan.Event]) -> None:
        """Events this process has just stored, by any path (CarePlans.record)."""
        with self._lock:
            for event in events:
                self._stored.pop(event.originator_id, None)  # re-inserted: oldest go first
                self._stored[event.originator_id] = event.originator_version
            while len(self._stored) > REMEMBERED_PLANS:
                del self._stored[next(iter(self._stored))]

    def _run_alone(self, passed: list[_Command]) -> None:
        """Another writer got in first: each command again on its own, in order (each
        makes itself visible in the views, as a command run alone does)."""
        for command in passed:
            try:
                command.result = command.context.run(
                    self._app.change_alone, command.plan_id, command.act
                )
            except Exception as error:
                command.error = error


def _answer(batch: list[_Command]) -> None:
    """Wake the batch's callers: threads each, handlers on an event loop with one call
    onto their loop for all of them."""
    on_loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for command in batch:
        if command.future is None:
            command.wake.set()
        else:
            on_loops.setdefault(command.future.get_loop(), []).append(command.future)
    for loop, futures in on_loops.items():
        with suppress(RuntimeError):  # the loop has closed: nobody is left to answer
            loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():  # a request cancelled meanwhile has nobody to answer
            future.set_result(None)


def _refold(app: CarePlans, plan_id: UUID, written: list[CarePlan.Event]) -> CarePlan:
    """The plan as stored, with the events the batch has judged so far for it."""
    from services.application import fold  # noqa: PLC0415 (that module imports this one)

    plan: CarePlan = fold(app.care_plan(plan_id), written)
    return plan
