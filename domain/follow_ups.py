"""Follow-ups: planned contacts to monitor symptoms, side effects and adherence."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

from domain.errors import FollowUpNotFound, InvalidValue, RuleViolation
from domain.plan_part import PlanEvent, PlanPart
from domain.values import MODALITIES, CommandContext, FollowUpPlan, Measurement, require_choice

# Reassessment is regular care: nothing is planned further ahead than this.
MAX_FOLLOW_UP_HORIZON = timedelta(days=2 * 366)


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


class FollowUps(PlanPart):
    """The follow-up part of the care plan."""

    follow_ups: dict[str, FollowUp]

    class FollowUpScheduled(PlanEvent):
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

    class FollowUpCompleted(PlanEvent):
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

    def follow_up(self, follow_up_id: str) -> FollowUp:
        try:
            return self.follow_ups[follow_up_id]
        except KeyError:
            raise FollowUpNotFound(follow_up_id) from None

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
