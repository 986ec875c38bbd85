"""Monitoring between visits and at them: follow-up outcomes, side effects,
adherence, measurements and lab results."""

from __future__ import annotations

from domain.plan_part import PlanPart


class Monitoring(PlanPart):
    """The monitoring part of the care plan."""

    def _init_state(self) -> None:
        super()._init_state()
