"""Follow-ups: planned contacts to monitor symptoms, side effects and adherence.

A follow-up is pending ("scheduled") until it is completed, missed or cancelled;
rescheduling keeps it pending with a new date. A follow-up that passes its due
date is overdue and belongs on a worklist, so each ending is recorded
as its own event with why: "missed" and "cancelled" mean different things there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import uuid4

from domain.errors import FollowUpNotFound, InvalidValue, RuleViolation
from domain.formulary import Formulary
from domain.outcome_rules import ScorePoint, prompt_finding
from domain.plan_part import PlanEvent, PlanPart
from domain.safety import Finding, acknowledged
from domain.scales import MeasurementGiven, scored_measurement
from domain.values import (
    MODALITIES,
    CommandContext,
    FollowUpPlan,
    Measurement,
    ReviewPrompt,
    require_choice,
    require_text,
)

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
    #: scheduled (pending), completed, missed, cancelled, or entered_in_error
    status: str = "scheduled"
    completed_at: datetime | None = None
    measurements: list[Measurement] = field(default_factory=list)
    #: (version, due_on, modality) as scheduled and each rescheduling, latest last.
    schedule_history: list[tuple[int, date, str]] = field(default_factory=list)

    @property
    def is_pending(self) -> bool:
        return self.status == "scheduled"


class FollowUps(PlanPart):
    """The follow-up part of the care plan."""

    follow_ups: dict[str, FollowUp]

    class FollowUpScheduled(PlanEvent):
        class_version = 2
        follow_up_id: str
        due_on: date
        modality: str
        purpose: str
        prescription_id: str | None
        warnings: list[Finding]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the warnings a visit planned on its own raised (an interval too
            long for a patient not yet stable); before it there were none."""
            state["warnings"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.hold_for_acknowledgement(self.follow_up_id, self.warnings)
            aggregate.follow_ups[self.follow_up_id] = FollowUp(
                follow_up_id=self.follow_up_id,
                due_on=self.due_on,
                modality=self.modality,
                purpose=self.purpose,
                prescription_id=self.prescription_id,
                schedule_history=[(self.originator_version, self.due_on, self.modality)],
            )

    class FollowUpCompleted(PlanEvent):
        class_version = 2
        follow_up_id: str
        modality: str
        measurements: list[Measurement]
        side_effects: list[str]
        adherence: str | None
        findings: list[Finding]
        prompts: list[ReviewPrompt]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 takes item scores at the visit and keeps what they raised (a positive
            PHQ-9 item 9, urgent) and what the scores say about each medication taken;
            before it measurements were totals and raised nothing."""
            state["findings"] = []
            state["prompts"] = []

        def apply(self, aggregate: Any) -> None:
            follow_up = aggregate.follow_ups[self.follow_up_id]
            follow_up.status = "completed"
            follow_up.completed_at = self.occurred_at
            follow_up.measurements = list(self.measurements)

    class FollowUpMissed(PlanEvent):
        follow_up_id: str
        note: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.follow_ups[self.follow_up_id].status = "missed"

    class FollowUpCancelled(PlanEvent):
        follow_up_id: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.follow_ups[self.follow_up_id].status = "cancelled"

    class FollowUpRescheduled(PlanEvent):
        follow_up_id: str
        due_on: date
        modality: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            follow_up = aggregate.follow_ups[self.follow_up_id]
            follow_up.due_on = self.due_on
            follow_up.modality = self.modality
            follow_up.schedule_history.append((self.originator_version, self.due_on, self.modality))

    def schedule_follow_up(
        self,
        plan: FollowUpPlan,
        ctx: CommandContext,
        acknowledgements: Mapping[str, str] | None = None,
    ) -> tuple[str, list[Finding]]:
        """Plan a contact to monitor symptoms, side effects and adherence; visits grow
        further apart once the patient is stable (``visit_spacing``)."""
        self._check_follow_up_date(plan, ctx)
        warnings = self.visit_spacing(plan.due_on, ctx)
        acknowledged(warnings, acknowledgements)  # refuses a stray one before recording
        follow_up_id = self._schedule(plan, ctx, None, warnings)
        assert follow_up_id is not None  # a plan was given, so one was scheduled
        given = acknowledged(warnings, acknowledgements)
        self._acknowledge(follow_up_id, given, ctx)  # type: ignore[attr-defined]
        return follow_up_id, warnings

    def visit_spacing(self, due_on: date, ctx: CommandContext) -> list[Finding]:
        """What a visit planned on its own raises (the plan's reassessment part says)."""
        return []

    def complete_follow_up(
        self,
        follow_up_id: str,
        modality: str,
        measurements: Sequence[Measurement | MeasurementGiven],
        side_effects: list[str],
        adherence: str | None,
        ctx: CommandContext,
        formulary: Formulary | None = None,
    ) -> list[Finding]:
        """Record the visit: rating scales (totals or item scores), side effects the
        patient reports, adherence. What the scales raise comes back at once, exactly
        as a measurement recorded on its own: a positive PHQ-9 item 9 is urgent."""
        follow_up = self.follow_up(follow_up_id)
        require_choice(modality, MODALITIES, "follow_up.unknown_modality", "modality")
        require_pending(follow_up)
        scored = [scored_measurement(m.instrument, m.total, m.items) for m in measurements]
        findings = [finding for measurement in scored for finding in measurement.findings]
        points = [ScorePoint(m.instrument, m.total, ctx.occurred_at) for m in scored]
        prompts = self.review_prompts(points, formulary) if points else []  # type: ignore[attr-defined]
        self._record(
            self.FollowUpCompleted,
            ctx,
            follow_up_id=follow_up_id,
            modality=modality,
            measurements=[Measurement(m.instrument, m.total, m.items) for m in scored],
            side_effects=[s.strip() for s in side_effects if s.strip()],
            adherence=adherence.strip() if adherence and adherence.strip() else None,
            findings=findings,
            prompts=prompts,
        )
        return findings + [prompt_finding(prompt) for prompt in prompts]

    def mark_follow_up_missed(
        self, follow_up_id: str, note: str | None, ctx: CommandContext
    ) -> None:
        """The patient did not attend: recorded once the day has come, so it can be chased."""
        follow_up = self.follow_up(follow_up_id)
        require_pending(follow_up)
        require_due(follow_up, ctx.occurred_at.date())
        note = require_text(note, "follow_up.invalid", "Note") if note and note.strip() else None
        self._record(self.FollowUpMissed, ctx, follow_up_id=follow_up_id, note=note)

    def cancel_follow_up(self, follow_up_id: str, reason: str, ctx: CommandContext) -> None:
        """Call off a planned contact, saying why (it leaves the worklist, not the record)."""
        follow_up = self.follow_up(follow_up_id)
        reason = require_text(reason, "follow_up.reason_required", "Reason for cancelling")
        require_pending(follow_up)
        self._record(self.FollowUpCancelled, ctx, follow_up_id=follow_up_id, reason=reason)

    def reschedule_follow_up(
        self,
        follow_up_id: str,
        due_on: date,
        modality: str | None,
        reason: str,
        ctx: CommandContext,
    ) -> None:
        """Move a pending contact to a new date (and modality, if given); it stays pending."""
        follow_up = self.follow_up(follow_up_id)
        reason = require_text(reason, "follow_up.reason_required", "Reason for rescheduling")
        new = FollowUpPlan(due_on, modality or follow_up.modality, follow_up.purpose)
        require_pending(follow_up)
        self._check_follow_up_date(new, ctx)
        if (new.due_on, new.modality) == (follow_up.due_on, follow_up.modality):
            raise InvalidValue(
                "follow_up.unchanged",
                f"Follow-up {follow_up_id} is already due on {due_on} ({new.modality}).",
            )
        self._record(
            self.FollowUpRescheduled,
            ctx,
            follow_up_id=follow_up_id,
            due_on=new.due_on,
            modality=new.modality,
            reason=reason,
        )

    def follow_up(self, follow_up_id: str) -> FollowUp:
        try:
            return self.follow_ups[follow_up_id]
        except KeyError:
            raise FollowUpNotFound(follow_up_id) from None

    def _schedule(
        self,
        plan: FollowUpPlan | None,
        ctx: CommandContext,
        prescription_id: str | None,
        warnings: list[Finding] | None = None,
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
            warnings=list(warnings or []),
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


def require_pending(follow_up: FollowUp) -> None:
    """Only a scheduled follow-up can be completed, missed, cancelled or rescheduled."""
    if not follow_up.is_pending:
        raise RuleViolation(
            "follow_up.not_pending",
            f"Follow-up {follow_up.follow_up_id} is already {follow_up.status}.",
        )


def require_due(follow_up: FollowUp, today: date) -> None:
    """A contact cannot be missed before the day it was due."""
    if today < follow_up.due_on:
        raise InvalidValue(
            "follow_up.not_yet_due",
            f"Follow-up {follow_up.follow_up_id} is due on {follow_up.due_on}; "
            "it can be marked missed from that day.",
        )
