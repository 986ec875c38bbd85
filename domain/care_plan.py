"""The CarePlan aggregate: one patient's medication management, as events.

Public methods are the clinical commands: they check the rules of
``domain.safety`` and then trigger an event. Each event's ``apply`` only assigns
state, because it re-runs on every replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain import safety
from domain.errors import (
    CarePlanNotFound,
    FollowUpNotFound,
    InvalidValue,
    PrescriptionNotFound,
    RuleViolation,
)
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
    normalise_drug_name,
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

        actor: Actor
        occurred_at: datetime
        correlation_id: str | None

    class CarePlanOpened(Event, Aggregate.Created):
        patient_id: str

    class EvaluationRecorded(Event):
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

        def apply(self, aggregate: Any) -> None:
            aggregate.evaluations.append((self.kind, self.occurred_at))
            aggregate.diagnoses = list(self.diagnoses)

    class MedicationPrescribed(Event):
        prescription_id: str
        drug: str
        dose: Dose
        frequency: str
        route: str
        indication: str

        def apply(self, aggregate: Any) -> None:
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
        prescription_id: str
        drug: str
        dose: Dose
        previous_dose: Dose
        reason: str

        def apply(self, aggregate: Any) -> None:
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
        self, patient_id: str, actor: Actor, occurred_at: datetime, correlation_id: str | None
    ) -> None:
        self.patient_id = patient_id
        self.opened_by = actor
        self.opened_at = occurred_at
        self.status = "open"
        self.evaluations: list[tuple[str, datetime]] = []
        self.diagnoses: list[Diagnosis] = []
        self.prescriptions: dict[str, Prescription] = {}
        self.follow_ups: dict[str, FollowUp] = {}

    # -- commands -------------------------------------------------------------

    @classmethod
    def open(cls, patient_id: str, ctx: CommandContext) -> CarePlan:
        """Open a plan for a patient: the container of all their medication care."""
        patient_id = require_text(patient_id, "patient.invalid", "Patient id")
        return cls._create(
            cls.CarePlanOpened,
            id=uuid4(),
            patient_id=patient_id,
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
    ) -> tuple[str, list[Finding]]:
        """Start a medication, with its follow-up planned from the start."""
        drug = normalise_drug_name(drug)
        require_choice(frequency, FREQUENCIES, "prescription.unknown_frequency", "frequency")
        require_choice(route, ROUTES, "prescription.unknown_route", "route")
        indication = require_text(indication, "prescription.invalid", "Indication")
        warnings = safety.refuse_blocking(
            safety.requires_initial_evaluation(self.evaluated_by(ctx.occurred_at))
            + safety.one_active_prescription_per_drug(drug, self.prescriptions.values())
            + safety.follow_up_must_be_planned(follow_up is not None, self.follow_ups)
        )
        self._check_follow_up_date(follow_up, ctx)
        prescription_id = str(uuid4())
        self._record(
            self.MedicationPrescribed,
            ctx,
            prescription_id=prescription_id,
            drug=drug,
            dose=dose,
            frequency=frequency,
            route=route,
            indication=indication,
        )
        self._schedule(follow_up, ctx, prescription_id)
        return prescription_id, warnings

    def change_dose(
        self,
        prescription_id: str,
        dose: Dose,
        reason: str,
        follow_up: FollowUpPlan | None,
        ctx: CommandContext,
    ) -> list[Finding]:
        """Increase or decrease a dose, with a reason and a follow-up to judge it."""
        rx = self.prescription(prescription_id)
        reason = require_text(reason, "dose_change.reason_required", "Reason for the change")
        warnings = safety.refuse_blocking(
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
        self._check_follow_up_date(follow_up, ctx)
        self._record(
            self.DoseChanged,
            ctx,
            prescription_id=prescription_id,
            drug=rx.drug,
            dose=dose,
            previous_dose=rx.dose,
            reason=reason,
        )
        self._schedule(follow_up, ctx, prescription_id)
        return warnings

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


def care_plan_id(value: str | UUID) -> UUID:
    """Parse a care-plan id; a string that is no UUID names no plan that exists."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise CarePlanNotFound(value) from None
