"""Random clinical histories keep the care plan's invariants (hypothesis, no database).

A state machine drives one CarePlan through random commands (evaluations, starts,
dose changes, tapers, stops, follow-ups, acknowledgements) with clinical time
moving forward. Every command either succeeds or is refused with a DomainError
that records nothing; after every command the plan's invariants hold, and the plan
rebuilt from its events (directly, and after a round trip through the
application's mapper) is the same plan, and so is that plan after a snapshot.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from domain import interactions, safety
from domain.care_plan import CarePlan
from domain.errors import DomainError, RuleViolation
from domain.formulary import Drug, OtherDrug
from domain.record_rules import subject_of
from domain.scales import validated_measurement
from domain.values import (
    CONDITIONS,
    DISCONTINUATION_REASONS,
    FREQUENCIES,
    Actor,
    CommandContext,
    Diagnosis,
    Discussion,
    Dose,
    Evaluation,
    FollowUpPlan,
    TaperStep,
)
from services.application import CarePlans
from services.snapshots.codec import decode_plan, encode_plan
from tests.unit.clinic import FORMULARY
from tests.unit.exact import state as exact_state

START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
APP = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)

DISCUSSED = Discussion(
    options_considered=("medication", "psychotherapy"),
    expected_benefit="fewer symptoms",
    side_effects_discussed=("nausea",),
    timeline="weeks",
    decision="agrees",
    boxed_warning_discussed=True,
    monitoring_agreed=True,
    controlled_substance_agreement=True,
)
PSYCHIATRIST = Actor("dr-ada", "prescriber", name="Dr Ada", profession="psychiatrist")
ACTORS = (
    PSYCHIATRIST,
    Actor("np-lee", "prescriber", profession="psychiatric_np"),
    Actor("pa-kim", "prescriber", profession="physician_assistant", supervisor_id="dr-ada"),
    Actor("pa-solo", "prescriber", profession="physician_assistant"),  # blocked: no supervisor
    Actor("gp-ray", "prescriber", profession="primary_care"),
    Actor("rn-sam", "clinician"),
)
DRUG_NAMES = sorted(FORMULARY.drugs)
DIAGNOSES = (
    Diagnosis("F32.1", "Major depressive disorder, single episode, moderate"),
    Diagnosis("F41.1", "Generalized anxiety disorder"),
    Diagnosis("F31.81", "Bipolar II disorder"),
    Diagnosis("F20.9", "Schizophrenia, unspecified"),
)
# What a prescriber types as the patient's current medications: formulary names,
# non-psychiatric drugs (the interaction rules look for these), brands, free text.
MEDICATION_TEXTS = sorted(
    {
        *FORMULARY.drugs,
        *FORMULARY.others,
        *(other.synonyms[0] for other in FORMULARY.others.values() if other.synonyms),
        "Ibuprofen 400 mg as needed",
        "ciprofloxacin 500 mg twice daily",
        "vitamin D 1000 IU",
    }
)
REFUSED = object()

times_between = st.one_of(
    st.just(timedelta(0)),
    st.integers(1, 48).map(lambda hours: timedelta(hours=hours)),
    st.integers(1, 21).map(lambda days: timedelta(days=days)),
)
actors = st.sampled_from([PSYCHIATRIST] * 6 + list(ACTORS))
# None: no follow-up given; -1 and 800 days are refused (past, more than two years away).
follow_up_days = st.one_of(st.none(), st.integers(0, 35), st.sampled_from([-1, 800]))
acknowledgement_modes = st.sampled_from(["none", "none", "all", "all", "some", "some", "stray"])


def state_of(plan: CarePlan) -> dict[str, Any]:
    """Everything the plan knows, as a comparable copy (events waiting to be saved aside)."""
    return copy.deepcopy({k: v for k, v in vars(plan).items() if k != "_pending_events"})


def age_at(birth_date: date | None, at: datetime) -> int | None:
    if birth_date is None:
        return None
    day = at.date()
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def single_dose(daily: Decimal, frequency: str) -> Decimal:
    """The amount per administration that gives about ``daily`` mg a day (at least 0.01)."""
    doses, days = safety.DOSES_PER_DAY[frequency]
    amount = (daily * days / doses).quantize(Decimal("0.01"))
    return max(amount, Decimal("0.01"))


def amounts(drug: Drug, frequency: str, current: Decimal | None = None) -> st.SearchStrategy:
    """Doses around the ones that matter: the usual start, the maxima, a step from now."""
    dailies: list[Decimal] = []
    if drug.usual_start is not None:
        usual = safety.daily_amount(drug.usual_start, drug.usual_start_frequency)
        dailies += [usual / 2, usual, usual * 2]
    if drug.max_daily is not None:
        dailies += [drug.max_daily * Decimal(f) for f in ("0.25", "0.5", "1", "1.1")]
    dailies += [s.max_daily for s in drug.special_maxima if s.max_daily is not None]
    singles = [single_dose(daily, frequency) for daily in dailies if daily > 0]
    if current is not None:
        singles += [current / 2, current * 2]
        if drug.usual_step is not None:
            step = single_dose(drug.usual_step, frequency)
            singles += [current + step, max(current - step, Decimal("0.01"))]
    top = drug.max_daily or (drug.usual_start or Decimal(100)) * 10
    return st.one_of(
        st.sampled_from([max(s.quantize(Decimal("0.01")), Decimal("0.01")) for s in singles]),
        st.decimals(min_value=Decimal("0.01"), max_value=top * 2, places=2),
    )


def warnings_of(outcome: Any) -> list[safety.Finding]:
    """Commands return warnings, or (id, warnings)."""
    return list(outcome[1] if isinstance(outcome, tuple) else outcome)


class CarePlanMachine(RuleBasedStateMachine):
    """One care plan under random commands; the model keeps what the rules are fed."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: CarePlan
        self.now = START
        self.events: list[CarePlan.Event] = []
        self.replica: CarePlan | None = None  # rebuilt from the very events
        self.transcoded: CarePlan | None = None  # rebuilt from the events after the mapper
        # The model: what was recorded, independently of the aggregate.
        self.conditions: set[str] = set()
        self.other_drugs: list[OtherDrug] = []
        self.taken_elsewhere: list[Drug] = []  # psychiatric drugs named in the evaluation
        self.populations_when_dosed: dict[str, frozenset[str]] = {}
        self.dose_populations: dict[str, list[frozenset[str]]] = {}  # per dose set, in order

    # -- plumbing -------------------------------------------------------------

    def dosed(self, prescription_id: str, populations: frozenset[str]) -> None:
        """A dose was set: the model keeps the populations it was judged against."""
        self.populations_when_dosed[prescription_id] = populations
        self.dose_populations.setdefault(prescription_id, []).append(populations)

    def ctx(self, later: timedelta, actor: Actor = PSYCHIATRIST) -> CommandContext:
        """Clinical time only moves forward, and never past today."""
        self.now = max(self.now, min(self.now + later, datetime.now(UTC) - timedelta(hours=1)))
        return CommandContext(actor, self.now, correlation_id=f"req-{len(self.events)}")

    def run(self, command: Callable[[CarePlan], Any]) -> Any:
        """Run a command: it succeeds, or it is refused with a DomainError and changes nothing."""
        before = state_of(self.plan)
        try:
            outcome = command(self.plan)
        except DomainError:
            assert self.plan.pending_events == [], "a refused command recorded events"
            assert state_of(self.plan) == before, "a refused command changed the plan"
            return REFUSED
        self.record(self.plan.collect_events())
        return outcome

    def record(self, events: list[Any]) -> None:
        for event in events:
            stored = APP.mapper.to_stored_event(event)
            back = APP.mapper.to_domain_event(stored)
            assert type(back) is type(event)
            assert vars(back) == vars(event), f"{type(event).__name__} changed in the mapper"
            self.events.append(event)
            self.replica = event.mutate(self.replica)
            self.transcoded = back.mutate(self.transcoded)

    def acknowledgements(
        self, mode: str, data: st.DataObject, attempt: Callable[[CarePlan], Any]
    ) -> dict[str, str] | None:
        """Acknowledge none, all, some of the warnings the command will raise, or a stray one."""
        if mode == "none":
            return None
        if mode == "stray":
            return {"dose.above_usual_start": "reviewed with the patient"}
        try:
            warnings = warnings_of(attempt(copy.deepcopy(self.plan)))
        except DomainError:
            return None
        codes = sorted({w.code for w in warnings})
        if mode == "some" and codes:
            codes = data.draw(st.lists(st.sampled_from(codes), unique=True), label="acknowledged")
        return dict.fromkeys(codes, "benefit outweighs the risk; discussed with the patient")

    def follow_up(self, days: int | None, ctx: CommandContext) -> FollowUpPlan | None:
        if days is None:
            return None
        return FollowUpPlan(ctx.occurred_at.date() + timedelta(days=days), "telehealth")

    def populations(self, at: datetime, excluding: str | None = None) -> frozenset[str]:
        """The rules' populations, computed from the model (CarePlan._clinical_context)."""
        active = [
            FORMULARY.drugs[rx.drug]
            for rx in self.plan.prescriptions.values()
            if rx.is_active and rx.prescription_id != excluding
        ]
        excluded = FORMULARY.drugs[self.plan.prescriptions[excluding].drug] if excluding else None
        active += [d for d in self.taken_elsewhere if d not in active and d is not excluded]
        age = age_at(self.plan.birth_date, at)
        return safety.patient_populations(age, self.conditions, active, self.other_drugs)

    def check_warnings_returned(self, outcome: Any, acknowledged: dict[str, str] | None) -> None:
        """The warnings returned are the ones stored; acknowledged ones are not pending."""
        warnings = warnings_of(outcome)
        event = next(
            e
            for e in reversed(self.events)
            if hasattr(e, "warnings") and not isinstance(e, CarePlan.FollowUpScheduled)
        )
        assert event.warnings == warnings
        assert all(w.severity == "warn" for w in warnings)
        for finding in warnings:
            pending = (event.prescription_id, finding.code) in self.plan.pending_acknowledgements
            assert pending == (finding.code not in (acknowledged or {}))

    # -- commands -------------------------------------------------------------

    @initialize(
        birth_date=st.one_of(st.none(), st.dates(date(1940, 1, 1), date(2008, 12, 31))),
        evaluated=st.sampled_from([True, True, True, False]),
        conditions=st.frozensets(st.sampled_from(sorted(CONDITIONS)), max_size=2),
        medications=st.lists(st.sampled_from(MEDICATION_TEXTS), max_size=3),
        starts=st.lists(st.sampled_from(DRUG_NAMES), max_size=2, unique=True),
    )
    def open_plan(
        self,
        birth_date: date | None,
        evaluated: bool,
        conditions: frozenset[str],
        medications: list[str],
        starts: list[str],
    ) -> None:
        """Most histories start as the clinic does: the plan opened, the patient evaluated,
        a drug or two started low with a follow-up in two weeks.
        """
        self.plan = CarePlan.open("pt-prop", CommandContext(PSYCHIATRIST, START), birth_date)
        self.record(self.plan.collect_events())
        if evaluated:
            self.record_evaluation(
                timedelta(0), "initial", "in_person", [DIAGNOSES[0]], conditions, medications
            )
        for drug_name in starts:
            drug = FORMULARY.drugs[drug_name]
            amount = drug.usual_start or Decimal(1)
            self.start(drug_name, Dose(amount, drug.unit), drug.usual_start_frequency, 14)

    @rule(
        later=times_between,
        kind=st.sampled_from(["initial", "reassessment"]),
        modality=st.sampled_from(["in_person", "telehealth"]),
        diagnoses=st.lists(st.sampled_from(DIAGNOSES), max_size=2, unique=True),
        conditions=st.frozensets(st.sampled_from(sorted(CONDITIONS)), max_size=2),
        medications=st.lists(st.sampled_from(MEDICATION_TEXTS), max_size=3),
    )
    def record_evaluation(
        self,
        later: timedelta,
        kind: str,
        modality: str,
        diagnoses: list[Diagnosis],
        conditions: frozenset[str],
        medications: list[str],
    ) -> None:
        ctx = self.ctx(later)

        def command(plan: CarePlan) -> None:
            evaluation = Evaluation(
                kind,
                modality,
                tuple(diagnoses),
                symptoms=("low mood", "poor sleep"),
                current_medications=tuple(medications),
                conditions=conditions,
            )
            plan.record_evaluation(evaluation, ctx, FORMULARY)

        if self.run(command) is not REFUSED:
            self.conditions |= conditions
            found = [FORMULARY.recognise(text) for text in medications]
            self.other_drugs = [f for f in found if isinstance(f, OtherDrug)]
            self.taken_elsewhere = [f for f in found if isinstance(f, Drug)]
            self.doses_above_the_new_maximum_are_flagged(ctx)

    def doses_above_the_new_maximum_are_flagged(self, ctx: CommandContext) -> None:
        """After an evaluation, a dose above the patient's maximum as it now stands was
        put to the prescriber: when it was set, or by the evaluation's review."""
        for rx in self.plan.active_prescriptions:
            context = self.plan._clinical_context(FORMULARY, ctx.occurred_at, excluding=rx)
            limit, _ = safety.effective_maximum(FORMULARY.drugs[rx.drug], context.populations)
            if limit is None or safety.daily_amount(rx.dose.amount, rx.frequency) <= limit:
                continue
            dosed = max(
                i
                for i, e in enumerate(self.events)
                if isinstance(e, CarePlan.MedicationPrescribed | CarePlan.DoseChanged)
                and e.prescription_id == rx.prescription_id
            )
            raised_since = [
                finding.code
                for event in self.events[dosed:]
                if getattr(event, "prescription_id", None) == rx.prescription_id
                for finding in getattr(event, "warnings", [])
            ]
            assert "dose.above_maximum" in raised_since, (rx.drug, rx.dose, limit)

    @rule(
        data=st.data(),
        later=times_between,
        actor=actors,
        drug_name=st.sampled_from(DRUG_NAMES),
        frequency=st.sampled_from(sorted(FREQUENCIES)),
        route=st.sampled_from(["oral"] * 4 + ["sublingual", "transdermal"]),
        days=follow_up_days,
        refills=st.integers(0, 6),
        mode=acknowledgement_modes,
        discussed=st.booleans(),
    )
    def prescribe(
        self,
        data: st.DataObject,
        later: timedelta,
        actor: Actor,
        drug_name: str,
        frequency: str,
        route: str,
        days: int | None,
        refills: int,
        mode: str,
        discussed: bool,
    ) -> None:
        drug = FORMULARY.drugs[drug_name]
        spelling = data.draw(st.sampled_from([drug_name, drug_name.upper(), *drug.synonyms]))
        unit = data.draw(st.sampled_from(["mg"] * 9 + ["g"]), label="unit")
        dose = Dose(data.draw(amounts(drug, frequency), label="amount"), unit)
        self.start(
            drug_name,
            dose,
            frequency,
            days,
            data,
            later,
            actor,
            spelling,
            route,
            refills,
            mode,
            DISCUSSED if discussed else None,
        )

    def start(
        self,
        drug_name: str,
        dose: Dose,
        frequency: str,
        days: int | None,
        data: st.DataObject | None = None,
        later: timedelta = timedelta(0),
        actor: Actor = PSYCHIATRIST,
        spelling: str | None = None,
        route: str = "oral",
        refills: int = 0,
        mode: str = "none",
        discussion: Discussion | None = None,
    ) -> None:
        ctx = self.ctx(later, actor)
        follow_up = self.follow_up(days, ctx)
        populations = self.populations(ctx.occurred_at)

        def attempt(plan: CarePlan, acks: dict[str, str] | None = None) -> Any:
            return plan.prescribe(
                spelling or drug_name,
                dose,
                frequency,
                route,
                "working diagnosis",
                follow_up,
                ctx,
                formulary=FORMULARY,
                acknowledgements=acks,
                refills=refills,
                discussion=discussion,
            )

        acks = self.acknowledgements(mode, data, attempt) if data else None
        outcome = self.run(lambda plan: attempt(plan, acks))
        if outcome is REFUSED:
            return
        prescription_id, _ = outcome
        assert self.plan.prescription(prescription_id).drug == drug_name
        self.dosed(prescription_id, populations)
        self.check_warnings_returned(outcome, acks)

    @precondition(lambda self: self.plan.prescriptions)
    @rule(
        data=st.data(),
        later=times_between,
        days=follow_up_days,
        mode=acknowledgement_modes,
        reason=st.sampled_from(["partial response", "side effects", "  "]),
    )
    def change_dose(
        self, data: st.DataObject, later: timedelta, days: int | None, mode: str, reason: str
    ) -> None:
        prescription_id = data.draw(st.sampled_from(list(self.plan.prescriptions)))
        rx = self.plan.prescriptions[prescription_id]
        drug = FORMULARY.drugs[rx.drug]
        dose = Dose(data.draw(amounts(drug, rx.frequency, rx.dose.amount)), rx.dose.unit)
        ctx = self.ctx(later)
        follow_up = self.follow_up(days, ctx)
        populations = self.populations(ctx.occurred_at, excluding=prescription_id)

        def attempt(plan: CarePlan, acks: dict[str, str] | None = None) -> Any:
            return plan.change_dose(
                prescription_id,
                dose,
                reason,
                follow_up,
                ctx,
                formulary=FORMULARY,
                acknowledgements=acks,
            )

        acks = self.acknowledgements(mode, data, attempt)
        outcome = self.run(lambda plan: attempt(plan, acks))
        if outcome is REFUSED:
            return
        assert self.plan.prescription(prescription_id).dose == dose
        self.dosed(prescription_id, populations)
        self.check_warnings_returned(outcome, acks)

    @precondition(lambda self: self.plan.prescriptions)
    @rule(data=st.data(), later=times_between, mode=acknowledgement_modes)
    def take_a_taper_step(self, data: st.DataObject, later: timedelta, mode: str) -> None:
        """A tapering prescription goes to its next planned step (or, refused, stays)."""
        tapering = [
            rx.prescription_id for rx in self.plan.prescriptions.values() if rx.next_taper_step
        ]
        if not tapering:
            return
        prescription_id = data.draw(st.sampled_from(tapering))
        rx = self.plan.prescriptions[prescription_id]
        step = rx.next_taper_step
        assert step is not None
        ctx = self.ctx(later)
        populations = self.populations(ctx.occurred_at, excluding=prescription_id)
        taken = rx.taper_steps_taken

        def attempt(plan: CarePlan, acks: dict[str, str] | None = None) -> Any:
            return plan.change_dose(
                prescription_id,
                step.dose,
                "taper step",
                None,
                ctx,
                formulary=FORMULARY,
                acknowledgements=acks,
            )

        acks = self.acknowledgements(mode, data, attempt)
        outcome = self.run(lambda plan: attempt(plan, acks))
        if outcome is REFUSED:
            return
        assert self.plan.prescription(prescription_id).taper_steps_taken == taken + 1
        self.dosed(prescription_id, populations)
        self.check_warnings_returned(outcome, acks)

    @precondition(lambda self: self.plan.prescriptions)
    @rule(
        data=st.data(),
        later=times_between,
        fractions=st.lists(st.sampled_from(["0.75", "0.5", "0.25"]), min_size=1, max_size=3),
        gap_days=st.integers(0, 21),
        mode=acknowledgement_modes,
    )
    def start_taper(
        self,
        data: st.DataObject,
        later: timedelta,
        fractions: list[str],
        gap_days: int,
        mode: str,
    ) -> None:
        prescription_id = data.draw(st.sampled_from(list(self.plan.prescriptions)))
        rx = self.plan.prescriptions[prescription_id]
        ctx = self.ctx(later)
        today = ctx.occurred_at.date()
        steps = [
            TaperStep(
                today + timedelta(days=number * gap_days),
                Dose(max(rx.dose.amount * Decimal(f), Decimal("0.01")), rx.dose.unit),
            )
            for number, f in enumerate(fractions)
        ]

        def attempt(plan: CarePlan, acks: dict[str, str] | None = None) -> Any:
            return plan.start_taper(
                prescription_id,
                steps,
                "remission",
                ctx,
                formulary=FORMULARY,
                acknowledgements=acks,
            )

        acks = self.acknowledgements(mode, data, attempt)
        outcome = self.run(lambda plan: attempt(plan, acks))
        if outcome is not REFUSED:
            assert self.plan.prescription(prescription_id).status == "tapering"
            self.check_warnings_returned(outcome, acks)

    @rule(
        data=st.data(),
        later=times_between,
        reason_code=st.sampled_from(sorted(DISCONTINUATION_REASONS)),
        mode=acknowledgement_modes,
    )
    def discontinue(
        self, data: st.DataObject, later: timedelta, reason_code: str, mode: str
    ) -> None:
        prescription_id = data.draw(st.sampled_from([*self.plan.prescriptions, "rx-x"]))
        ctx = self.ctx(later)

        def attempt(plan: CarePlan, acks: dict[str, str] | None = None) -> Any:
            return plan.discontinue(
                prescription_id,
                "clinical decision",
                ctx,
                reason_code=reason_code,
                formulary=FORMULARY,
                acknowledgements=acks,
            )

        acks = self.acknowledgements(mode, data, attempt)
        outcome = self.run(lambda plan: attempt(plan, acks))
        if outcome is not REFUSED:
            assert self.plan.prescription(prescription_id).status == "discontinued"
            self.check_warnings_returned(outcome, acks)

    @precondition(lambda self: len(self.events) > 1)
    @rule(data=st.data(), later=times_between, actor=actors)
    def mark_an_entry_in_error(self, data: st.DataObject, later: timedelta, actor: Actor) -> None:
        """Any entry, by anyone: refused, only marked, or undone (domain.corrections)."""
        version = data.draw(st.integers(1, len(self.events)))
        entry = self.events[version - 1]
        assert entry.originator_version == version
        ctx = self.ctx(later, actor)
        if self.run(lambda plan: plan.mark_entry_in_error(version, entry, "in error", ctx)) is (
            REFUSED
        ):
            return
        correction = self.events[-1]
        assert isinstance(correction, CarePlan.EntryMarkedInError)
        assert self.plan.is_in_error(version)
        if "dose" in correction.restores:  # back to the dose, and populations, before
            history = self.dose_populations[entry.prescription_id]
            history.pop()
            self.populations_when_dosed[entry.prescription_id] = history[-1]
            assert self.plan.prescription(entry.prescription_id).dose == entry.previous_dose

    @rule(later=times_between, days=st.integers(-1, 60), actor=actors)
    def schedule_follow_up(self, later: timedelta, days: int, actor: Actor) -> None:
        ctx = self.ctx(later, actor)
        follow_up = self.follow_up(days, ctx)
        assert follow_up is not None
        self.run(lambda plan: plan.schedule_follow_up(follow_up, ctx))

    @rule(
        data=st.data(),
        later=times_between,
        actor=actors,
        phq9=st.one_of(st.none(), st.integers(0, 27)),
        side_effects=st.lists(st.sampled_from(["nausea", "insomnia", " "]), max_size=2),
    )
    def complete_follow_up(
        self,
        data: st.DataObject,
        later: timedelta,
        actor: Actor,
        phq9: int | None,
        side_effects: list[str],
    ) -> None:
        follow_up_id = data.draw(st.sampled_from([*self.plan.follow_ups, "fu-x"]))
        measurements = [] if phq9 is None else [validated_measurement("PHQ-9", phq9)]
        ctx = self.ctx(later, actor)
        self.run(
            lambda plan: plan.complete_follow_up(
                follow_up_id, "in_person", measurements, side_effects, "most days", ctx
            )
        )

    @rule(
        data=st.data(),
        later=times_between,
        justification=st.sampled_from(["reviewed; benefit outweighs risk"] * 3 + ["  "]),
    )
    def acknowledge_warning(
        self, data: st.DataObject, later: timedelta, justification: str
    ) -> None:
        """A pending warning, acknowledged after the fact; anything else is refused."""
        not_pending = ("rx-never-prescribed", "dose.above_usual_start")
        subject_id, code = data.draw(
            st.sampled_from([*self.plan.pending_acknowledgements, not_pending])
        )
        pending = (subject_id, code) in self.plan.pending_acknowledgements
        ctx = self.ctx(later)
        outcome = self.run(
            lambda plan: plan.acknowledge_warning(subject_id, code, justification, ctx)
        )
        assert (outcome is REFUSED) == (not pending or not justification.strip())
        if outcome is not REFUSED:
            assert (subject_id, code) not in self.plan.pending_acknowledgements

    @rule(
        data=st.data(),
        later=times_between,
        outcome=st.sampled_from(["continue", "adjust", "taper", "stop", "pause"]),
    )
    def review_a_medication(self, data: st.DataObject, later: timedelta, outcome: str) -> None:
        """A benefit-risk review of any prescription: an active one gets its next date."""
        rx_id = data.draw(st.sampled_from([*self.plan.prescriptions, "rx-x"]))
        ctx = self.ctx(later)
        before = self.plan.prescriptions.get(rx_id)
        result = self.run(
            lambda plan: plan.review_medication(
                rx_id, outcome, "benefits weighed against risks", ctx, formulary=FORMULARY
            )
        )
        active = before is not None and before.is_active
        assert (result is REFUSED) == (not active or outcome == "pause")
        if result is not REFUSED:
            assert self.plan.prescription(rx_id).review_due_on > ctx.occurred_at.date()

    @rule(
        later=times_between,
        decision=st.sampled_from(["medication_not_indicated", "medication_declined", "maybe"]),
    )
    def decide_on_medication(self, later: timedelta, decision: str) -> None:
        ctx = self.ctx(later)
        result = self.run(
            lambda plan: plan.record_treatment_decision(decision, "therapy first", ["CBT"], ctx)
        )
        evaluated = self.plan.evaluated_by(ctx.occurred_at)
        assert (result is REFUSED) == (decision == "maybe" or not evaluated or self.closed)

    @property
    def closed(self) -> bool:
        return self.plan.status == "closed"

    # -- invariants -----------------------------------------------------------

    @invariant()
    def every_active_prescription_has_a_review_due_date(self) -> None:
        for rx in self.plan.active_prescriptions:
            assert rx.review_due_on is not None, rx.prescription_id
            assert rx.review_due_on > rx.started_at.date(), rx.prescription_id

    @invariant()
    def at_most_one_active_prescription_per_drug(self) -> None:
        drugs = [rx.drug for rx in self.plan.active_prescriptions]
        assert len(drugs) == len(set(drugs)), drugs

    @invariant()
    def active_doses_were_within_the_maximum_when_set(self) -> None:
        """The dose rule blocks: each active dose was within the patient's maximum (their
        populations when the dose was set, the prescription itself aside).
        """
        for rx in self.plan.active_prescriptions:
            drug = FORMULARY.drugs[rx.drug]
            limit, why = safety.effective_maximum(
                drug, self.populations_when_dosed[rx.prescription_id]
            )
            daily = safety.daily_amount(rx.dose.amount, rx.frequency)
            assert limit is None or daily <= limit, (rx.drug, daily, limit, why)

    @invariant()
    def every_warning_is_acknowledged_or_pending(self) -> None:
        raised: set[tuple[str, str]] = set()
        for position, event in enumerate(self.events):
            if isinstance(event, CarePlan.SafetyWarningAcknowledged):
                assert (event.subject_id, event.code) in raised, "acknowledged unraised warning"
            for finding in getattr(event, "warnings", []):
                key = (subject_of(event), finding.code)
                raised.add(key)
                answered = any(
                    (
                        isinstance(later, CarePlan.SafetyWarningAcknowledged)
                        and (later.subject_id, later.code) == key
                    )
                    # A dose warning is answered by the next dose change too.
                    or (
                        isinstance(later, CarePlan.DoseChanged)
                        and later.prescription_id == key[0]
                        and key[1].startswith("dose.")
                    )
                    # And a warning is withdrawn with the entry that raised it.
                    or (
                        isinstance(later, CarePlan.EntryMarkedInError)
                        and later.subject_id == key[0]
                        and (
                            later.entry_type == "MedicationPrescribed"
                            or key[1] in later.restores.get("withdrawn_warnings", [])
                        )
                    )
                    for later in self.events[position + 1 :]
                )
                assert answered or key in self.plan.pending_acknowledgements, key
        assert set(self.plan.pending_acknowledgements) <= raised

    @invariant()
    def prescriptions_follow_an_initial_evaluation(self) -> None:
        evaluated_at = [
            e.occurred_at
            for e in self.events
            if isinstance(e, CarePlan.EvaluationRecorded) and e.kind == "initial"
        ]
        for event in self.events:
            if isinstance(event, CarePlan.MedicationPrescribed):
                assert any(at <= event.occurred_at for at in evaluated_at)
        if self.plan.prescriptions:
            assert self.plan.has_initial_evaluation

    @invariant()
    def versions_count_from_one_without_gaps(self) -> None:
        versions = [e.originator_version for e in self.events]
        assert versions == list(range(1, len(self.events) + 1))
        assert self.plan.version == len(self.events)
        assert all(e.originator_id == self.plan.id for e in self.events)
        times = [e.occurred_at for e in self.events]
        assert times == sorted(times)

    @invariant()
    def the_events_rebuild_the_same_plan(self) -> None:
        assert self.replica is not None
        assert self.transcoded is not None
        expected = state_of(self.plan)
        assert state_of(self.replica) == expected
        assert state_of(self.transcoded) == expected

    @invariant()
    def a_snapshot_gives_back_the_plan_a_replay_folds(self) -> None:
        """At every version of every history: the plan folded from the stored events,
        through a snapshot and back, is the same plan, value for value and type for type."""
        if self.transcoded is None:
            return
        plan = self.transcoded
        restored = decode_plan(encode_plan(plan), plan.id, plan.version)
        assert exact_state(restored) == exact_state(plan)

    def teardown(self) -> None:
        """Once per history: a replay from scratch, and a load through the application."""
        if not self.events:
            return
        rebuilt = None
        for event in self.events:
            rebuilt = event.mutate(rebuilt)
        assert isinstance(rebuilt, CarePlan)
        assert state_of(rebuilt) == state_of(self.plan)
        APP.recorder.insert_events([APP.mapper.to_stored_event(e) for e in self.events])
        assert state_of(APP.care_plan(self.plan.id)) == state_of(self.plan)


CarePlanMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCarePlanHistories = CarePlanMachine.TestCase


# -- what the properties found ---------------------------------------------------------
#
# Each test below states a property the plan should have, found by the machine above
# or by reading the rules; each once failed.

CLINIC_DAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
TAPER_DRUGS = sorted(name for name, drug in FORMULARY.drugs.items() if drug.needs_taper)
MAOIS = sorted(name for name, drug in FORMULARY.drugs.items() if drug.is_maoi)
# SSRIs, SNRIs, bupropion, stimulants, other serotonergic drugs: never with an MAOI.
MAOI_CLASHING = sorted(
    name
    for name, drug in FORMULARY.drugs.items()
    if interactions.conflicts_with_maoi(drug) and not drug.is_maoi
)


def evaluated(*, conditions: frozenset[str] = frozenset(), taking: tuple[str, ...] = ()) -> Any:
    plan = CarePlan.open("pt-found", CommandContext(PSYCHIATRIST, CLINIC_DAY))
    evaluation = Evaluation(
        "initial", "in_person", DIAGNOSES[:1], current_medications=taking, conditions=conditions
    )
    plan.record_evaluation(evaluation, CommandContext(PSYCHIATRIST, CLINIC_DAY))
    return plan


def started(plan: CarePlan, drug_name: str, amount: str, frequency: str = "daily") -> str:
    """Start a drug with a follow-up, every warning acknowledged at once."""
    at = CommandContext(PSYCHIATRIST, CLINIC_DAY)
    follow_up = FollowUpPlan(CLINIC_DAY.date() + timedelta(days=14))

    def attempt(target: CarePlan, acks: dict[str, str] | None = None) -> Any:
        return target.prescribe(
            drug_name,
            Dose(Decimal(amount), "mg"),
            frequency,
            "oral",
            "test",
            follow_up,
            at,
            formulary=FORMULARY,
            acknowledgements=acks,
        )

    _, warnings = attempt(copy.deepcopy(plan))
    prescription_id, _ = attempt(plan, {w.code: "discussed" for w in warnings})
    assert not plan.pending_acknowledgements
    return prescription_id


def raised(plan: CarePlan, prescription_id: str, amount: Decimal) -> None:
    """Raise a dose five weeks after the start, every warning acknowledged at once."""
    at = CommandContext(PSYCHIATRIST, CLINIC_DAY + timedelta(days=35))
    follow_up = FollowUpPlan(at.occurred_at.date() + timedelta(days=14))

    def attempt(target: CarePlan, acks: dict[str, str] | None = None) -> Any:
        return target.change_dose(
            prescription_id,
            Dose(amount, "mg"),
            "no response",
            follow_up,
            at,
            formulary=FORMULARY,
            acknowledgements=acks,
        )

    warnings = attempt(copy.deepcopy(plan))
    attempt(plan, {w.code: "discussed" for w in warnings})


@settings(max_examples=10, deadline=None)
@given(drug_name=st.sampled_from(TAPER_DRUGS))
def test_a_drug_that_needs_a_taper_is_not_stopped_abruptly_as_taper_completed(
    drug_name: str,
) -> None:
    """Above the dose the label stops from, "taper completed" with no taper is refused."""
    drug = FORMULARY.drugs[drug_name]
    assert drug.stop_from_daily is not None
    plan = evaluated()
    prescription_id = started(plan, drug_name, str(drug.stop_from_daily), "daily")
    raised(plan, prescription_id, drug.stop_from_daily * 2)  # on day 35: lamotrigine may
    later = CommandContext(PSYCHIATRIST, CLINIC_DAY + timedelta(days=40))
    with pytest.raises(RuleViolation) as refused:
        plan.discontinue(
            prescription_id, "stopped", later, reason_code="taper_completed", formulary=FORMULARY
        )
    assert refused.value.code == "discontinuation.taper_required"


@settings(max_examples=10, deadline=None)
@given(drug_name=st.sampled_from(TAPER_DRUGS))
def test_a_drug_at_the_dose_the_label_stops_from_is_stopped_without_a_finding(
    drug_name: str,
) -> None:
    drug = FORMULARY.drugs[drug_name]
    assert drug.stop_from_daily is not None
    plan = evaluated()
    prescription_id = started(plan, drug_name, str(drug.stop_from_daily), "daily")
    later = CommandContext(PSYCHIATRIST, CLINIC_DAY + timedelta(days=30))
    warnings = plan.discontinue(
        prescription_id, "remission", later, reason_code="remission", formulary=FORMULARY
    )
    assert "discontinuation.taper_required" not in [w.code for w in warnings]


@settings(max_examples=20, deadline=None)
@given(maoi=st.sampled_from(MAOIS), taking=st.sampled_from(MAOI_CLASHING))
def test_an_maoi_never_starts_while_the_patient_takes_a_drug_that_clashes_with_it(
    maoi: str, taking: str
) -> None:
    plan = evaluated(taking=(f"{taking} (from the GP)",))
    drug = FORMULARY.drugs[maoi]
    with pytest.raises(RuleViolation) as refused:
        started(plan, maoi, str(drug.usual_start), drug.usual_start_frequency)
    assert refused.value.code == "interaction.contraindicated"


@pytest.mark.parametrize(
    ("drug_name", "amount", "conditions", "taking"),
    [
        ("escitalopram", "20", {"hepatic_impairment"}, ()),
        ("aripiprazole", "30", set(), ("terbinafine 250 mg",)),
        ("clozapine", "600", set(), ("ciprofloxacin 500 mg twice daily",)),
    ],
    ids=["hepatic-impairment", "cyp2d6-inhibitor", "cyp1a2-inhibitor"],
)
def test_a_dose_above_a_maximum_lowered_by_an_evaluation_is_flagged(
    drug_name: str, amount: str, conditions: set[str], taking: tuple[str, ...]
) -> None:
    plan = evaluated()
    prescription_id = started(plan, drug_name, amount)
    reassessment = Evaluation(
        "reassessment",
        "in_person",
        (),
        current_medications=taking,
        conditions=frozenset(conditions),
    )
    plan.record_evaluation(reassessment, CommandContext(PSYCHIATRIST, CLINIC_DAY), FORMULARY)
    rx = plan.prescription(prescription_id)
    context = plan._clinical_context(FORMULARY, CLINIC_DAY, excluding=rx)
    limit, _ = safety.effective_maximum(FORMULARY.drugs[drug_name], context.populations)
    assert limit is not None
    assert limit < Decimal(amount)  # the evaluation lowered the maximum below the dose
    flagged = any(subject == prescription_id for subject, _ in plan.pending_acknowledgements)
    assert flagged, f"{drug_name} {amount} mg/day is above its new maximum {limit}; nothing says so"


@settings(max_examples=20, deadline=None)
@example(daily=Decimal("20"))
@given(daily=st.decimals(min_value=Decimal("0.5"), max_value=Decimal(1000), places=1))
def test_a_weekly_dose_counts_exactly_one_seventh_a_day(daily: Decimal) -> None:
    assert safety.daily_amount(daily * 7, "weekly") == daily
