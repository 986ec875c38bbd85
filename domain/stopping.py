"""Stopping a medication: a coded reason, and a taper where the drug needs one.

A stop is judged by where the taper really is (``domain.taper_rules``), and a
stop that says "switched" is a switch only when another drug for the same use
was started in the plan just before it; a real switch goes through
``domain.switching``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from domain import safety, taper_rules
from domain.formulary import Drug, Formulary, default_formulary
from domain.plan_part import PlanEvent
from domain.prescribing import Prescribing, Prescription
from domain.safety import Finding
from domain.values import DISCONTINUATION_REASONS, CommandContext, require_choice, require_text


class Stopping(Prescribing):
    """The part of the plan that stops medications."""

    class MedicationDiscontinued(PlanEvent):
        class_version = 2
        prescription_id: str
        drug: str
        reason_code: str
        reason: str
        warnings: list[Finding]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 codes the reason (FHIR statusReason) and keeps the warnings shown."""
            state["reason_code"] = "other"
            state["warnings"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_for_acknowledgement(self.prescription_id, self.warnings)
            rx = aggregate.prescriptions[self.prescription_id]
            rx.status = "discontinued"
            rx.ended_at = self.occurred_at
            rx.end_reason_code = self.reason_code
            rx.end_reason = self.reason
            rx.last_changed_at = self.occurred_at
            rx.last_changed_by = self.actor

    def discontinue(
        self,
        prescription_id: str,
        reason: str,
        ctx: CommandContext,
        *,
        reason_code: str = "other",
        formulary: Formulary | None = None,
        acknowledgements: Mapping[str, str] | None = None,
        replaced_by_switch: bool = False,
    ) -> list[Finding]:
        """Stop a medication, with a coded reason. A drug that needs a taper is stopped
        through one (judged by where the taper really is); an abrupt stop is allowed for
        an adverse reaction or a real switch, with a warning to acknowledge.
        """
        rx = self.prescription(prescription_id)
        reason = require_text(reason, "discontinuation.reason_required", "Reason for stopping")
        require_choice(
            reason_code, DISCONTINUATION_REASONS, "discontinuation.unknown_reason", "reason"
        )
        formulary = formulary or default_formulary()
        drug = formulary.drugs.get(rx.drug)
        replaced = replaced_by_switch or (
            reason_code == "switched"
            and self._replacement_started(rx, drug, ctx.occurred_at, formulary)
        )
        warnings = safety.refuse_blocking(
            safety.prescription_must_be_active(rx)
            + taper_rules.stop_needs_taper(
                drug,
                safety.daily_amount(rx.dose.amount, rx.frequency),
                rx.taper if rx.status == "tapering" else [],
                rx.taper_steps_taken,
                reason_code,
                ctx.occurred_at.date(),
                replaced=replaced,
            )
        )
        self._record_checked(
            self.MedicationDiscontinued,
            ctx,
            warnings,
            acknowledgements,
            prescription_id=prescription_id,
            drug=rx.drug,
            reason_code=reason_code,
            reason=reason,
        )
        return warnings

    def _replacement_started(
        self, rx: Prescription, drug: Drug | None, at: datetime, formulary: Formulary
    ) -> bool:
        """Was another drug for the same use (the same indication, or the same kind of
        drug) started in this plan within the switch window before this stop?"""
        window = timedelta(days=taper_rules.SWITCH_WINDOW_DAYS)
        for other in self.prescriptions.values():
            if other is rx or other.status == "entered_in_error" or other.drug == rx.drug:
                continue
            if not at - window <= other.started_at <= at:
                continue
            other_drug = formulary.drugs.get(other.drug)
            same_use = _same_text(other.indication, rx.indication) or (
                drug is not None and other_drug is not None and other_drug.area == drug.area
            )
            if same_use:
                return True
        return False


def _same_text(first: str, second: str) -> bool:
    return " ".join(first.lower().split()) == " ".join(second.lower().split())
