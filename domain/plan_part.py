"""What every part of the care plan shares: the event base and the writer helper.

The CarePlan aggregate is assembled from parts (prescribing, follow-ups, …),
one module each; their events subclass ``PlanEvent`` and the aggregate's
metaclass makes them ``CarePlan.<Name>`` (the stored topic).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from domain.errors import InvalidValue, RuleViolation
from domain.values import Actor, CommandContext


class PlanEvent(Aggregate.Event):
    """Every event says who acted, when it happened clinically, and for which request."""

    #: Bumped with an ``upcast_vN_vN+1`` static method whenever a payload changes:
    #: stored events are kept forever and must always load.
    class_version = 1

    actor: Actor
    occurred_at: datetime
    correlation_id: str | None


class PlanPart:
    """Base of the aggregate's parts: the one way a command records an event."""

    id: Any
    opened_at: datetime
    status: str
    trigger_event: Callable[..., None]

    def _init_state(self) -> None:
        """Each part sets up its own state, cooperatively (called once, on opening)."""

    def require_open(self) -> None:
        """A closed plan takes no more commands, whatever else they would have said."""
        if self.status == "closed":
            raise RuleViolation(
                "care_plan.closed", f"Care plan {self.id} is closed; open a new one to continue."
            )

    def _record(self, event_class: type[PlanEvent], ctx: CommandContext, **data: Any) -> None:
        """Record an event of this plan, refusing what cannot have happened."""
        self.require_open()
        if ctx.occurred_at < self.opened_at:
            raise InvalidValue(
                "time.before_plan_opened",
                f"Care plan {self.id} was opened at {self.opened_at.isoformat()}; "
                "backdate its opening to record earlier care.",
            )
        self.trigger_event(
            event_class,
            actor=ctx.actor,
            occurred_at=ctx.occurred_at,
            correlation_id=ctx.correlation_id,
            **data,
        )
