"""Views: read-your-writes, exactly once, and equal to what the events say."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from projections.audit_trail import AuditTrail, audit_entries
from projections.current_medications import CurrentMedications, active_medications
from projections.runner import ProjectionFollower
from projections.store import Sql
from services.bootstrap import Careplan
from services.demo import play_course


def follower(careplan: Careplan, projection: Any) -> ProjectionFollower:
    return ProjectionFollower(
        projection, careplan.views, careplan.app.recorder, careplan.app.mapper
    )


class Crashing(AuditTrail):
    """The audit trail, but the process dies on the n-th event of the batch."""

    def __init__(self, crash_at: int) -> None:
        self.crash_at = crash_at
        self.seen = 0

    def process(self, event: Any, sql: Sql, position: int) -> None:
        self.seen += 1
        if self.seen == self.crash_at:
            raise RuntimeError("simulated crash")
        super().process(event, sql, position)


class TestReadYourWrites:
    def test_every_command_is_visible_in_the_views_when_it_returns(
        self, careplan: Careplan
    ) -> None:
        plan_id = play_course(careplan.app, "pt-ryw")
        rows = active_medications(careplan.views, str(plan_id))
        assert [(r["drug"], r["dose_amount"], r["dose_unit"]) for r in rows] == [
            ("sertraline", "50", "mg")
        ]
        entries, _ = audit_entries(careplan.views, care_plan_id=str(plan_id), limit=100)
        history = list(careplan.app.history(plan_id))
        assert [(e["version"], e["type"]) for e in entries] == [
            (h.originator_version, type(h).__name__) for h in history
        ]


class TestExactlyOnce:
    def test_a_crash_mid_batch_leaves_neither_rows_nor_position(self, careplan: Careplan) -> None:
        careplan.app.after_commit = careplan.app.views_with_the_events = (
            None  # nobody catches up behind our back
        )
        play_course(careplan.app, "pt-crash")
        stored = careplan.app.recorder.max_notification_id()
        crashing = follower(careplan, Crashing(crash_at=5))
        with careplan.views.transaction() as sql:
            sql.execute("DELETE FROM audit_trail")
        name = "audit_trail_crash_test"
        crashing.projection.name = name  # type: ignore[misc]
        with pytest.raises(RuntimeError, match="simulated crash"):
            crashing.catch_up()
        assert careplan.views.position(name) == 0
        with careplan.views.reading() as sql:
            assert sql.execute("SELECT COUNT(*) AS n FROM audit_trail").fetchone() == {"n": 0}

        crashing.projection.crash_at = 0  # type: ignore[attr-defined]
        assert crashing.catch_up() == stored
        assert careplan.views.position(name) == stored
        with careplan.views.reading() as sql:
            assert sql.execute("SELECT COUNT(*) AS n FROM audit_trail").fetchone() == {"n": stored}

    def test_a_position_never_moves_backwards(self, careplan: Careplan) -> None:
        play_course(careplan.app, "pt-backwards")
        position = careplan.views.position("audit_trail")
        assert position > 0
        with pytest.raises(IntegrityError), careplan.views.transaction() as sql:
            careplan.views.record_position(sql, "audit_trail", position - 1)
        assert careplan.views.position("audit_trail") == position

    def test_two_followers_racing_apply_each_event_once(self, careplan: Careplan) -> None:
        careplan.app.after_commit = careplan.app.views_with_the_events = None
        for n in range(3):
            play_course(careplan.app, f"pt-race-{n}")
        stored = careplan.app.recorder.max_notification_id()
        racers = [follower(careplan, AuditTrail()) for _ in range(2)]
        for racer in racers:
            racer.batch_size = 7
        errors: list[BaseException] = []

        def run(racer: ProjectionFollower) -> None:
            try:
                racer.catch_up()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run, args=(r,)) for r in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with careplan.views.reading() as sql:
            rows = sql.execute("SELECT position FROM audit_trail ORDER BY position").fetchall()
        assert [r["position"] for r in rows] == list(range(1, stored + 1))
        assert careplan.views.position("audit_trail") == stored


class TestAgreesWithTheEvents:
    def test_current_medications_equal_the_plans_active_prescriptions(
        self, careplan: Careplan
    ) -> None:
        plans = [play_course(careplan.app, f"pt-agree-{n}") for n in range(3)]
        for plan_id in plans:
            plan = careplan.app.care_plan(plan_id)
            expected = sorted(
                (rx.prescription_id, rx.drug, str(rx.dose.amount), rx.frequency)
                for rx in plan.active_prescriptions
            )
            rows = active_medications(careplan.views, str(plan_id))
            assert (
                sorted(
                    (r["prescription_id"], r["drug"], r["dose_amount"], r["frequency"])
                    for r in rows
                )
                == expected
            )

    def test_audit_pages_walk_every_entry_once_in_order(self, careplan: Careplan) -> None:
        plan_id = str(play_course(careplan.app, "pt-pages"))
        seen: list[int] = []
        after = 0
        while True:
            rows, next_position = audit_entries(
                careplan.views, care_plan_id=plan_id, after=after, limit=3
            )
            seen += [r["version"] for r in rows]
            if next_position is None:
                break
            after = next_position
        assert seen == list(range(1, careplan.app.care_plan(plan_id).version + 1))

    def test_views_rebuilt_from_zero_equal_the_live_ones(self, careplan: Careplan) -> None:
        for n in range(2):
            play_course(careplan.app, f"pt-rebuild-{n}")
        with careplan.views.reading() as sql:
            live = sql.execute(
                "SELECT * FROM current_medications ORDER BY prescription_id"
            ).fetchall()
        with careplan.views.transaction() as sql:
            sql.execute("DELETE FROM current_medications")
        rebuilt = follower(careplan, CurrentMedications())
        rebuilt.projection.name = "current_medications_rebuild"  # type: ignore[misc]
        rebuilt.catch_up()
        with careplan.views.reading() as sql:
            again = sql.execute(
                "SELECT * FROM current_medications ORDER BY prescription_id"
            ).fetchall()
        assert again == live
        assert len(live) == 4
