"""Prescribing: starting, adjusting and stopping medications, with the safety rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from domain import (
    allergies,
    consent,
    interactions,
    missing_facts,
    monitoring_plan,
    safety,
    schedules,
    scope,
)
from domain.errors import InvalidValue, PrescriptionNotFound, RuleViolation
from domain.follow_ups import FollowUp
from domain.formulary import Drug, Formulary, OtherDrug
from domain.plan_part import PlanEvent, PlanPart
from domain.regulations import Regulations, default_regulations
from domain.review_schedule import first_review_due, recorded_due_on
from domain.safety import Finding
from domain.values import (
    FREQUENCIES,
    ROUTES,
    Actor,
    CommandContext,
    Discussion,
    Dose,
    FollowUpPlan,
    TaperStep,
    UseContext,
    require_choice,
    require_text,
)


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
    end_reason_code: str | None = None
    taper: list[TaperStep] = field(default_factory=list)
    taper_steps_taken: int = 0
    use: UseContext = field(default_factory=UseContext)
    #: Findings (code, message) already put to the prescriber for the current dose.
    raised: set[tuple[str, str]] = field(default_factory=set)
    #: (version, dose) of each dose set, latest last: a correction returns to the one before.
    dose_history: list[tuple[int, Dose]] = field(default_factory=list)
    #: What was discussed with the patient before it was prescribed (None: not recorded).
    discussion: Discussion | None = None
    #: When the benefit-risk review is due, and the versions of the reviews done.
    review_due_on: date | None = None
    review_versions: list[int] = field(default_factory=list)

    @property
    def is_active(self) -> bool:
        """Taking it now: a tapering prescription is still being taken."""
        return self.status in ("active", "tapering")

    @property
    def next_taper_step(self) -> TaperStep | None:
        if self.status != "tapering" or self.taper_steps_taken >= len(self.taper):
            return None
        return self.taper[self.taper_steps_taken]


class Prescribing(PlanPart):
    """The prescribing part of the care plan."""

    prescriptions: dict[str, Prescription]
    follow_ups: dict[str, FollowUp]
    pending_acknowledgements: dict[tuple[str, str], Finding]
    birth_date: date | None
    weight_kg: Decimal | None
    conditions: set[str]
    current_medications: list[str]
    evaluations: list[tuple[str, datetime, str]]
    allergies: set[str]

    class MedicationPrescribed(PlanEvent):
        class_version = 4
        prescription_id: str
        drug: str
        dose: Dose
        frequency: str
        route: str
        indication: str
        refills: int
        warnings: list[Finding]
        form: str | None
        indication_code: str | None
        setting: str
        discussion: Discussion | None
        review_due_on: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the safety warnings the prescriber was shown, and the refills."""
            state["refills"] = 0
            state["warnings"] = []

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v3 records the use the label's maxima depend on (form, labelled indication,
            setting); before it they were unknown and the usual maximum applied."""
            state["form"] = None
            state["indication_code"] = None
            state["setting"] = "outpatient"

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """v4 keeps what was discussed with the patient and when the benefit-risk
            review is due; before it neither was recorded (the plan then reviews the
            prescription eight weeks after its start)."""
            state["discussion"] = None
            state["review_due_on"] = None

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
                raised={(f.code, f.message) for f in self.warnings},
                dose_history=[(self.originator_version, self.dose)],
                use=UseContext(self.form, self.indication_code, self.setting),
                discussion=self.discussion,
                review_due_on=recorded_due_on(self.review_due_on, self.occurred_at.date()),
            )

    class DoseChanged(PlanEvent):
        class_version = 2
        prescription_id: str
        drug: str
        dose: Dose
        previous_dose: Dose
        reason: str
        warnings: list[Finding]
        taper_step: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the warnings shown, and which taper step (1-based) a change takes."""
            state["warnings"] = []
            state["taper_step"] = None

        def apply(self, aggregate: Any) -> None:
            # The dose that earlier dose warnings judged is gone: they no longer wait.
            held = aggregate.pending_acknowledgements
            for key in [k for k in held if k[0] == self.prescription_id]:
                if key[1].startswith("dose."):
                    del held[key]
            aggregate.hold_for_acknowledgement(self.prescription_id, self.warnings)
            rx = aggregate.prescriptions[self.prescription_id]
            if self.taper_step is not None:
                rx.taper_steps_taken = self.taper_step
            rx.dose = self.dose
            rx.dose_history.append((self.originator_version, self.dose))
            rx.last_changed_at = self.occurred_at
            rx.last_changed_by = self.actor
            # A new dose is judged afresh; what concerns the drug itself (interactions)
            # stays put to the prescriber.
            rx.raised = {key for key in rx.raised if not key[0].startswith("dose.")}
            rx.raised |= {(f.code, f.message) for f in self.warnings}

    class SafetyWarningAcknowledged(PlanEvent):
        subject_id: str
        code: str
        justification: str

        def apply(self, aggregate: Any) -> None:
            key = (self.subject_id, self.code)
            finding = aggregate.pending_acknowledgements.pop(key, None)
            if finding is not None:  # kept: an acknowledgement in error makes it wait again
                aggregate.acknowledged_warnings[key] = finding
            aggregate.acknowledgement_log.append(
                (self.subject_id, self.code, self.justification, self.actor.id, self.occurred_at)
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
        refills: int = 0,
        regulations: Regulations | None = None,
        use: UseContext | None = None,
        discussion: Discussion | None = None,
    ) -> tuple[str, list[Finding]]:
        """Start a medication low, checked against the formulary and the plan, with its
        follow-up planned from the start and what was discussed with the patient.
        Warnings are returned; acknowledged ones are recorded with their justification,
        the others stay pending. Its benefit-risk review comes due at the end of the
        drug's response window.
        """
        known = formulary.drug(drug)
        require_choice(frequency, FREQUENCIES, "prescription.unknown_frequency", "frequency")
        require_choice(route, ROUTES, "prescription.unknown_route", "route")
        indication = require_text(indication, "prescription.invalid", "Indication")
        self._require_unit(known, dose)
        if refills < 0:
            raise InvalidValue("prescription.invalid_refills", "Refills cannot be negative.")
        regulations = regulations or default_regulations()
        use = use or UseContext()
        daily = safety.daily_amount(dose.amount, frequency)
        context = self._clinical_context(formulary, ctx.occurred_at)
        populations = context.populations | use.populations
        modalities = [modality for _, _, modality in self.evaluations]
        warnings = safety.refuse_blocking(
            safety.requires_initial_evaluation(self.evaluated_by(ctx.occurred_at))
            + safety.one_active_prescription_per_drug(known.name, self.prescriptions.values())
            + safety.follow_up_must_be_planned(follow_up is not None, self.follow_ups)
            + allergies.allergy_findings(known, self.allergies, formulary)
            + _dose_limits(known, dose.amount, frequency, populations, context)
            + interactions.maoi_contraindications(known, context.active, context.others)
            + interactions.label_contraindications(known, context.active, context.others)
            + interactions.maoi_washout(known, context.stopped, ctx.occurred_at)
            + scope.prescriber_scope(ctx.actor, known)
            + scope.refills_allowed(known, refills, regulations)
            + scope.telemedicine(known, modalities, ctx.occurred_at, regulations)
            + schedules.lamotrigine_titration(known, daily, 0, context.with_valproate)
            + safety.start_low(known, daily)
            + interactions.major_interactions(known, context.active, context.others)
            + interactions.duplicate_therapy(known, context.active)
            + self._follow_up_timing(known, context, ctx, follow_up, starting=True)
            + missing_facts.missing_facts(known, context.age, context.weight_kg, starting=True)
            + consent.consent_findings(known, discussion, context.age, frozenset(self.conditions))
        )
        self._check_follow_up_date(follow_up, ctx)
        prescription_id = str(uuid4())
        self._record_checked(
            self.MedicationPrescribed,
            ctx,
            warnings,
            acknowledgements,
            prescription_id=prescription_id,
            drug=known.name,
            dose=dose,
            frequency=frequency,
            route=route,
            indication=indication,
            refills=refills,
            form=use.form,
            indication_code=use.indication_code,
            setting=use.setting,
            discussion=discussion,
            review_due_on=first_review_due(known, ctx.occurred_at.date()),
        )
        self._schedule(follow_up, ctx, prescription_id)
        start = ctx.occurred_at.date()
        items = monitoring_plan.items_for_start(known, start)
        self._schedule_monitoring(prescription_id, known, items, ctx)  # type: ignore[attr-defined]
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
        taper_step, off_plan = _taper_step_taken(rx, dose)
        warnings = safety.refuse_blocking(
            self._dose_rules(rx, dose, formulary, ctx, follow_up) + off_plan
        )
        self._check_follow_up_date(follow_up, ctx)
        self._record_checked(
            self.DoseChanged,
            ctx,
            warnings,
            acknowledgements,
            prescription_id=prescription_id,
            drug=rx.drug,
            dose=dose,
            previous_dose=rx.dose,
            reason=reason,
            taper_step=taper_step,
        )
        self._schedule(follow_up, ctx, prescription_id)
        drug = formulary.drugs.get(rx.drug)
        if drug is not None:
            items = monitoring_plan.items_for_change(drug, ctx.occurred_at.date())
            self._schedule_monitoring(prescription_id, drug, items, ctx)  # type: ignore[attr-defined]
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

    @property
    def active_prescriptions(self) -> list[Prescription]:
        return [rx for rx in self.prescriptions.values() if rx.is_active]

    def prescription(self, prescription_id: str) -> Prescription:
        try:
            return self.prescriptions[prescription_id]
        except KeyError:
            raise PrescriptionNotFound(prescription_id) from None

    def _record_checked(
        self,
        event_class: type[PlanEvent],
        ctx: CommandContext,
        warnings: list[Finding],
        acknowledgements: Mapping[str, str] | None,
        *,
        prescription_id: str,
        **data: Any,
    ) -> None:
        """Record a checked command's event with the warnings it raised, then the
        acknowledgements given with it (refusing any for a warning it did not raise).
        """
        acknowledged = safety.acknowledged(warnings, acknowledgements)
        self._record(event_class, ctx, prescription_id=prescription_id, warnings=warnings, **data)
        self._acknowledge(prescription_id, acknowledged, ctx)

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
                "dose.unit_mismatch",
                f"{safety.sentence(drug.name)} is dosed in {drug.unit}, not {dose.unit}.",
            )

    def _dose_rules(
        self,
        rx: Prescription,
        dose: Dose,
        formulary: Formulary,
        ctx: CommandContext,
        follow_up: FollowUpPlan | None,
    ) -> list[Finding]:
        drug = formulary.drugs.get(rx.drug)
        if drug is None:  # prescribed under an older formulary: nothing to judge by
            return []
        context = self._clinical_context(formulary, ctx.occurred_at, excluding=rx)
        populations = context.populations | rx.use.populations
        before = safety.daily_amount(rx.dose.amount, rx.frequency)
        after = safety.daily_amount(dose.amount, rx.frequency)
        changed = rx.last_changed_at or rx.started_at
        days = (ctx.occurred_at - changed).days
        days_on = (ctx.occurred_at - rx.started_at).days
        raised = after > before
        return (
            _dose_limits(drug, dose.amount, rx.frequency, populations, context)
            + (self._risks_of_more(drug, context) if raised else [])
            + schedules.lamotrigine_titration(drug, after, days_on, context.with_valproate)
            + safety.titration_step(drug, before, after, days)
            + (
                monitoring_plan.overdue_before_increase(
                    drug,
                    self.monitoring.get(rx.prescription_id, []),  # type: ignore[attr-defined]
                    self.lab_dates,  # type: ignore[attr-defined]
                    ctx.occurred_at.date(),
                )
                if raised
                else []
            )
            + self._follow_up_timing(drug, context, ctx, follow_up, starting=False)
            + (
                missing_facts.missing_facts(drug, context.age, context.weight_kg, starting=False)
                if raised
                else []
            )
            + self.dose_decision_prompts(rx, drug, before, after)  # type: ignore[attr-defined]
        )

    @staticmethod
    def _risks_of_more(drug: Drug, context: ClinicalContext) -> list[Finding]:
        """A higher dose makes every interaction riskier: each is judged again at each
        increase, whatever was acknowledged at a lower dose."""
        return (
            interactions.maoi_contraindications(drug, context.active, context.others)
            + interactions.label_contraindications(drug, context.active, context.others)
            + interactions.major_interactions(drug, context.active, context.others)
        )

    def _follow_up_timing(
        self,
        drug: Drug,
        context: ClinicalContext,
        ctx: CommandContext,
        follow_up: FollowUpPlan | None,
        *,
        starting: bool,
    ) -> list[Finding]:
        """Judge the follow-up given with the command, or else the next one pending."""
        pending = sorted(f.due_on for f in self.follow_ups.values() if f.is_pending)
        due_on = follow_up.due_on if follow_up else (pending[0] if pending else None)
        return schedules.follow_up_interval(
            drug, context.age, starting, ctx.occurred_at.date(), due_on
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
        excluded_drug = formulary.drugs.get(excluding.drug) if excluding else None
        stopped = [
            (formulary.drugs[rx.drug], rx.ended_at)
            for rx in self.prescriptions.values()
            if rx.ended_at is not None and rx.drug in formulary.drugs
        ]
        recognised = [formulary.recognise(text) for text in self.current_medications]
        others = [found for found in recognised if isinstance(found, OtherDrug)]
        # Psychiatric drugs prescribed elsewhere ("Prozac 20 mg" in the evaluation) are
        # taken all the same: the interaction rules must see them.
        active += [
            found
            for found in recognised
            if isinstance(found, Drug) and found not in active and found is not excluded_drug
        ]
        age = _age(self.birth_date, at)
        populations = safety.patient_populations(age, self.conditions, active, others)
        return ClinicalContext(active, stopped, others, populations, age, self.weight_kg)


@dataclass(frozen=True)
class ClinicalContext:
    active: list[Drug]
    stopped: list[tuple[Drug, datetime]]
    others: list[OtherDrug]
    populations: frozenset[str]
    age: int | None
    weight_kg: Decimal | None = None

    @property
    def with_valproate(self) -> bool:
        return "with_valproate" in self.populations


def _dose_limits(
    drug: Drug,
    amount: Decimal,
    frequency: str,
    populations: frozenset[str],
    context: ClinicalContext,
) -> list[Finding]:
    """Every ceiling a dose must stay under: the label's maximum for this use and this
    patient, the whole amount taken at once, and the plausibility ceiling every drug
    has (with a practical maximum where the label doses by level or weight)."""
    daily = safety.daily_amount(amount, frequency)
    weight = context.weight_kg
    return (
        safety.dose_within_ceiling(drug, daily)
        + safety.dose_within_maximum(drug, daily, populations, weight)
        + safety.single_dose_within_maximum(drug, amount, frequency, populations, weight)
        + safety.dose_within_practical_maximum(drug, daily, populations, weight)
    )


def _taper_step_taken(rx: Prescription, dose: Dose) -> tuple[int | None, list[Finding]]:
    """During a taper, a change to the next step's dose takes that step; others warn."""
    step = rx.next_taper_step
    if rx.status != "tapering":
        return None, []
    if step is not None and step.dose.amount == dose.amount:
        return rx.taper_steps_taken + 1, []
    return None, [
        Finding(
            "taper.off_plan",
            "warn",
            f"{safety.sentence(rx.drug)} is tapering; {dose} is not the next planned step"
            + (f" ({step.dose} from {step.starts_on})." if step else " (the plan is complete)."),
            "Careplan workflow rule: a taper is a plan of dated steps, each taken as a dose change",
        )
    ]


def _age(birth_date: date | None, at: datetime) -> int | None:
    if birth_date is None:
        return None
    day = at.date()
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))
