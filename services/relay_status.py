"""How far the relay is behind the event store: ``careplan relay status``.

Two numbers an operator alerts on: events behind (the newest notification id
minus the relay's recorded position) and seconds behind (now minus the
recording time of the oldest event not yet published; 0 when caught up).
Read from the database alone, so it works while the broker is down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from eventsourcing.persistence import ApplicationRecorder, Mapper, TrackingRecorder

from services.bootstrap import bootstrap
from services.event_json import iso_time
from services.logging import configure_logging
from services.publisher import RELAY_NAME
from services.settings import Settings


@dataclass(frozen=True)
class RelayLag:
    position: int
    newest: int
    oldest_unpublished_at: datetime | None
    seconds_behind: float

    @property
    def events_behind(self) -> int:
        return self.newest - self.position

    def as_json(self) -> dict[str, Any]:
        oldest = self.oldest_unpublished_at
        return {
            "position": self.position,
            "newest": self.newest,
            "events_behind": self.events_behind,
            "seconds_behind": round(self.seconds_behind, 3),
            "oldest_unpublished_at": iso_time(oldest) if oldest else None,
        }


def relay_lag(
    recorder: ApplicationRecorder,
    mapper: Mapper,
    tracking: TrackingRecorder,
    *,
    name: str = RELAY_NAME,
    now: datetime | None = None,
) -> RelayLag:
    """The live relay's lag behind the notification log."""
    position = tracking.max_tracking_id(name) or 0
    newest = recorder.max_notification_id() or 0
    following = recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
    if not following:
        return RelayLag(position, newest, None, 0.0)
    event: Any = mapper.to_domain_event(following[0])  # every event of ours has a timestamp
    oldest = event.timestamp
    seconds = ((now or datetime.now(UTC)) - oldest).total_seconds()
    return RelayLag(position, newest, oldest, max(0.0, seconds))


def status(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
) -> None:
    """Print how far the relay is behind: events and seconds (reads only the database)."""
    settings = Settings()
    configure_logging(settings.effective_log_format, settings.log_level)
    careplan = bootstrap(settings)
    try:
        lag = relay_lag(careplan.app.recorder, careplan.app.mapper, careplan.views.tracking)
    finally:
        careplan.close()
    if as_json:
        typer.echo(json.dumps(lag.as_json()))
        return
    typer.echo(f"position        {lag.position}")
    typer.echo(f"newest          {lag.newest}")
    typer.echo(f"events behind   {lag.events_behind}")
    oldest = lag.oldest_unpublished_at
    since = f" (oldest unpublished recorded {iso_time(oldest)})" if oldest else ""
    typer.echo(f"seconds behind  {lag.seconds_behind:.1f}{since}")
