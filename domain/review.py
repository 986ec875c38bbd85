"""Re-judging what the patient already takes when an evaluation changes what is safe.

The rules judge a dose or a combination when it is prescribed or changed. A
later evaluation can make a prescription that was safe unsafe: a new condition
(hepatic impairment, pregnancy) lowers a maximum, a drug prescribed elsewhere
(terbinafine, an NSAID, an opioid) brings an interaction, an allergy is newly
recorded, the patient is now older than an age limit. The evaluation is a fact
and is always recorded; what it makes newly unsafe is flagged on each
prescription it concerns as warnings that wait for a prescriber's
acknowledgement (or for a dose change, which is judged afresh).

A finding is flagged once per prescription and dose: one already raised for
that dose (shown at prescribing, or flagged by an earlier review) is not raised
again at every reassessment.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from domain import allergies, interactions, safety
from domain.formulary import Formulary
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescription
from domain.safety import Finding
from domain.values import CommandContext


class Reviewing(PlanPart):
    """The part of the plan that reviews standing prescriptions after an evaluation."""

    version: int
    prescriptions: dict[str, Prescription]
    allergies: set[str]

    class MedicationReviewFlagged(PlanEvent):
        """An evaluation made a standing prescription unsafe in the ways it lists."""

        prescription_id: str
        drug: str
        evaluation_version: int
        warnings: list[Finding]

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_for_acknowledgement(self.prescription_id, self.warnings)
            rx = aggregate.prescriptions.get(self.prescription_id)
            if rx is not None:
                rx.raised |= {(f.code, f.message) for f in self.warnings}

    def review_standing_prescriptions(
        self, formulary: Formulary, ctx: CommandContext, evaluation_version: int
    ) -> dict[str, list[Finding]]:
        """Flag what the evaluation just recorded made unsafe; returns it per prescription."""
        flagged: dict[str, list[Finding]] = {}
        for rx in [rx for rx in self.prescriptions.values() if rx.is_active]:
            new = [
                # The dose is already being taken: nothing left to refuse, so what
                # would have blocked a new order is a warning that must be answered.
                replace(finding, severity="warn")
                for finding in self.standing_findings(rx, formulary, ctx.occurred_at)
                if (finding.code, finding.message) not in rx.raised
            ]
            if not new:
                continue
            self._record(
                self.MedicationReviewFlagged,
                ctx,
                prescription_id=rx.prescription_id,
                drug=rx.drug,
                evaluation_version=evaluation_version,
                warnings=new,
            )
            flagged[rx.prescription_id] = new
        return flagged

    def standing_findings(
        self, rx: Prescription, formulary: Formulary, at: datetime
    ) -> list[Finding]:
        """The rules that hold for as long as a drug is taken: the maximum dose for
        this patient now, and the combinations with what is taken elsewhere."""
        drug = formulary.drugs.get(rx.drug)
        if drug is None:  # prescribed under an older formulary: nothing to judge by
            return []
        context = self._clinical_context(formulary, at, excluding=rx)  # type: ignore[attr-defined]
        daily = safety.daily_amount(rx.dose.amount, rx.frequency)
        # Two drugs of this plan were judged together when the later one was ordered;
        # judging the pair again from the other side would flag it twice. What the
        # review adds are the drugs an evaluation says are taken elsewhere.
        ordered_here = {other.drug for other in self.prescriptions.values() if other.is_active}
        elsewhere = [d for d in context.active if d.name not in ordered_here]
        return (
            safety.dose_within_maximum(
                drug, daily, context.populations | rx.use.populations, context.weight_kg
            )
            + allergies.allergy_findings(drug, self.allergies, formulary)
            + interactions.maoi_contraindications(drug, elsewhere, context.others)
            + interactions.label_contraindications(drug, elsewhere, context.others)
            + interactions.major_interactions(drug, elsewhere, context.others)
        )
