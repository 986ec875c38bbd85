"""``careplan project rebuild``: rebuild views into fresh tables, with progress, then switch.

Each view is filled in its shadow tables while the live ones keep serving,
with a progress bar (events/s, ETA); a stop signal ends it after the batch in
hand, and running the command again resumes from there. Once a view has
caught up it is switched in (see ``projections.rebuild``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from projections.projection import Projection
from projections.rebuild import Rebuild
from services.bootstrap import Careplan


class EventsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} events/s", style="progress.data.speed")


def rebuild_views(
    careplan: Careplan,
    projections: Sequence[type[Projection]],
    stop: threading.Event,
    console: Console,
    *,
    batch_size: int = 1000,
    restart: bool = False,
) -> bool:
    """Rebuild each view in turn; False if stopped before all were switched."""
    app = careplan.app
    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        EventsPerSecond(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        for projection_type in projections:
            job = Rebuild(
                projection_type,
                careplan.views,
                app.recorder,
                app.mapper,
                batch_size=batch_size,
                restart=restart,
            )
            if not rebuild_one(job, stop, progress):
                return False
    return True


def rebuild_one(job: Rebuild, stop: threading.Event, progress: Progress) -> bool:
    """Fill one view's shadow tables with a progress bar, then switch it in."""
    started = job.position()
    if started:
        progress.console.print(f"{job.name}: resuming at position {started:,}")
    task = progress.add_task(job.name, total=max(job.head() - started, 0))
    began = time.monotonic()

    def advance(position: int, applied: int) -> None:
        # The log grows while we work: the total follows it.
        progress.update(task, total=max(job.head() - started, 1), completed=position - started)

    if not job.fill(stop, advance):
        progress.console.print(
            f"[yellow]{job.name}: stopped at position {job.position():,} of {job.head():,}; "
            "run the command again to resume.[/yellow]"
        )
        return False
    position = job.switch()
    progress.update(task, total=max(position - started, 1), completed=position - started)
    progress.console.print(
        f"{job.name}: switched at position {position:,} "
        f"({position - started:,} events in {time.monotonic() - began:.1f} s)"
    )
    return True
