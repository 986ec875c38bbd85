"""The event store through CarePlans, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import CarePlanNotFound, ConcurrentUpdate, RuleViolation
from domain.values import Actor, CommandContext, Dose, FollowUpPlan
from services.bootstrap import Careplan, bootstrap
from services.demo import play_course
from services.event_json import history_entry
from services.settings import Settings

DR_ADA = Actor("dr-ada", "prescriber")


def now() -> CommandContext:
    return CommandContext(DR_ADA, datetime.now(UTC))


class TestPersistence:
    def test_a_course_survives_a_restart_event_for_event(
        self, careplan: Careplan, settings: Settings
    ) -> None:
        plan_id = play_course(careplan.app, "pt-restart")
        before = [history_entry(e) for e in careplan.app.history(plan_id)]
        careplan.close()
        reopened = bootstrap(settings)
        try:
            after = [history_entry(e) for e in reopened.app.history(plan_id)]
            plan = reopened.app.care_plan(plan_id)
        finally:
            reopened.close()
        assert after == before
        assert [e["version"] for e in after] == list(range(1, len(after) + 1))
        assert [rx.drug for rx in plan.active_prescriptions] == ["sertraline"]
        assert plan.prescriptions[plan.active_prescriptions[0].prescription_id].dose == Dose(
            Decimal("50"), "mg"
        )

    def test_an_auditor_can_load_the_plan_as_it_was_at_any_version(
        self, careplan: Careplan
    ) -> None:
        plan_id = play_course(careplan.app, "pt-versions")
        at_prescription = careplan.app.care_plan(plan_id, version=4)
        assert [str(rx.dose) for rx in at_prescription.active_prescriptions] == ["25 mg"]
        assert at_prescription.version == 4

    def test_an_unknown_plan_is_not_found(self, careplan: Careplan) -> None:
        with pytest.raises(CarePlanNotFound):
            careplan.app.care_plan("6f1c2b8e-0000-4000-8000-000000000000")
        with pytest.raises(CarePlanNotFound):
            list(careplan.app.history("6f1c2b8e-0000-4000-8000-000000000000"))

    def test_a_refused_command_stores_nothing(self, careplan: Careplan) -> None:
        plan_id = careplan.app.open_care_plan("pt-refused", now()).care_plan_id
        with pytest.raises(RuleViolation):
            careplan.app.prescribe(
                plan_id,
                drug="sertraline",
                dose=Dose(Decimal(25), "mg"),
                frequency="daily",
                route="oral",
                indication="MDD",
                follow_up=FollowUpPlan(datetime.now(UTC).date() + timedelta(days=14)),
                ctx=now(),
            )
        assert [e.originator_version for e in careplan.app.history(plan_id)] == [1]
        assert careplan.app.recorder.max_notification_id() == 1


class TestConcurrentWriters:
    def test_concurrent_writers_to_one_plan_never_lose_an_update(self, careplan: Careplan) -> None:
        plan_id = careplan.app.open_care_plan("pt-busy", now()).care_plan_id
        due = FollowUpPlan(datetime.now(UTC).date() + timedelta(days=7))
        accepted: list[int] = []
        conflicts: list[ConcurrentUpdate] = []
        lock = threading.Lock()

        def writer() -> None:
            for _ in range(10):
                try:
                    result = careplan.app.schedule_follow_up(plan_id, due, now())
                except ConcurrentUpdate as conflict:
                    with lock:
                        conflicts.append(conflict)
                else:
                    with lock:
                        accepted.append(result.version)

        threads = [threading.Thread(target=writer) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        plan = careplan.app.care_plan(plan_id)
        assert len(accepted) + len(conflicts) == 60
        assert len(plan.follow_ups) == len(accepted)
        assert sorted(accepted) == list(range(2, 2 + len(accepted)))
        assert all(c.code == "care_plan.concurrent_update" for c in conflicts)


class TestClosedPlans:
    def test_every_command_on_a_closed_plan_answers_closed_first(self, careplan: Careplan) -> None:
        plan_id = careplan.app.open_care_plan("pt-closed", now()).care_plan_id
        careplan.app.close_care_plan(plan_id, reason="patient_declined", note=None, ctx=now())
        with pytest.raises(RuleViolation) as refused:
            # Without the closure this would be refused for the missing evaluation.
            careplan.app.prescribe(
                plan_id,
                drug="sertraline",
                dose=Dose(Decimal(25), "mg"),
                frequency="daily",
                route="oral",
                indication="MDD",
                follow_up=None,
                ctx=now(),
            )
        assert refused.value.code == "care_plan.closed"
