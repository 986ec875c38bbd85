"""Rebuilding views into fresh tables, on both stores: the rebuilt tables equal the live
ones; a rebuild stopped midway resumes where it stopped; writes made meanwhile are
neither lost nor applied twice; a live batch read before the switch is dropped.
"""

from __future__ import annotations

import threading
from typing import Any

from projections.outcomes import Outcomes
from projections.projection import Projection
from projections.rebuild import Rebuild, fill_together
from projections.timeline import MedicationTimeline
from projections.worklist import Worklist
from services.bootstrap import PROJECTIONS, Careplan
from services.demo import play_course
from tests.integration.course import play


def contents(careplan: Careplan, projection: Projection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the live view, in a fixed order."""
    tables = {}
    with careplan.views.reading() as sql:
        for table in projection.tables:
            rows = sql.execute(f"SELECT * FROM {table}").fetchall()
            tables[table] = sorted(tuple(str(v) for v in row.values()) for row in rows)
    return tables


def rebuild(careplan: Careplan, projection_type: type[Projection], **options: Any) -> Rebuild:
    app = careplan.app
    return Rebuild(projection_type, careplan.views, app.recorder, app.mapper, **options)


def test_every_view_rebuilt_equals_the_live_one(careplan: Careplan) -> None:
    play(careplan.app, "pt-rebuild")
    head = careplan.app.recorder.max_notification_id()
    for projection_type in PROJECTIONS:
        live = contents(careplan, projection_type())
        assert any(live.values()), projection_type.name
        job = rebuild(careplan, projection_type, batch_size=50)
        assert job.fill(threading.Event())
        assert job.switch() == head
        assert contents(careplan, projection_type()) == live, projection_type.name
        assert careplan.views.position(projection_type.name) == head
        assert job.position() == 0  # the shadow position is gone with its tables
        for shadow in job.shadow.table_names().values():
            assert not careplan.views.table_exists(shadow)

    # The live followers carry on from the switched position, into the new tables.
    play_course(careplan.app, "pt-after-rebuild")
    for projection_type in PROJECTIONS:
        again = rebuild(careplan, projection_type)
        assert again.fill(threading.Event())
        before = contents(careplan, projection_type())
        again.switch()
        assert contents(careplan, projection_type()) == before, projection_type.name


def test_a_rebuild_stopped_midway_resumes_and_writes_meanwhile_are_kept(
    careplan: Careplan,
) -> None:
    play(careplan.app, "pt-resume")
    stop = threading.Event()
    batches: list[int] = []

    def count(position: int, applied: int) -> None:
        batches.append(position)
        if len(batches) == 3:
            stop.set()

    first = rebuild(careplan, Worklist, batch_size=7)
    assert first.fill(stop, count) is False
    assert batches == [7, 14, 21]
    assert first.position() == 21

    play_course(careplan.app, "pt-meanwhile")  # the live view follows these
    resumed = rebuild(careplan, Worklist, batch_size=7)
    assert resumed.position() == 21  # not from zero
    assert resumed.fill(threading.Event())
    play_course(careplan.app, "pt-before-switch")  # caught up inside the switch
    live = contents(careplan, Worklist())
    assert resumed.switch() == careplan.app.recorder.max_notification_id()
    assert contents(careplan, Worklist()) == live

    once = threading.Event()
    partial = rebuild(careplan, Worklist, batch_size=7)
    assert partial.fill(once, lambda position, applied: once.set()) is False
    assert rebuild(careplan, Worklist).position() == 7
    assert rebuild(careplan, Worklist, restart=True).position() == 0


def test_a_live_batch_read_before_the_switch_is_dropped(careplan: Careplan) -> None:
    careplan.app.after_commit = careplan.app.views_with_the_events = (
        None  # the live view falls behind, as in another process
    )
    play(careplan.app, "pt-stale")
    follower = careplan.followers["outcomes"]
    stale = follower.position()
    job = rebuild(careplan, Outcomes)
    job.fill(threading.Event())
    job.switch()
    rebuilt = contents(careplan, Outcomes())

    follower.position = lambda: stale  # type: ignore[method-assign]
    seen, applied = follower.step()
    assert (seen > 0, applied) == (True, 0)
    del follower.position  # type: ignore[method-assign]
    assert follower.catch_up() == 0
    assert contents(careplan, Outcomes()) == rebuilt


def test_one_event_per_batch_gives_the_same_view(careplan: Careplan) -> None:
    play(careplan.app, "pt-small-batches")
    live = contents(careplan, MedicationTimeline())
    job = rebuild(careplan, MedicationTimeline, batch_size=1)
    assert job.fill(threading.Event())
    job.switch()
    assert contents(careplan, MedicationTimeline()) == live


def test_a_switch_while_followers_and_writers_run_loses_and_repeats_nothing(
    careplan: Careplan,
) -> None:
    play(careplan.app, "pt-busy")
    careplan.app.after_commit = careplan.app.views_with_the_events = (
        None  # only the background followers keep the views
    )
    careplan.settings.projection_poll_seconds = 0.01
    careplan.start_followers()
    writing = threading.Thread(
        target=lambda: [play_course(careplan.app, f"pt-busy-{n}") for n in range(3)]
    )
    writing.start()
    job = rebuild(careplan, Worklist, batch_size=20)
    assert job.fill(threading.Event())
    job.switch()
    writing.join()
    careplan.followers["worklist"].catch_up()

    fresh = rebuild(careplan, Worklist)
    fresh.fill(threading.Event())
    live = contents(careplan, Worklist())
    fresh.switch()
    assert contents(careplan, Worklist()) == live


def test_every_view_filled_in_one_pass_equals_the_live_one_and_resumes(
    careplan: Careplan,
) -> None:
    play(careplan.app, "pt-one-pass")
    jobs = [rebuild(careplan, p, batch_size=9) for p in PROJECTIONS]
    stop = threading.Event()
    assert fill_together(jobs, stop, stop.set) is False  # stopped after one batch
    assert {job.position() for job in jobs} == {9}

    play_course(careplan.app, "pt-one-pass-meanwhile")
    live = {p.name: contents(careplan, p()) for p in PROJECTIONS}
    resumed = [rebuild(careplan, p, batch_size=9) for p in PROJECTIONS]
    assert {job.position() for job in resumed} == {9}
    assert fill_together(resumed, threading.Event())
    head = careplan.app.recorder.max_notification_id()
    for job in resumed:
        assert job.switch() == head
        assert contents(careplan, job.live) == live[job.name], job.name
