"""Clinical checks that are neither a lab value nor a rating scale: asking about a
rash at each lamotrigine step, confirming pregnancy status before valproate.

They are required monitoring (``monitoring_plan.OFFSETS``) and complete their due
items like a lab result does. A positive finding while the drug it concerns is
being taken comes back at once as urgent, as a critical lab value does: both are
boxed warnings on the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import uuid4

from domain.formulary import Formulary
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescription
from domain.safety import Finding
from domain.values import CommandContext, require_choice, require_text

#: check → (drug it watches, urgent code, what to do). The source is the drug's
#: ``monitoring`` source in the formulary, which names the boxed warning.
CHECKS: dict[str, tuple[str, str, str]] = {
    "rash_check": (
        "lamotrigine",
        "lamotrigine.rash",
        "a rash on lamotrigine may be the start of SJS/TEN: stop lamotrigine unless the "
        "rash is clearly not drug-related, and assess today",
    ),
    "pregnancy_status": (
        "divalproex",
        "valproate.pregnancy",
        "valproate in pregnancy causes neural tube defects and lower IQ: review the "
        "treatment today; do not stop it abruptly without a plan",
    ),
}


@dataclass
class Check:
    """A check done (state, rebuilt from events)."""

    check_id: str
    check: str
    present: bool
    checked_at: datetime
    version: int


class Checks(PlanPart):
    """The part of the plan that records clinical checks."""

    prescriptions: dict[str, Prescription]

    class ClinicalCheckRecorded(PlanEvent):
        class_version = 2
        check_id: str
        check: str
        present: bool
        note: str | None
        urgent: list[Finding]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 says "urgent" of its urgent findings; v1 stored them as "warn"."""
            state["urgent"] = [replace(f, severity="urgent") for f in state["urgent"]]

        def apply(self, aggregate: Any) -> None:
            aggregate.checks[self.check_id] = Check(
                check_id=self.check_id,
                check=self.check,
                present=self.present,
                checked_at=self.occurred_at,
                version=self.originator_version,
            )

    def _init_state(self) -> None:
        super()._init_state()
        self.checks: dict[str, Check] = {}

    def record_check(
        self,
        check: str,
        present: bool,
        ctx: CommandContext,
        *,
        formulary: Formulary,
        note: str | None = None,
    ) -> tuple[str, list[Finding]]:
        """Record a check (``present``: a rash was found, the patient is pregnant)."""
        require_choice(check, frozenset(CHECKS), "check.unknown", "check")
        note = require_text(note, "check.invalid", "Note") if note and note.strip() else None
        urgent = self._positive(check, formulary) if present else []
        check_id = str(uuid4())
        self._record(
            self.ClinicalCheckRecorded,
            ctx,
            check_id=check_id,
            check=check,
            present=present,
            note=note,
            urgent=urgent,
        )
        return check_id, urgent

    def _positive(self, check: str, formulary: Formulary) -> list[Finding]:
        drug_name, code, action = CHECKS[check]
        taking = any(rx.drug == drug_name and rx.is_active for rx in self.prescriptions.values())
        drug = formulary.drugs.get(drug_name)
        if not taking or drug is None:
            return []
        return [
            Finding(
                code,
                "urgent",
                f"{check.replace('_', ' ').capitalize()} positive: {action}.",
                drug.source("monitoring"),
            )
        ]
