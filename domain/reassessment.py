"""Benefit against risk, reassessed: whether to prescribe at all, and reviews that
come due for every medication taken.

An evaluation can conclude that medication is not appropriate now, or the patient
can decline it: that decision is recorded with its reason and the plan goes on.
Every active prescription has a review due date: the first at the end of the
drug's expected response window, then at an interval by class (shorter for
controlled substances). A review records its outcome (continue, adjust, taper,
stop), the rationale and the scores it looked at, and sets the next date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from domain import outcome_rules, safety
from domain.formulary import Drug, Formulary, default_formulary
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescription
from domain.review_schedule import next_review_due
from domain.safety import Finding
from domain.values import CommandContext, ReviewPrompt, require_choice, require_text

TREATMENT_DECISIONS = frozenset(
    {"medication_not_indicated", "medication_declined", "medication_deferred"}
)
REVIEW_OUTCOMES = frozenset({"continue", "adjust", "taper", "stop"})


@dataclass
class TreatmentDecision:
    """Whether medication is appropriate now (state, rebuilt from events)."""

    decision_id: str
    decision: str
    reason: str
    alternatives: list[str]
    decided_at: datetime
    decided_by: str
    version: int


class Reassessment(PlanPart):
    """The part of the plan that decides whether to prescribe and reviews what is taken."""

    prescriptions: dict[str, Prescription]
    pending_acknowledgements: dict[tuple[str, str], Finding]
    entries_in_error: dict[int, str]
    birth_date: date | None

    class TreatmentDecisionRecorded(PlanEvent):
        decision_id: str
        decision: str
        reason: str
        alternatives: list[str]

        def apply(self, aggregate: Any) -> None:
            aggregate.treatment_decisions.append(
                TreatmentDecision(
                    decision_id=self.decision_id,
                    decision=self.decision,
                    reason=self.reason,
                    alternatives=list(self.alternatives),
                    decided_at=self.occurred_at,
                    decided_by=self.actor.id,
                    version=self.originator_version,
                )
            )

    class MedicationReviewed(PlanEvent):
        prescription_id: str
        review_id: str
        drug: str
        outcome: str
        rationale: str
        scores_considered: list[str]
        previous_due_on: date
        next_due_on: date
        #: What the scores said when it was reviewed: the review is the answer to them,
        #: so they wait for no acknowledgement.
        findings: list[Finding]

        def apply(self, aggregate: Any) -> None:
            rx = aggregate.prescriptions[self.prescription_id]
            rx.review_due_on = self.next_due_on
            rx.review_versions.append(self.originator_version)

    def _init_state(self) -> None:
        super()._init_state()
        self.treatment_decisions: list[TreatmentDecision] = []

    def record_treatment_decision(
        self, decision: str, reason: str, alternatives: list[str], ctx: CommandContext
    ) -> str:
        """Medication is not appropriate now, or the patient declines or defers it: the
        decision and its reason are kept, and the plan goes on (therapy, review)."""
        require_choice(decision, TREATMENT_DECISIONS, "decision.unknown", "decision")
        reason = require_text(reason, "decision.reason_required", "Reason for the decision")
        alternatives = [require_text(a, "decision.invalid", "Alternative") for a in alternatives]
        safety.refuse_blocking(
            safety.requires_initial_evaluation(self.evaluated_by(ctx.occurred_at))  # type: ignore[attr-defined]
        )
        decision_id = str(uuid4())
        self._record(
            self.TreatmentDecisionRecorded,
            ctx,
            decision_id=decision_id,
            decision=decision,
            reason=reason,
            alternatives=alternatives,
        )
        return decision_id

    def review_medication(
        self,
        prescription_id: str,
        outcome: str,
        rationale: str,
        ctx: CommandContext,
        *,
        formulary: Formulary | None = None,
    ) -> tuple[str, list[Finding]]:
        """Reassess that the benefits still outweigh the risks: continue, adjust, taper or
        stop, with the rationale and the scores looked at; the next review comes due.
        Returns the review's id and what the scores say."""
        rx = self.prescription(prescription_id)  # type: ignore[attr-defined]
        require_choice(outcome, REVIEW_OUTCOMES, "review.unknown_outcome", "outcome")
        rationale = require_text(rationale, "review.rationale_required", "Rationale")
        safety.refuse_blocking(safety.prescription_must_be_active(rx))
        drug = (formulary or default_formulary()).drugs.get(rx.drug)
        findings = self.outcome_prompts(rx, drug)
        review_id = str(uuid4())
        self._record(
            self.MedicationReviewed,
            ctx,
            prescription_id=prescription_id,
            review_id=review_id,
            drug=rx.drug,
            outcome=outcome,
            rationale=rationale,
            scores_considered=self._scores_considered(rx, drug),
            previous_due_on=rx.review_due_on,
            next_due_on=next_review_due(drug, ctx.occurred_at.date()),
            findings=findings,
        )
        return review_id, findings

    def outcome_prompts(
        self,
        rx: Prescription,
        drug: Drug | None,
        new: Sequence[outcome_rules.ScorePoint] = (),
    ) -> list[Finding]:
        """What the scores (with ``new`` ones, about to be recorded) say about this
        prescription now (``domain.outcome_rules``)."""
        if drug is None:
            return []
        course = outcome_rules.Course(
            rx.prescription_id,
            drug,
            rx.indication,
            rx.dose.amount,
            rx.frequency,
            rx.started_at,
            rx.last_changed_at or rx.started_at,
        )
        history = [*self.score_history, *new]  # type: ignore[attr-defined]
        return outcome_rules.prompts(course, history)

    def dose_decision_prompts(
        self, rx: Prescription, drug: Drug | None, before: Decimal, after: Decimal
    ) -> list[Finding]:
        """The prompts a dose change does not itself answer: an increase answers "no
        improvement", a decrease "sustained remission"; a lost response is always shown."""
        answered = {"outcome.no_improvement"} if after > before else set()
        answered |= {"outcome.sustained_remission"} if after < before else set()
        return [f for f in self.outcome_prompts(rx, drug) if f.code not in answered]

    def review_prompts(
        self, new: Sequence[outcome_rules.ScorePoint], formulary: Formulary | None
    ) -> list[ReviewPrompt]:
        """What new scores say about each medication taken: kept with the scores, they
        put the prescription on the worklist for review ("consider adjusting")."""
        drugs = (formulary or default_formulary()).drugs
        return [
            ReviewPrompt(rx.prescription_id, rx.drug, f.code, f.message, f.source)
            for rx in self.prescriptions.values()
            if rx.is_active
            for f in self.outcome_prompts(rx, drugs.get(rx.drug), new)
        ]

    def _scores_considered(self, rx: Prescription, drug: Drug | None) -> list[str]:
        instrument = outcome_rules.instrument_for(rx.indication, drug)
        scores = outcome_rules.series(self.score_history, instrument or "")  # type: ignore[attr-defined]
        return [f"{s.instrument} {s.total} on {s.taken_at.date()}" for s in scores[-3:]]

    def visit_spacing(self, due_on: date, ctx: CommandContext) -> list[Finding]:
        """A visit planned on its own: further apart once the patient is stable."""
        taking = any(rx.is_active for rx in self.prescriptions.values())
        stable = outcome_rules.is_stable(self.score_history, len(self.pending_acknowledgements))  # type: ignore[attr-defined]
        return outcome_rules.visit_spacing(stable, taking, ctx.occurred_at.date(), due_on)

    @property
    def reviews_due(self) -> dict[str, date]:
        """Each active prescription's next review date."""
        return {
            rx.prescription_id: rx.review_due_on
            for rx in self.prescriptions.values()
            if rx.is_active and rx.review_due_on is not None
        }
