"""How far each projection is behind the event log, in events and in seconds.

Events behind: the log's last notification id minus the projection's tracked
position. Seconds behind: how long ago the oldest event it has not processed
was recorded (0 when caught up), the figure an operator can compare with how
stale a clinic may see its lists. Computed when asked: nothing is counted on
the write path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.persistence import ApplicationRecorder, Mapper

from projections.store import ViewStore


class ViewsBehind(Exception):
    """A view a rule reads is behind the log and did not catch up in time (HTTP 503):
    no rule is judged on what may be stale."""

    def __init__(self, view: str) -> None:
        super().__init__(f"The {view} view is behind the event log; try again shortly.")
        self.view = view


@dataclass(frozen=True)
class Lag:
    position: int
    events_behind: int
    seconds_behind: float


def projection_lag(
    store: ViewStore,
    recorder: ApplicationRecorder,
    mapper: Mapper,
    names: Iterable[str],
    now: datetime,
) -> tuple[int, dict[str, Lag]]:
    """The log's head and each named projection's lag behind it."""
    head = recorder.max_notification_id() or 0
    lags = {}
    for name in names:
        position = store.position(name)
        behind = max(0, head - position)
        seconds = 0.0
        if behind:
            oldest = recorder.select_notifications(
                start=position, limit=1, inclusive_of_start=False
            )
            if oldest:
                recorded = mapper.to_domain_event(oldest[0]).timestamp
                seconds = max(0.0, (now - recorded).total_seconds())
        lags[name] = Lag(position, behind, round(seconds, 3))
    return head, lags
