"""Tapering and switching: ending one medication well, and moving to another.

A taper is a plan of dated steps; each step taken is then recorded as a dose
change. A switch starts the new drug and links it to the old one, which ends
directly (stopped now), by cross-taper (tapered while the new one starts) or
after a washout (already stopped, long enough ago).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from domain import interactions, safety, taper_rules
from domain.errors import InvalidValue, RuleViolation
from domain.formulary import Drug, Formulary
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescription
from domain.safety import Finding, sentence
from domain.values import (
    SWITCH_STRATEGIES,
    CommandContext,
    Discussion,
    Dose,
    FollowUpPlan,
    TaperStep,
    UseContext,
    require_choice,
    require_text,
)


class Switching(PlanPart):
    """The tapering and switching part of the care plan."""

    prescriptions: dict[str, Prescription]

    class TaperStarted(PlanEvent):
        prescription_id: str
        drug: str
        steps: list[TaperStep]
        reason: str
        warnings: list[Finding]

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_for_acknowledgement(self.prescription_id, self.warnings)
            rx = aggregate.prescriptions[self.prescription_id]
            rx.status = "tapering"
            rx.taper = list(self.steps)
            rx.taper_steps_taken = 0

    class MedicationSwitched(PlanEvent):
        from_prescription_id: str
        to_prescription_id: str
        strategy: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.switches.append((self.from_prescription_id, self.to_prescription_id))

    def _init_state(self) -> None:
        super()._init_state()
        self.switches: list[tuple[str, str]] = []

    def start_taper(
        self,
        prescription_id: str,
        steps: Sequence[TaperStep],
        reason: str,
        ctx: CommandContext,
        *,
        formulary: Formulary,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> list[Finding]:
        """Plan the way down: dated, decreasing steps; each is later taken as a dose change."""
        rx = self.prescription(prescription_id)  # type: ignore[attr-defined]
        reason = require_text(reason, "taper.reason_required", "Reason for tapering")
        if rx.status != "active":
            raise RuleViolation(
                "prescription.not_active", f"Prescription {prescription_id} is {rx.status}."
            )
        taper_rules.check_taper_plan(rx.dose, steps, ctx.occurred_at.date().isoformat())
        drug = formulary.drugs.get(rx.drug)
        warnings = safety.refuse_blocking(
            taper_rules.taper_pace(drug, rx.dose, rx.frequency, steps, ctx.occurred_at.date())
            if drug
            else []
        )
        self._record_checked(  # type: ignore[attr-defined]
            self.TaperStarted,
            ctx,
            warnings,
            acknowledgements,
            prescription_id=prescription_id,
            drug=rx.drug,
            steps=list(steps),
            reason=reason,
        )
        return warnings

    def switch(
        self,
        from_prescription_id: str,
        *,
        strategy: str,
        reason: str,
        drug: str,
        dose: Dose,
        frequency: str,
        route: str,
        indication: str,
        follow_up: FollowUpPlan | None,
        ctx: CommandContext,
        formulary: Formulary,
        taper: Sequence[TaperStep] = (),
        washout_days: int = 0,
        acknowledgements: Mapping[str, str] | None = None,
        use: UseContext | None = None,
        discussion: Discussion | None = None,
    ) -> tuple[str, list[Finding]]:
        """Move from one medication to another, linking the two prescriptions; what was
        discussed of the new drug is recorded with its prescription."""
        old = self.prescription(from_prescription_id)  # type: ignore[attr-defined]
        require_choice(strategy, SWITCH_STRATEGIES, "switch.unknown_strategy", "strategy")
        reason = require_text(reason, "switch.reason_required", "Reason for switching")
        acknowledgements = dict(acknowledgements or {})
        if strategy == "washout":
            self._check_washout(old, washout_days, ctx)
        elif strategy == "direct":
            _check_direct(formulary.drugs.get(old.drug), formulary.drug(drug), ctx)
            self._end_directly(old, reason, ctx, formulary, acknowledgements)
        else:
            self.start_taper(
                from_prescription_id,
                taper,
                f"cross-taper: {reason}",
                ctx,
                formulary=formulary,
                acknowledgements=_take(acknowledgements, "taper."),
            )
        new_id, warnings = self.prescribe(  # type: ignore[attr-defined]
            drug,
            dose,
            frequency,
            route,
            indication,
            follow_up,
            ctx,
            formulary=formulary,
            acknowledgements=acknowledgements,
            use=use,
            discussion=discussion,
        )
        self._record(
            self.MedicationSwitched,
            ctx,
            from_prescription_id=from_prescription_id,
            to_prescription_id=new_id,
            strategy=strategy,
            reason=reason,
        )
        return new_id, warnings

    def _end_directly(
        self,
        old: Prescription,
        reason: str,
        ctx: CommandContext,
        formulary: Formulary,
        acknowledgements: dict[str, str],
    ) -> None:
        """A direct switch stops the old drug now (a taper warning, when it needs one)."""
        self.discontinue(  # type: ignore[attr-defined]
            old.prescription_id,
            f"switched: {reason}",
            ctx,
            reason_code="switched",
            formulary=formulary,
            acknowledgements=_take(acknowledgements, "discontinuation."),
            replaced_by_switch=True,
        )

    @staticmethod
    def _check_washout(old: Prescription, washout_days: int, ctx: CommandContext) -> None:
        """A washout switch starts the new drug once the old one has been off long enough."""
        if old.ended_at is None:
            raise RuleViolation(
                "switch.washout_not_started",
                f"Stop {old.drug} first; the new drug starts after the washout.",
            )
        if washout_days < 0:
            raise InvalidValue("switch.invalid_washout", "Washout days cannot be negative.")
        if ctx.occurred_at < old.ended_at + timedelta(days=washout_days):
            raise RuleViolation(
                "switch.washout_incomplete",
                f"{sentence(old.drug)} stopped on {old.ended_at.date()}; the {washout_days}-day "
                "washout has not passed.",
            )


def _check_direct(old: Drug | None, new: Drug, ctx: CommandContext) -> None:
    """A direct switch that a washout forbids is refused before anything is stopped, in
    words that say what would happen, not what has (the refusal stores nothing)."""
    clear_on = None if old is None else interactions.washout_ends(old, new, ctx.occurred_at)
    if old is None or clear_on is None:
        return
    days = (clear_on - ctx.occurred_at).days
    raise RuleViolation(
        "interaction.washout_required",
        f"{sentence(old.name)} cannot be switched directly to {new.name}: {new.name} may "
        f"start only {days} days after {old.name} is stopped. Stop {old.name} first, then "
        "switch with the washout strategy once those days have passed.",
        old.source("interactions"),
    )


def _take(acknowledgements: dict[str, str], prefix: str) -> dict[str, str]:
    """Hand the acknowledgements meant for one step of a switch to that step only."""
    taken = {code: text for code, text in acknowledgements.items() if code.startswith(prefix)}
    for code in taken:
        del acknowledgements[code]
    return taken
