"""Keeping the record straight: therapy referrals, the care team, entries
marked in error, and closing the plan."""

from __future__ import annotations

from domain.plan_part import PlanPart


class RecordKeeping(PlanPart):
    """The record keeping part of the care plan."""

    def _init_state(self) -> None:
        super()._init_state()
