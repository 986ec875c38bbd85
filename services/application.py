"""CarePlans: the one writer path. Load a plan, call one domain method, save.

Everything that changes a care plan goes through a method here, so optimistic
concurrency, not-found handling and the notification position (used for
read-your-writes) are dealt with once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, JSONTranscoder

from domain import record_rules
from domain.care_plan import CarePlan, care_plan_id
from domain.errors import CarePlanNotFound, ConcurrentUpdate, StaleVersion
from domain.formulary import Formulary, load_formulary
from domain.regulations import Regulations, default_regulations
from domain.safety import Finding
from domain.scales import MeasurementGiven
from domain.terminology import DiagnosisCodes, display_of
from domain.values import (
    CommandContext,
    Discussion,
    Dose,
    Evaluation,
    FollowUpPlan,
    Measurement,
    TaperStep,
    UseContext,
)
from services.command_result import CommandResult, Judged
from services.exactly_once import REPLAYED, CommandOutcome, decode, outcome_of
from services.group_commit import GroupCommit
from services.icd10cm import icd10cm_codes
from services.metrics import EVENTS
from services.on_the_loop import off_the_loop
from services.snapshots.plans import DEFAULT_INTERVAL, PlanSnapshots
from services.snapshots.store import snapshot_store
from services.snapshots.taker import SnapshotTaker
from services.tracing import TRACEPARENT
from services.transcodings import register_value_objects
from services.with_the_events import WithTheEvents, with_the_events

log = structlog.get_logger(__name__)

#: The plan version a caller requires (HTTP If-Match), for the command being run.
EXPECTED_VERSION: ContextVar[int | None] = ContextVar("expected_version", default=None)
#: How often a command that lost a race to another writer is run again. Another
#: process writing the same plan without pause can win round after round; a wait
#: that doubles (with jitter, up to ``RETRY_WAIT_MAX``) lets the loser in between.
RETRIES_ON_CONFLICT = 16
RETRY_WAIT_MAX = 0.05


@dataclass(frozen=True)
class Recorded:
    """Where stored events landed in the log, by plan and version; and whether the
    views were written with them (then no catch-up is needed after the commit)."""

    positions: dict[tuple[UUID, int], int]
    views_current: bool


class CarePlans(Application[UUID]):
    """The care-plan application service (eventsourcing ``Application``)."""

    name = "CarePlans"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        formulary: Formulary | None = None,
        regulations: Regulations | None = None,
        snapshot_interval: int = DEFAULT_INTERVAL,
    ):
        super().__init__(env)
        #: What the rules know about drugs and the law; bootstrap passes the configured files.
        self.formulary = formulary or load_formulary()
        self.regulations = regulations or default_regulations()
        self.diagnosis_codes: DiagnosisCodes = icd10cm_codes()
        #: A cache of folded states for replay (services.snapshots); not the library's
        #: snapshot store, whose encoding does not give the same plan back.
        self.plan_snapshots = PlanSnapshots(
            snapshot_store(getattr(self.factory, "datastore", None)),
            snapshot_interval,
        )
        if snapshot_interval > 0:
            self.plan_snapshots.create_table()
        self._snapshot_taker = SnapshotTaker(self._take_snapshot)
        self._locks_guard = threading.Lock()
        self._plan_locks: dict[UUID, threading.Lock] = {}
        self._patient_locks = [threading.Lock() for _ in range(64)]
        #: Concurrent commands share a transaction (services/group_commit.py); None
        #: runs each alone, as a second process writing the same store always may.
        self.group_commit: GroupCommit | None = GroupCommit(self)

    @contextmanager
    def _loading(self, plan_id: UUID) -> Iterator[None]:
        with self._plan_lock(plan_id):
            yield

    def _plan_lock(self, plan_id: UUID) -> threading.Lock:
        with self._locks_guard:
            return self._plan_locks.setdefault(plan_id, threading.Lock())

    #: Called with a successful command's result unless the views were written with
    #: its events; bootstrap uses it to make the write visible in the views before
    #: the caller hears "done".
    after_commit: Callable[[CommandResult], None] | None = None
    #: The ids of a patient's open plans, as the views know them (bootstrap sets it);
    #: None: nothing to check against (a bare application in a unit test).
    open_plans_of: Callable[[str], list[str]] | None = None
    #: The views' work for events about to be stored, done inside their own
    #: transaction (bootstrap sets it when this process runs the views).
    views_with_the_events: Callable[[Sequence[CarePlan.Event]], WithTheEvents] | None = None

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_objects(transcoder)

    # -- commands -------------------------------------------------------------

    def open_care_plan(
        self, patient_id: str, ctx: CommandContext, birth_date: date | None = None
    ) -> CommandResult:
        """Open a plan, unless the patient has one open already (care_plan.already_open)."""
        if (stored := REPLAYED.get()) is not None:
            return stored
        plan = CarePlan.open(patient_id, ctx, birth_date)
        return off_the_loop(self._open, plan)

    def _open(self, plan: CarePlan) -> CommandResult:
        # One opening per patient at a time in this process, so two requests cannot
        # both find no open plan; the check reads the views (bootstrap wires it).
        with self._patient_lock(plan.patient_id):
            if self.open_plans_of is not None:
                record_rules.one_open_plan(plan.patient_id, self.open_plans_of(plan.patient_id))
            return self._commit(plan)

    def _patient_lock(self, patient_id: str) -> threading.Lock:
        """One of a fixed stripe of locks: bounded memory, however many patients."""
        return self._patient_locks[hash(patient_id) % len(self._patient_locks)]

    def diagnosis_display(self, code: str, system: str) -> str:
        """The code set's description of a diagnosis sent without display text."""
        return display_of(code, system, self.diagnosis_codes)

    def record_evaluation(
        self, plan_id: UUID | str, evaluation: Evaluation, ctx: CommandContext
    ) -> CommandResult:

        def evaluate(plan: CarePlan) -> Judged:
            reviewed = plan.record_evaluation(evaluation, ctx, self.formulary, self.diagnosis_codes)
            return Judged(warnings=tuple(reviewed.warnings), flagged=dict(reviewed.flagged))

        return self._change(plan_id, evaluate)

    def prescribe(
        self,
        plan_id: UUID | str,
        *,
        drug: str,
        dose: Dose,
        frequency: str,
        route: str,
        indication: str,
        follow_up: FollowUpPlan | None,
        ctx: CommandContext,
        acknowledgements: Mapping[str, str] | None = None,
        refills: int = 0,
        use: UseContext | None = None,
        discussion: Discussion | None = None,
    ) -> CommandResult:
        def act(plan: CarePlan) -> tuple[str, list[Finding]]:
            return plan.prescribe(
                drug,
                dose,
                frequency,
                route,
                indication,
                follow_up,
                ctx,
                formulary=self.formulary,
                acknowledgements=acknowledgements,
                refills=refills,
                regulations=self.regulations,
                use=use,
                discussion=discussion,
            )

        return self._change(plan_id, act)

    def change_dose(
        self,
        plan_id: UUID | str,
        prescription_id: str,
        *,
        dose: Dose,
        reason: str,
        follow_up: FollowUpPlan | None,
        ctx: CommandContext,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> CommandResult:
        def act(plan: CarePlan) -> list[Finding]:
            return plan.change_dose(
                prescription_id,
                dose,
                reason,
                follow_up,
                ctx,
                formulary=self.formulary,
                acknowledgements=acknowledgements,
            )

        return self._change(plan_id, act)

    def acknowledge_warning(
        self,
        plan_id: UUID | str,
        subject_id: str,
        code: str,
        justification: str,
        ctx: CommandContext,
    ) -> CommandResult:
        return self._change(
            plan_id, lambda plan: plan.acknowledge_warning(subject_id, code, justification, ctx)
        )

    def discontinue(
        self,
        plan_id: UUID | str,
        prescription_id: str,
        *,
        reason: str,
        ctx: CommandContext,
        reason_code: str = "other",
        acknowledgements: Mapping[str, str] | None = None,
    ) -> CommandResult:
        def act(plan: CarePlan) -> list[Finding]:
            return plan.discontinue(
                prescription_id,
                reason,
                ctx,
                reason_code=reason_code,
                formulary=self.formulary,
                acknowledgements=acknowledgements,
            )

        return self._change(plan_id, act)

    def start_taper(
        self,
        plan_id: UUID | str,
        prescription_id: str,
        *,
        steps: Sequence[TaperStep],
        reason: str,
        ctx: CommandContext,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> CommandResult:
        def act(plan: CarePlan) -> list[Finding]:
            return plan.start_taper(
                prescription_id,
                steps,
                reason,
                ctx,
                formulary=self.formulary,
                acknowledgements=acknowledgements,
            )

        return self._change(plan_id, act)

    def switch(
        self, plan_id: UUID | str, from_prescription_id: str, **switch: Any
    ) -> CommandResult:
        """Switch medications; ``switch`` holds CarePlan.switch's keyword arguments."""

        def act(plan: CarePlan) -> tuple[str, list[Finding]]:
            return plan.switch(from_prescription_id, formulary=self.formulary, **switch)

        return self._change(plan_id, act)

    def schedule_follow_up(
        self,
        plan_id: UUID | str,
        plan_: FollowUpPlan,
        ctx: CommandContext,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """The result's warnings: a visit too far off for a patient not yet stable."""
        return self._change(
            plan_id, lambda plan: plan.schedule_follow_up(plan_, ctx, acknowledgements)
        )

    def complete_follow_up(
        self,
        plan_id: UUID | str,
        follow_up_id: str,
        *,
        modality: str,
        measurements: Sequence[Measurement | MeasurementGiven],
        side_effects: list[str],
        adherence: str | None,
        ctx: CommandContext,
    ) -> CommandResult:
        """The result's warnings are what the scales raised (urgent: a positive PHQ-9
        item 9; a warning: item 9 unknown because only a total was given)."""
        return self._change(
            plan_id,
            lambda plan: plan.complete_follow_up(
                follow_up_id, modality, measurements, side_effects, adherence, ctx, self.formulary
            ),
        )

    # -- monitoring: follow-up outcomes, side effects, adherence, measurements, labs --

    def mark_follow_up_missed(
        self, plan_id: UUID | str, follow_up_id: str, *, note: str | None, ctx: CommandContext
    ) -> CommandResult:
        return self._change(
            plan_id, lambda plan: plan.mark_follow_up_missed(follow_up_id, note, ctx)
        )

    def cancel_follow_up(
        self, plan_id: UUID | str, follow_up_id: str, *, reason: str, ctx: CommandContext
    ) -> CommandResult:
        return self._change(plan_id, lambda plan: plan.cancel_follow_up(follow_up_id, reason, ctx))

    def reschedule_follow_up(
        self,
        plan_id: UUID | str,
        follow_up_id: str,
        *,
        due_on: date,
        modality: str | None,
        reason: str,
        ctx: CommandContext,
    ) -> CommandResult:
        return self._change(
            plan_id,
            lambda plan: plan.reschedule_follow_up(follow_up_id, due_on, modality, reason, ctx),
        )

    def report_side_effect(
        self,
        plan_id: UUID | str,
        *,
        description: str,
        severity: str,
        action: str,
        ctx: CommandContext,
        prescription_id: str | None = None,
    ) -> CommandResult:
        return self._change(
            plan_id,
            lambda plan: plan.report_side_effect(
                description, severity, action, ctx, prescription_id=prescription_id
            ),
        )

    def record_adherence(
        self,
        plan_id: UUID | str,
        *,
        adherence: str,
        ctx: CommandContext,
        prescription_id: str | None = None,
        note: str | None = None,
    ) -> CommandResult:
        return self._change(
            plan_id,
            lambda plan: plan.record_adherence(
                adherence, ctx, prescription_id=prescription_id, note=note
            ),
        )

    def record_measurement(
        self,
        plan_id: UUID | str,
        *,
        instrument: str,
        ctx: CommandContext,
        total: int | None = None,
        items: Sequence[int] = (),
    ) -> CommandResult:
        """The result's warnings are what the scale raised: urgent findings (PHQ-9 item 9
        above 0) and a warning when item 9 is unknown (a total only)."""
        return self._change(
            plan_id,
            lambda plan: plan.record_measurement(
                instrument, ctx, total=total, items=items, formulary=self.formulary
            ),
        )

    def record_check(
        self,
        plan_id: UUID | str,
        *,
        check: str,
        present: bool,
        ctx: CommandContext,
        note: str | None = None,
    ) -> CommandResult:
        """The result's warnings are the urgent findings (a rash on lamotrigine, …)."""
        return self._change(
            plan_id,
            lambda plan: plan.record_check(
                check, present, ctx, formulary=self.formulary, note=note
            ),
        )

    def record_lab_result(
        self, plan_id: UUID | str, *, ctx: CommandContext, **result: Any
    ) -> CommandResult:
        """``result`` holds CarePlan.record_lab_result's arguments (test, value, unit, …)."""
        return self._change(plan_id, lambda plan: plan.record_lab_result(ctx=ctx, **result))

    # -- the course of care: whether to prescribe, benefit-risk reviews --------

    def record_treatment_decision(
        self,
        plan_id: UUID | str,
        *,
        decision: str,
        reason: str,
        alternatives: Sequence[str],
        ctx: CommandContext,
    ) -> CommandResult:
        return self._change(
            plan_id,
            lambda plan: plan.record_treatment_decision(decision, reason, list(alternatives), ctx),
        )

    def review_medication(
        self,
        plan_id: UUID | str,
        prescription_id: str,
        *,
        outcome: str,
        rationale: str,
        ctx: CommandContext,
    ) -> CommandResult:
        """The result's warnings are what the scores say (no improvement, …)."""
        return self._change(
            plan_id,
            lambda plan: plan.review_medication(
                prescription_id, outcome, rationale, ctx, formulary=self.formulary
            ),
        )

    # -- care team and record keeping: referrals, care team, corrections, closing --

    def refer_to_therapy(
        self,
        plan_id: UUID | str,
        *,
        therapy: str,
        to_whom: str,
        reason: str,
        urgency: str,
        ctx: CommandContext,
    ) -> CommandResult:
        return self._change(
            plan_id, lambda plan: plan.refer_to_therapy(therapy, to_whom, reason, urgency, ctx)
        )

    def change_care_team(
        self,
        plan_id: UUID | str,
        *,
        member_id: str,
        role_in_care: str,
        change: str,
        ctx: CommandContext,
        name: str | None = None,
        supervisor_id: str | None = None,
    ) -> CommandResult:
        return self._change(
            plan_id,
            lambda plan: plan.change_care_team(
                member_id, role_in_care, change, ctx, name=name, supervisor_id=supervisor_id
            ),
        )

    def mark_entry_in_error(
        self, plan_id: UUID | str, *, version: int, reason: str, ctx: CommandContext
    ) -> CommandResult:
        """The plan keeps no history, so the entry being corrected is read from the store;
        run alone, since in a group the entry could be one not stored yet."""

        def act(plan: CarePlan) -> None:
            stored = list(self.events.get(plan.id, gt=version - 1, lte=version))
            plan.mark_entry_in_error(version, stored[0] if stored else None, reason, ctx)

        return self.change_alone(plan_id, act)

    def close_care_plan(
        self, plan_id: UUID | str, *, reason: str, note: str | None, ctx: CommandContext
    ) -> CommandResult:
        return self._change(plan_id, lambda plan: plan.close(reason, note, ctx))

    # -- queries --------------------------------------------------------------

    def care_plan(self, plan_id: UUID | str, version: int | None = None) -> CarePlan:
        """The plan as it stands, or as it stood at ``version`` (auditors' replay)."""
        uuid = care_plan_id(plan_id)
        try:
            # The library fast-forwards a cached plan in place and deep-copies it after
            # its own lock is released; loads of one plan are serialised here so that
            # no thread copies a plan another is bringing up to date.
            with self._loading(uuid):
                plan = self.repository.get(uuid, version=version, projector_func=fold)
        except AggregateNotFoundError:
            raise CarePlanNotFound(uuid) from None
        assert isinstance(plan, CarePlan)
        return plan

    def plan_as_stored(self, plan_id: UUID, version: int | None) -> tuple[CarePlan, bool]:
        """The plan a batch judges a command on (group commit), and whether it was
        checked against the database.

        When ``version`` is the one this process last stored of the plan and the
        cached plan is at it, the cached plan itself is taken out of the cache
        (``take_cached``), without asking the database for newer events (a round
        trip saved on every command) and unchecked. Should another process have
        written the plan since, a command judged on it and accepted fails at the
        write on the version and runs again on the plan loaded afresh; one refused
        is answered only once the plan is checked (``stored_version``), so no
        rule's answer comes from a stale plan.
        """
        taken = self.take_cached(plan_id, version)
        if taken is not None:
            return taken, False
        return self.care_plan(plan_id), True

    def is_cached(self, plan_id: UUID, version: int | None) -> bool:
        """Whether the cached plan is at ``version``, without waiting: False while
        another thread is bringing the plan up to date."""
        if version is None or self.repository.cache is None:
            return False  # and no plan lock made for nothing
        lock = self._plan_lock(plan_id)
        if not lock.acquire(blocking=False):
            return False
        try:
            return self._cached_at(plan_id, version) is not None
        finally:
            lock.release()

    def take_cached(self, plan_id: UUID, version: int | None) -> CarePlan | None:
        """The cached plan if it is at ``version``, taken out of the cache: a batch
        changes it in place, and nobody else may see a change before it is stored.
        ``keep_stored`` puts it back once its events are; a batch that fails leaves
        it out, and the next load reads the plan as stored. Copying it instead cost
        a command more than anything else it did in Python."""
        with self._loading(plan_id):  # not while the library copies or fast-forwards it
            cached = self._cached_at(plan_id, version)
            if cached is not None:
                self.repository.cache.get(plan_id, evict=True)  # type: ignore[union-attr]
        return cached

    def _cached_at(self, plan_id: UUID, version: int | None) -> CarePlan | None:
        """The cached plan if it is at ``version`` (the caller holds its lock)."""
        cache = self.repository.cache
        if version is None or cache is None:
            return None
        try:
            cached = cache.get(plan_id)
        except KeyError:
            return None
        return cached if isinstance(cached, CarePlan) and cached.version == version else None

    def stored_version(self, plan_id: UUID) -> int:
        """The plan's last stored version (0: none), from one indexed row."""
        rows = self.recorder.select_events(plan_id, desc=True, limit=1)
        return rows[0].originator_version if rows else 0

    def keep_stored(self, plans: Iterable[CarePlan]) -> None:
        """Plans a group commit has just stored, as they now stand, go back to the
        cache (the batch holds them no longer), for ``plan_as_stored``."""
        cache = self.repository.cache
        if cache is None:
            return
        for plan in plans:
            with self._loading(plan.id):
                cache.put(plan.id, plan)

    def ensure_exists(self, plan_id: UUID | str) -> None:
        """CarePlanNotFound unless the plan has an event: one indexed row, where loading
        the plan would fold its whole history to tell the same."""
        uuid = care_plan_id(plan_id)
        if not self.stored_version(uuid):
            raise CarePlanNotFound(uuid)

    def history(
        self, plan_id: UUID | str, up_to: int | None = None, after: int = 0
    ) -> Iterator[CarePlan.Event]:
        """Every stored event of the plan (up to a version, after another), oldest first:
        the source of truth."""
        uuid = care_plan_id(plan_id)
        events = list(self.events.get(uuid, gt=after or None, lte=up_to))
        if not events and not after:
            raise CarePlanNotFound(uuid)
        yield from events  # type: ignore[misc]

    def state_at(
        self, plan_id: UUID | str, version: int, also: range | None = None
    ) -> tuple[CarePlan, list[CarePlan.Event]]:
        """The plan at ``version`` (or its last, if lower), from the newest snapshot at or
        below it; with the events read: those folded after the snapshot (all without
        one) and, when they meet, the versions ``also`` asked for too: one query
        instead of two for a caller that needs both."""
        uuid = care_plan_id(plan_id)
        start = self.plan_snapshots.load(uuid, version)
        after = start.version if start else 0
        first = after
        if also is not None and also and also.stop > after:
            first = min(after, also.start - 1)
        events = list(self.history(uuid, up_to=version, after=first))
        plan = fold(start, (e for e in events if e.originator_version > after))
        if plan is None:
            raise CarePlanNotFound(uuid)
        return plan, events

    # -- the writer path ------------------------------------------------------

    def _change(self, plan_id: UUID | str, act: Callable[[CarePlan], Any]) -> CommandResult:
        """Judge ``act`` on the plan as it stands and record its events: with the
        commands arriving at the same moment when group commit is on. A command
        already stored (``REPLAYED``) is answered with its stored result, not run."""
        if (stored := REPLAYED.get()) is not None:
            return stored
        if self.group_commit is None:
            return self.change_alone(plan_id, act)
        return self.group_commit.run(care_plan_id(plan_id), act, EXPECTED_VERSION.get())

    def change_alone(self, plan_id: UUID | str, act: Callable[[CarePlan], Any]) -> CommandResult:
        """Load, act, save. A writer that lost a race runs again on the plan as it now
        stands, so every rule judges the winner's change too; with an If-Match
        (``EXPECTED_VERSION``) the caller asked for that version only, and gets 412.
        """
        if (stored := REPLAYED.get()) is not None:
            return stored
        return off_the_loop(self._change_alone, plan_id, act)

    def _change_alone(self, plan_id: UUID | str, act: Callable[[CarePlan], Any]) -> CommandResult:
        expected = EXPECTED_VERSION.get()
        for attempt in range(1, RETRIES_ON_CONFLICT + 1):
            plan = self.care_plan(plan_id)
            if expected is not None and plan.version != expected:
                raise StaleVersion(plan.id, expected, plan.version)
            plan.require_open()  # before any rule: "closed" is the answer, not a rule's detail
            result = self.result_from(plan, act(plan))
            try:
                return self._commit(plan, result)
            except ConcurrentUpdate:
                if expected is not None or attempt == RETRIES_ON_CONFLICT:
                    raise
                log.info("care_plan.retry_after_conflict", care_plan_id=str(plan.id))
                wait = min(RETRY_WAIT_MAX, 0.001 * 2**attempt)
                time.sleep(random.uniform(0, wait))  # noqa: S311 (jitter, not secrets)
        raise AssertionError("unreachable")  # the loop returns or raises

    def _commit(self, plan: CarePlan, result: CommandResult | None = None) -> CommandResult:
        result = result or self.result_of(plan, [], None)
        events = plan.collect_events()
        outcome = outcome_of(result)
        recorded = self.record(
            events, [TRACEPARENT.get()] * len(events), [outcome] if outcome else []
        )
        result = replace(result, position=max(recorded.positions.values(), default=None))
        if self.after_commit is not None and not recorded.views_current:
            self.after_commit(result)
        return result

    def record(
        self,
        events: Sequence[CarePlan.Event],
        traceparents: Sequence[str | None] = (),
        outcomes: Sequence[CommandOutcome] = (),
    ) -> Recorded:
        """Store events (of one plan or many) in one transaction, with the views when
        they are up to date; ``traceparents`` (one per event, of the request that
        wrote it) are stored beside them (services.tracing), and so are the results
        of commands sent with an Idempotency-Key (services.exactly_once)."""
        if not events:
            return Recorded({}, views_current=True)
        views = self.views_with_the_events(events) if self.views_with_the_events else None
        try:
            with with_the_events(views) if views is not None else nullcontext():
                extra: dict[str, Any] = {}
                if any(traceparents):
                    extra["traceparents"] = list(traceparents)
                if outcomes:
                    extra["outcomes"] = list(outcomes)
                recordings = self.events.put(events, **extra)
        except IntegrityError:
            plans = sorted({str(e.originator_id) for e in events})
            log.info("care_plan.concurrent_update", care_plan_ids=plans)
            raise ConcurrentUpdate(", ".join(plans)) from None
        positions: dict[tuple[UUID, int], int] = {}
        for recording in recordings:
            event = recording.domain_event
            EVENTS.labels(type(event).__name__).inc()
            log.info(
                "care_plan.event_recorded",
                care_plan_id=str(event.originator_id),
                version=event.originator_version,
                type=type(event).__name__,
            )
            if recording.notification.id is not None:
                positions[(event.originator_id, event.originator_version)] = (
                    recording.notification.id
                )
        if self.group_commit is not None:
            self.group_commit.remember_stored(events)
        self._snapshots_due(events)
        return Recorded(positions, views_current=views is not None and views.complete)

    def _snapshots_due(self, events: Sequence[CarePlan.Event]) -> None:
        """Hand the snapshot thread every plan whose new events crossed an interval."""
        spans: dict[UUID, tuple[int, int]] = {}
        for event in events:
            before, last = spans.get(event.originator_id, (event.originator_version - 1, 0))
            spans[event.originator_id] = (before, max(last, event.originator_version))
        for plan_id, (before, last) in spans.items():
            if self.plan_snapshots.due(before, last):
                self._snapshot_taker.submit(plan_id, last)

    @staticmethod
    def result_of(plan: CarePlan, warnings: list[Finding], created_id: str | None) -> CommandResult:
        """The answer to a command that left ``plan`` as it is now (position once stored)."""
        return CommandResult(
            care_plan_id=plan.id,
            version=plan.version,
            position=None,
            warnings=warnings,
            created_id=created_id,
        )

    @classmethod
    def result_from(cls, plan: CarePlan, outcome: Any) -> CommandResult:
        """The answer to a command whose act returned ``outcome`` on ``plan``."""
        if isinstance(outcome, Judged):
            return replace(
                cls.result_of(plan, list(outcome.warnings), outcome.created_id),
                flagged=outcome.flagged,
            )
        created_id, warnings = cls.split_outcome(outcome)
        return cls.result_of(plan, warnings, created_id)

    def command_outcome(self, actor_id: str, key: str) -> CommandResult | None:
        """The stored result of the caller's command sent with ``key``, if it was stored
        (waiting for a write in flight, so the answer is final)."""
        stored = self.recorder.command_outcome(actor_id, key)  # type: ignore[attr-defined]
        return None if stored is None else decode(stored)

    @staticmethod
    def split_outcome(outcome: Any) -> tuple[str | None, list[Finding]]:
        """Domain commands return None, an id, warnings, or (id, warnings)."""
        if outcome is None:
            return None, []
        if isinstance(outcome, str):
            return outcome, []
        if isinstance(outcome, tuple):
            return outcome[0], list(outcome[1])
        return None, list(outcome)

    def settle_snapshots(self) -> None:
        """Wait until the snapshots due so far are taken (they are taken in the background)."""
        self._snapshot_taker.wait()

    def close(self) -> None:
        self._snapshot_taker.close()
        super().close()

    def _take_snapshot(self, plan_id: UUID, version: int) -> None:
        """The state at ``version`` as folded from the store (from the previous snapshot
        on): not the command's plan, whose events were never decoded. Two writers may
        both take it; the store keeps one, and either way the command has succeeded.
        Runs on the snapshot thread (``SnapshotTaker``)."""
        try:
            plan, _ = self.state_at(plan_id, version)
        except Exception:
            log.warning("snapshot.not_taken", care_plan_id=str(plan_id), exc_info=True)
            return
        if plan.version == version:
            self.plan_snapshots.save(plan)


def fold(plan: Any, events: Iterable[Any]) -> Any:
    """Apply stored events in order. The library's own projector asserts a runtime
    Protocol on every event, which on Python 3.11 costs as much as decoding the event:
    our events are all ``CarePlan.Event``, whose ``mutate`` checks the version."""
    for event in events:
        plan = event.mutate(plan)
    return plan
