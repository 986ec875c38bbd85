"""The CarePlan aggregate: one patient's medication management, as events.

Public methods are the clinical commands: they check the rules of
``domain.safety`` and then trigger an event. Each event's ``apply`` only assigns
state, because it re-runs on every replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain import interactions, safety
from domain.errors import (
    CarePlanNotFound,
    FollowUpNotFound,
    InvalidValue,
    PrescriptionNotFound,
    RuleViolation,
)
from domain.formulary import Drug, Formulary, OtherDrug
from domain.safety import Finding
from domain.values import (
    FREQUENCIES,
    MODALITIES,
    ROUTES,
    Actor,
    CommandContext,
    Diagnosis,
    Dose,
    Evaluation,
    FollowUpPlan,
    Measurement,
    require_choice,
    require_text,
)

# Reassessment is regular care: nothing is planned further ahead than this.
MAX_FOLLOW_UP_HORIZON = timedelta(days=2 * 366)


@dataclass
class Prescription:
    """A prescription as it stands now (state, rebuilt from events)."""

    prescription_id: str
    drug: str
    dose: Dose
    frequency: str
    route: str
    indication: str
    started_at: datetime
    prescriber: Actor
    status: str = "active"
    last_changed_at: datetime | None = None
    last_changed_by: Actor | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass
class FollowUp:
    """A planned contact with the patient (state, rebuilt from events)."""

    follow_up_id: str
    due_on: date
    modality: str
    purpose: str
    prescription_id: str | None = None
    status: str = "scheduled"
    completed_at: datetime | None = None
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def is_pending(self) -> bool:
        return self.status == "scheduled"


class CarePlan(Aggregate):
    """One patient's psychiatric medication care plan."""

    class Event(Aggregate.Event):
        """Every event says who acted, when it happened clinically, and for which request."""

        #: Bumped with an ``upcast_vN_vN+1`` static method whenever a payload changes:
        #: stored events are kept forever and must always load.
        class_version = 1

        actor: Actor
        occurred_at: datetime
        correlation_id: str | None

    class CarePlanOpened(Event, Aggregate.Created):
        class_version = 2
        patient_id: str
        birth_date: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 records the birth date, needed for age-specific maxima and follow-up."""
            state["birth_date"] = None

    class EvaluationRecorded(Event):
        class_version = 2
        kind: str
        modality: str
        diagnoses: list[Diagnosis]
        symptoms: list[str]
        current_medications: list[str]
        supplements: list[str]
        allergies: list[str]
        duration: str | None
        functional_impact: str | None
        history: str | None
        sleep: str | None
        stress: str | None
        substance_use: str | None
        conditions: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 records conditions that change dosing (hepatic impairment, …)."""
            state["conditions"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.evaluations.append((self.kind, self.occurred_at))
            aggregate.diagnoses = list(self.diagnoses)
            aggregate.current_medications = list(self.current_medications)
            aggregate.conditions |= set(self.conditions)

    class MedicationPrescribed(Event):
        class_version = 2
        prescription_id: str
        drug: str
        dose: Dose
        frequency: str
        route: str
        indication: str
        warnings: list[Finding]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the safety warnings the prescriber was shown."""
            state["warnings"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_for_acknowledgement(self.prescription_id, self.warnings)
            aggregate.prescriptions[self.prescription_id] = Prescription(
                prescription_id=self.prescription_id,
                drug=self.drug,
                dose=self.dose,
                frequency=self.frequency,
                route=self.route,
                indication=self.indication,
                started_at=self.occurred_at,
                prescriber=self.actor,
                last_changed_at=self.occurred_at,
                last_changed_by=self.actor,
            )

    class DoseChanged(Event):
        class_version = 2
        prescription_id: str
        drug: str
        dose: Dose
        previous_dose: Dose
        reason: str
        warnings: list[Finding]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the safety warnings the prescriber was shown."""
            state["warnings"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_for_acknowledgement(self.prescription_id, self.warnings)
            rx = aggregate.prescriptions[self.prescription_id]
            rx.dose = self.dose
            rx.last_changed_at = self.occurred_at
            rx.last_changed_by = self.actor

    class MedicationDiscontinued(Event):
        prescription_id: str
        drug: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            rx = aggregate.prescriptions[self.prescription_id]
            rx.status = "discontinued"
            rx.ended_at = self.occurred_at
            rx.end_reason = self.reason
            rx.last_changed_at = self.occurred_at
            rx.last_changed_by = self.actor

    class SafetyWarningAcknowledged(Event):
        subject_id: str
        code: str
        justification: str

        def apply(self, aggregate: Any) -> None:
            aggregate.pending_acknowledgements.pop((self.subject_id, self.code), None)

    class FollowUpScheduled(Event):
        follow_up_id: str
        due_on: date
        modality: str
        purpose: str
        prescription_id: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.follow_ups[self.follow_up_id] = FollowUp(
                follow_up_id=self.follow_up_id,
                due_on=self.due_on,
                modality=self.modality,
                purpose=self.purpose,
                prescription_id=self.prescription_id,
            )

    class FollowUpCompleted(Event):
        follow_up_id: str
        modality: str
        measurements: list[Measurement]
        side_effects: list[str]
        adherence: str | None

        def apply(self, aggregate: Any) -> None:
            follow_up = aggregate.follow_ups[self.follow_up_id]
            follow_up.status = "completed"
            follow_up.completed_at = self.occurred_at
            follow_up.measurements = list(self.measurements)

    def __init__(
        self,
        patient_id: str,
        birth_date: date | None,
        actor: Actor,
        occurred_at: datetime,
        correlation_id: str | None,
    ) -> None:
        self.patient_id = patient_id
        self.birth_date = birth_date
        self.conditions: set[str] = set()
        self.current_medications: list[str] = []
        self.pending_acknowledgements: dict[tuple[str, str], Finding] = {}
        self.opened_by = actor
        self.opened_at = occurred_at
        self.status = "open"
        self.evaluations: list[tuple[str, datetime]] = []
        self.diagnoses: list[Diagnosis] = []
        self.prescriptions: dict[str, Prescription] = {}
        self.follow_ups: dict[str, FollowUp] = {}

    # -- commands -------------------------------------------------------------

    @classmethod
    def open(cls, patient_id: str, ctx: CommandContext, birth_date: date | None = None) -> CarePlan:
        """Open a plan for a patient: the container of all their medication care."""
        patient_id = require_text(patient_id, "patient.invalid", "Patient id")
        if birth_date is not None and not date(1900, 1, 1) <= birth_date <= ctx.occurred_at.date():
            raise InvalidValue("patient.birth_date_implausible", "The birth date is implausible.")
        return cls._create(
            cls.CarePlanOpened,
            id=uuid4(),
            patient_id=patient_id,
            birth_date=birth_date,
            actor=ctx.actor,
            occurred_at=ctx.occurred_at,
            correlation_id=ctx.correlation_id,
        )

    def record_evaluation(self, evaluation: Evaluation, ctx: CommandContext) -> None:
        """Record what the prescriber assessed; an initial one must precede prescribing."""
        self._record(
            self.EvaluationRecorded,
            ctx,
            kind=evaluation.kind,
            modality=evaluation.modality,
            diagnoses=list(evaluation.diagnoses),
            symptoms=list(evaluation.symptoms),
            current_medications=list(evaluation.current_medications),
            supplements=list(evaluation.supplements),
            allergies=list(evaluation.allergies),
            duration=evaluation.duration,
            functional_impact=evaluation.functional_impact,
            history=evaluation.history,
            sleep=evaluation.sleep,
            stress=evaluation.stress,
            substance_use=evaluation.substance_use,
            conditions=sorted(evaluation.conditions),
        )

    def prescribe(
        self,
        drug: str,
        dose: Dose,
        frequency: str,
        route: str,
        indication: str,
        follow_up: FollowUpPlan | None,
        ctx: CommandContext,
        *,
        formulary: Formulary,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> tuple[str, list[Finding]]:
        """Start a medication low, checked against the formulary and the plan, with its
        follow-up planned from the start. Warnings are returned; acknowledged ones are
        recorded with their justification, the others stay pending.
        """
        known = formulary.drug(drug)
        require_choice(frequency, FREQUENCIES, "prescription.unknown_frequency", "frequency")
        require_choice(route, ROUTES, "prescription.unknown_route", "route")
        indication = require_text(indication, "prescription.invalid", "Indication")
        self._require_unit(known, dose)
        daily = safety.daily_amount(dose.amount, frequency)
        context = self._clinical_context(formulary, ctx.occurred_at)
        warnings = safety.refuse_blocking(
            safety.requires_initial_evaluation(self.evaluated_by(ctx.occurred_at))
            + safety.one_active_prescription_per_drug(known.name, self.prescriptions.values())
            + safety.follow_up_must_be_planned(follow_up is not None, self.follow_ups)
            + safety.dose_within_maximum(known, daily, context.populations)
            + interactions.maoi_contraindications(known, context.active, context.others)
            + interactions.maoi_washout(known, context.stopped, ctx.occurred_at)
            + safety.start_low(known, daily)
            + interactions.major_interactions(known, context.active, context.others)
            + interactions.duplicate_therapy(known, context.active)
        )
        acknowledged = _acknowledged(warnings, acknowledgements)
        self._check_follow_up_date(follow_up, ctx)
        prescription_id = str(uuid4())
        self._record(
            self.MedicationPrescribed,
            ctx,
            prescription_id=prescription_id,
            drug=known.name,
            dose=dose,
            frequency=frequency,
            route=route,
            indication=indication,
            warnings=warnings,
        )
        self._acknowledge(prescription_id, acknowledged, ctx)
        self._schedule(follow_up, ctx, prescription_id)
        return prescription_id, warnings

    def change_dose(
        self,
        prescription_id: str,
        dose: Dose,
        reason: str,
        follow_up: FollowUpPlan | None,
        ctx: CommandContext,
        *,
        formulary: Formulary,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> list[Finding]:
        """Increase or decrease a dose, with a reason and a follow-up to judge it."""
        rx = self.prescription(prescription_id)
        reason = require_text(reason, "dose_change.reason_required", "Reason for the change")
        safety.refuse_blocking(
            safety.prescription_must_be_active(rx)
            + safety.follow_up_must_be_planned(follow_up is not None, self.follow_ups)
        )
        if dose.unit != rx.dose.unit:
            raise InvalidValue(
                "dose.unit_mismatch",
                f"Prescription {prescription_id} is dosed in {rx.dose.unit}, not {dose.unit}.",
            )
        if dose.amount == rx.dose.amount:
            raise InvalidValue("dose.unchanged", f"The dose is already {rx.dose}.")
        warnings = safety.refuse_blocking(self._dose_rules(rx, dose, formulary, ctx))
        acknowledged = _acknowledged(warnings, acknowledgements)
        self._check_follow_up_date(follow_up, ctx)
        self._record(
            self.DoseChanged,
            ctx,
            prescription_id=prescription_id,
            drug=rx.drug,
            dose=dose,
            previous_dose=rx.dose,
            reason=reason,
            warnings=warnings,
        )
        self._acknowledge(prescription_id, acknowledged, ctx)
        self._schedule(follow_up, ctx, prescription_id)
        return warnings

    def acknowledge_warning(
        self, subject_id: str, code: str, justification: str, ctx: CommandContext
    ) -> None:
        """Acknowledge a pending warning after the fact, with the clinical justification."""
        if (subject_id, code) not in self.pending_acknowledgements:
            raise RuleViolation(
                "acknowledgement.not_pending",
                f"No warning {code} is waiting for acknowledgement on {subject_id}.",
            )
        justification = require_text(
            justification, "acknowledgement.justification_required", "Justification"
        )
        self._acknowledge(subject_id, {code: justification}, ctx)

    def discontinue(self, prescription_id: str, reason: str, ctx: CommandContext) -> None:
        """Stop a medication; the reason is kept for the record and for FHIR export."""
        rx = self.prescription(prescription_id)
        reason = require_text(reason, "discontinuation.reason_required", "Reason for stopping")
        safety.refuse_blocking(safety.prescription_must_be_active(rx))
        self._record(
            self.MedicationDiscontinued,
            ctx,
            prescription_id=prescription_id,
            drug=rx.drug,
            reason=reason,
        )

    def schedule_follow_up(self, plan: FollowUpPlan, ctx: CommandContext) -> str:
        """Plan a contact to monitor symptoms, side effects and adherence."""
        self._check_follow_up_date(plan, ctx)
        follow_up_id = self._schedule(plan, ctx, None)
        assert follow_up_id is not None  # a plan was given, so one was scheduled
        return follow_up_id

    def complete_follow_up(
        self,
        follow_up_id: str,
        modality: str,
        measurements: list[Measurement],
        side_effects: list[str],
        adherence: str | None,
        ctx: CommandContext,
    ) -> None:
        """Record the visit: scale totals, side effects the patient reports, adherence."""
        follow_up = self.follow_up(follow_up_id)
        require_choice(modality, MODALITIES, "follow_up.unknown_modality", "modality")
        if not follow_up.is_pending:
            raise RuleViolation(
                "follow_up.not_pending",
                f"Follow-up {follow_up_id} is already {follow_up.status}.",
            )
        self._record(
            self.FollowUpCompleted,
            ctx,
            follow_up_id=follow_up_id,
            modality=modality,
            measurements=list(measurements),
            side_effects=[s.strip() for s in side_effects if s.strip()],
            adherence=adherence.strip() if adherence and adherence.strip() else None,
        )

    # -- queries --------------------------------------------------------------

    @property
    def has_initial_evaluation(self) -> bool:
        return any(kind == "initial" for kind, _ in self.evaluations)

    def evaluated_by(self, moment: datetime) -> bool:
        """Was an initial evaluation done (in clinical time) by this moment?"""
        return any(kind == "initial" and at <= moment for kind, at in self.evaluations)

    @property
    def active_prescriptions(self) -> list[Prescription]:
        return [rx for rx in self.prescriptions.values() if rx.is_active]

    def prescription(self, prescription_id: str) -> Prescription:
        try:
            return self.prescriptions[prescription_id]
        except KeyError:
            raise PrescriptionNotFound(prescription_id) from None

    def follow_up(self, follow_up_id: str) -> FollowUp:
        try:
            return self.follow_ups[follow_up_id]
        except KeyError:
            raise FollowUpNotFound(follow_up_id) from None

    # -- helpers --------------------------------------------------------------

    def hold_for_acknowledgement(self, subject_id: str, warnings: list[Finding]) -> None:
        """Called by events: warnings wait until someone acknowledges them."""
        for finding in warnings:
            self.pending_acknowledgements[(subject_id, finding.code)] = finding

    def _acknowledge(
        self, subject_id: str, justified: Mapping[str, str], ctx: CommandContext
    ) -> None:
        for code, justification in justified.items():
            self._record(
                self.SafetyWarningAcknowledged,
                ctx,
                subject_id=subject_id,
                code=code,
                justification=justification,
            )

    @staticmethod
    def _require_unit(drug: Drug, dose: Dose) -> None:
        if dose.unit != drug.unit:
            raise InvalidValue(
                "dose.unit_mismatch", f"{drug.name} is dosed in {drug.unit}, not {dose.unit}."
            )

    def _dose_rules(
        self, rx: Prescription, dose: Dose, formulary: Formulary, ctx: CommandContext
    ) -> list[Finding]:
        drug = formulary.drugs.get(rx.drug)
        if drug is None:  # prescribed under an older formulary: nothing to judge by
            return []
        context = self._clinical_context(formulary, ctx.occurred_at, excluding=rx)
        before = safety.daily_amount(rx.dose.amount, rx.frequency)
        after = safety.daily_amount(dose.amount, rx.frequency)
        changed = rx.last_changed_at or rx.started_at
        days = (ctx.occurred_at - changed).days
        return safety.dose_within_maximum(drug, after, context.populations) + (
            safety.titration_step(drug, before, after, days)
        )

    def _clinical_context(
        self, formulary: Formulary, at: datetime, excluding: Prescription | None = None
    ) -> ClinicalContext:
        """What the rules need: active and stopped drugs, other drugs, populations."""
        active = [
            formulary.drugs[rx.drug]
            for rx in self.active_prescriptions
            if rx.drug in formulary.drugs and rx is not excluding
        ]
        stopped = [
            (formulary.drugs[rx.drug], rx.ended_at)
            for rx in self.prescriptions.values()
            if rx.ended_at is not None and rx.drug in formulary.drugs
        ]
        others = [
            found
            for text in self.current_medications
            if isinstance(found := formulary.recognise(text), OtherDrug)
        ]
        age = _age(self.birth_date, at)
        populations = safety.patient_populations(age, self.conditions, active, others)
        return ClinicalContext(active, stopped, others, populations)

    def _record(self, event_class: type[Event], ctx: CommandContext, **data: Any) -> None:
        if ctx.occurred_at < self.opened_at:
            raise InvalidValue(
                "time.before_plan_opened",
                f"Care plan {self.id} was opened at {self.opened_at.isoformat()}; "
                "backdate its opening to record earlier care.",
            )
        self.trigger_event(
            event_class,
            actor=ctx.actor,
            occurred_at=ctx.occurred_at,
            correlation_id=ctx.correlation_id,
            **data,
        )

    def _schedule(
        self, plan: FollowUpPlan | None, ctx: CommandContext, prescription_id: str | None
    ) -> str | None:
        if plan is None:
            return None
        follow_up_id = str(uuid4())
        self._record(
            self.FollowUpScheduled,
            ctx,
            follow_up_id=follow_up_id,
            due_on=plan.due_on,
            modality=plan.modality,
            purpose=plan.purpose,
            prescription_id=prescription_id,
        )
        return follow_up_id

    @staticmethod
    def _check_follow_up_date(plan: FollowUpPlan | None, ctx: CommandContext) -> None:
        if plan is None:
            return
        planned_on = ctx.occurred_at.date()
        if plan.due_on < planned_on:
            raise InvalidValue(
                "follow_up.due_in_past",
                f"A follow-up planned on {planned_on} cannot be due on {plan.due_on}.",
            )
        if plan.due_on > planned_on + MAX_FOLLOW_UP_HORIZON:
            raise InvalidValue(
                "follow_up.too_far",
                f"A follow-up due on {plan.due_on} is more than two years away; "
                "plan a nearer review.",
            )


@dataclass(frozen=True)
class ClinicalContext:
    active: list[Drug]
    stopped: list[tuple[Drug, datetime]]
    others: list[OtherDrug]
    populations: frozenset[str]


def _age(birth_date: date | None, at: datetime) -> int | None:
    if birth_date is None:
        return None
    day = at.date()
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def _acknowledged(warnings: list[Finding], given: Mapping[str, str] | None) -> dict[str, str]:
    """The acknowledgements that answer a warning of this command; others are refused."""
    given = dict(given or {})
    raised = {finding.code for finding in warnings}
    stray = sorted(set(given) - raised)
    if stray:
        raise InvalidValue(
            "acknowledgement.unexpected",
            f"Acknowledged {', '.join(stray)}, but this command raised no such warning.",
        )
    return {
        code: require_text(text, "acknowledgement.justification_required", "Justification")
        for code, text in given.items()
    }


def care_plan_id(value: str | UUID) -> UUID:
    """Parse a care-plan id; a string that is no UUID names no plan that exists."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise CarePlanNotFound(value) from None
