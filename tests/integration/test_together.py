"""Read-your-writes in one transaction, on both stores: every view is brought up to the
command's position; one view that fails is left behind alone and reported."""

from __future__ import annotations

from typing import Any

from projections.audit_trail import AuditTrail
from projections.runner import ProjectionFollower
from projections.store import Sql
from projections.together import catch_up_together
from services.bootstrap import Careplan
from services.demo import play_course


class Failing(AuditTrail):
    """The audit trail under another name, failing on one kind of event."""

    name = "audit_trail_failing"

    def process(self, event: Any, sql: Sql, position: int) -> None:
        if type(event).__name__ == "DoseChanged":
            raise RuntimeError("simulated handler failure")
        super().process(event, sql, position)


def test_every_view_reaches_the_position_and_a_failing_one_stays_behind(
    careplan: Careplan,
) -> None:
    app = careplan.app
    app.after_commit = app.views_with_the_events = None
    play_course(app, "pt-together")
    head = app.recorder.max_notification_id()
    failing = ProjectionFollower(Failing(), careplan.views, app.recorder, app.mapper)
    followers = [*careplan.followers.values(), failing]

    left = catch_up_together(followers, head)

    assert list(left) == ["audit_trail_failing"]
    assert isinstance(left["audit_trail_failing"], RuntimeError)
    assert {f.name: f.position() for f in careplan.followers.values()} == dict.fromkeys(
        careplan.followers, head
    )
    assert failing.position() == 0  # its batch is undone whole, in its savepoint only
    with careplan.views.reading() as sql:
        rows = sql.execute("SELECT COUNT(*) AS n FROM audit_trail").fetchone()
    assert rows == {"n": head}  # the live trail, sharing the table, has each event once


def test_a_follower_another_process_moved_is_left_to_catch_up_alone(
    careplan: Careplan,
) -> None:
    app = careplan.app
    app.after_commit = app.views_with_the_events = None
    play_course(app, "pt-moved")
    head = app.recorder.max_notification_id()
    worklist = careplan.followers["worklist"]
    start = worklist.position()
    with careplan.views.transaction() as sql:  # as if another process had applied some
        careplan.views.record_position(sql, "worklist", start + 1)
    # It read its position before that other process moved it.
    careplan.views.positions = lambda names: dict.fromkeys(names, start)  # type: ignore[method-assign]

    assert catch_up_together([worklist], head) == {"worklist": None}
    assert careplan.views.position("worklist") == start + 1
