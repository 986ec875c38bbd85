"""``careplan project rebuild``: rebuild views into fresh tables, with progress, then switch.

The views are filled in their shadow tables together, in one pass over the
log, while the live ones keep serving, with a progress bar each (events/s,
ETA); a stop signal ends it after the batch in hand, and running the command
again resumes from there. Once all have caught up each is switched in (see
``projections.rebuild``).
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
from projections.rebuild import Rebuild, fill_together
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
    """Fill every view's shadow tables in one pass over the log, then switch each in;
    False if stopped before all were switched."""
    app = careplan.app
    jobs = [
        Rebuild(
            projection_type,
            careplan.views,
            app.recorder,
            app.mapper,
            batch_size=batch_size,
            restart=restart,
        )
        for projection_type in projections
    ]
    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        EventsPerSecond(),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        return rebuild_all(jobs, stop, progress)


def rebuild_all(jobs: list[Rebuild], stop: threading.Event, progress: Progress) -> bool:
    """Fill the jobs' shadow tables together with a progress bar each, then switch them."""
    began = time.monotonic()
    started = {job.name: job.position() for job in jobs}
    tasks = {}
    for job in jobs:
        if started[job.name]:
            progress.console.print(f"{job.name}: resuming at position {started[job.name]:,}")
        tasks[job.name] = progress.add_task(job.name, total=max(job.head() - started[job.name], 0))

    def advance() -> None:
        head = jobs[0].head()  # the log grows while we work: the totals follow it
        for job in jobs:
            done = job.position() - started[job.name]
            progress.update(tasks[job.name], total=max(head - started[job.name], 1), completed=done)

    if not fill_together(jobs, stop, advance):
        for job in jobs:
            progress.console.print(
                f"[yellow]{job.name}: stopped at position {job.position():,} of "
                f"{job.head():,}; run the command again to resume.[/yellow]"
            )
        return False
    for job in jobs:
        position = job.switch()
        begun = started[job.name]
        progress.update(tasks[job.name], total=max(position - begun, 1), completed=position - begun)
        progress.console.print(
            f"{job.name}: switched at position {position:,} "
            f"({position - begun:,} events in {time.monotonic() - began:.1f} s)"
        )
    return True
