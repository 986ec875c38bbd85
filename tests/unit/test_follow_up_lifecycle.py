"""A follow-up's life after it is scheduled: completed, missed, cancelled or rescheduled.

Only a pending follow-up can end or move; a follow-up is missed only from its due
date; a new date obeys the rules of scheduling.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.care_plan import CarePlan
from domain.errors import FollowUpNotFound, InvalidValue, RuleViolation
from domain.values import FollowUpPlan
from tests.unit.clinic import FORMULARY, NOW, NURSE_SAM, ctx, mg, on_sertraline, replay

DAY = timedelta(days=1)
DUE = NOW + 14 * DAY  # on_sertraline plans its follow-up in two weeks


def treated() -> tuple[CarePlan, str]:
    """A plan on sertraline 25 mg and its pending follow-up (due in two weeks)."""
    plan, _ = on_sertraline()
    (follow_up_id,) = plan.follow_ups
    return plan, follow_up_id


def last_event(plan: CarePlan) -> CarePlan.Event:
    return plan.pending_events[-1]


class TestMissed:
    def test_a_follow_up_is_missed_on_its_due_date(self) -> None:
        plan, follow_up_id = treated()
        plan.mark_follow_up_missed(follow_up_id, "  no answer twice  ", ctx(NURSE_SAM, DUE))
        missed = last_event(plan)
        assert type(missed).__name__ == "FollowUpMissed"
        assert (missed.follow_up_id, missed.note) == (follow_up_id, "no answer twice")
        assert missed.actor == NURSE_SAM
        assert plan.follow_up(follow_up_id).status == "missed"

    def test_a_follow_up_is_not_missed_the_day_before(self) -> None:
        plan, follow_up_id = treated()
        before = len(plan.pending_events)
        with pytest.raises(InvalidValue) as refused:
            plan.mark_follow_up_missed(follow_up_id, None, ctx(at=DUE - DAY))
        assert refused.value.code == "follow_up.not_yet_due"
        assert len(plan.pending_events) == before
        assert plan.follow_up(follow_up_id).is_pending

    def test_a_blank_note_is_no_note(self) -> None:
        plan, follow_up_id = treated()
        plan.mark_follow_up_missed(follow_up_id, "   ", ctx(at=DUE + DAY))
        assert last_event(plan).note is None


class TestCancelled:
    def test_a_follow_up_is_cancelled_with_its_reason(self) -> None:
        plan, follow_up_id = treated()
        plan.cancel_follow_up(follow_up_id, " patient admitted to hospital ", ctx())
        cancelled = last_event(plan)
        assert type(cancelled).__name__ == "FollowUpCancelled"
        assert cancelled.reason == "patient admitted to hospital"
        assert plan.follow_up(follow_up_id).status == "cancelled"

    def test_a_cancellation_needs_a_reason(self) -> None:
        plan, follow_up_id = treated()
        with pytest.raises(InvalidValue) as refused:
            plan.cancel_follow_up(follow_up_id, "  ", ctx())
        assert refused.value.code == "follow_up.reason_required"
        assert plan.follow_up(follow_up_id).is_pending

    def test_a_cancelled_follow_up_no_longer_covers_a_dose_change(self) -> None:
        plan, follow_up_id = treated()
        (rx,) = plan.prescriptions
        plan.cancel_follow_up(follow_up_id, "moved away", ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.change_dose(rx, mg("50"), "partial response", None, ctx(), formulary=FORMULARY)
        assert refused.value.code == "follow_up.required"


class TestRescheduled:
    def test_a_rescheduled_follow_up_stays_pending_with_its_new_date(self) -> None:
        plan, follow_up_id = treated()
        new_date = NOW.date() + 21 * DAY
        plan.reschedule_follow_up(follow_up_id, new_date, "in_person", "clinic closed", ctx())
        moved = last_event(plan)
        assert type(moved).__name__ == "FollowUpRescheduled"
        assert (moved.due_on, moved.modality, moved.reason) == (
            new_date,
            "in_person",
            "clinic closed",
        )
        follow_up = plan.follow_up(follow_up_id)
        assert (follow_up.due_on, follow_up.modality, follow_up.is_pending) == (
            new_date,
            "in_person",
            True,
        )

    def test_the_modality_is_kept_when_not_given(self) -> None:
        plan, follow_up_id = treated()
        plan.reschedule_follow_up(follow_up_id, NOW.date() + 20 * DAY, None, "holiday", ctx())
        assert last_event(plan).modality == "telehealth"

    def test_a_rescheduled_follow_up_still_covers_a_dose_change(self) -> None:
        plan, follow_up_id = treated()
        (rx,) = plan.prescriptions
        plan.reschedule_follow_up(follow_up_id, NOW.date() + 21 * DAY, None, "holiday", ctx())
        plan.change_dose(
            rx, mg("50"), "partial response", None, ctx(at=NOW + 7 * DAY), formulary=FORMULARY
        )
        assert type(plan.pending_events[-1]).__name__ == "DoseChanged"

    def test_a_new_date_today_is_accepted_and_yesterday_refused(self) -> None:
        plan, follow_up_id = treated()
        with pytest.raises(InvalidValue) as refused:
            plan.reschedule_follow_up(follow_up_id, NOW.date() - DAY, None, "late", ctx())
        assert refused.value.code == "follow_up.due_in_past"
        plan.reschedule_follow_up(follow_up_id, NOW.date(), None, "seen early", ctx())
        assert plan.follow_up(follow_up_id).due_on == NOW.date()

    def test_a_new_date_more_than_two_years_away_is_refused(self) -> None:
        plan, follow_up_id = treated()
        with pytest.raises(InvalidValue) as refused:
            plan.reschedule_follow_up(follow_up_id, NOW.date() + 800 * DAY, None, "x", ctx())
        assert refused.value.code == "follow_up.too_far"

    def test_the_same_date_and_modality_is_no_change(self) -> None:
        plan, follow_up_id = treated()
        same = plan.follow_up(follow_up_id).due_on
        with pytest.raises(InvalidValue) as refused:
            plan.reschedule_follow_up(follow_up_id, same, "telehealth", "no change", ctx())
        assert refused.value.code == "follow_up.unchanged"
        plan.reschedule_follow_up(follow_up_id, same, "in_person", "prefers to come in", ctx())
        assert plan.follow_up(follow_up_id).modality == "in_person"

    def test_an_unknown_modality_is_refused(self) -> None:
        plan, follow_up_id = treated()
        with pytest.raises(InvalidValue) as refused:
            plan.reschedule_follow_up(
                follow_up_id, NOW.date() + 20 * DAY, "carrier_pigeon", "x", ctx()
            )
        assert refused.value.code == "follow_up.unknown_modality"

    def test_rescheduling_needs_a_reason(self) -> None:
        plan, follow_up_id = treated()
        with pytest.raises(InvalidValue) as refused:
            plan.reschedule_follow_up(follow_up_id, NOW.date() + 20 * DAY, None, " ", ctx())
        assert refused.value.code == "follow_up.reason_required"


# Each way a follow-up leaves "scheduled", and each command that needs it scheduled.
ENDINGS: dict[str, Callable[[CarePlan, str], None]] = {
    "completed": lambda plan, fu: plan.complete_follow_up(fu, "in_person", [], [], None, ctx()),
    "missed": lambda plan, fu: plan.mark_follow_up_missed(fu, None, ctx(at=DUE)),
    "cancelled": lambda plan, fu: plan.cancel_follow_up(fu, "not needed", ctx()),
}
COMMANDS: dict[str, Callable[[CarePlan, str], None]] = {
    **ENDINGS,
    "rescheduled": lambda plan, fu: plan.reschedule_follow_up(
        fu, NOW.date() + 30 * DAY, None, "holiday", ctx(at=DUE)
    ),
}


class TestOnlyPendingFollowUpsChange:
    @pytest.mark.parametrize("ending", sorted(ENDINGS))
    @pytest.mark.parametrize("command", sorted(COMMANDS))
    def test_an_ended_follow_up_is_not_pending(self, ending: str, command: str) -> None:
        plan, follow_up_id = treated()
        ENDINGS[ending](plan, follow_up_id)
        before = len(plan.pending_events)
        with pytest.raises(RuleViolation) as refused:
            COMMANDS[command](plan, follow_up_id)
        assert refused.value.code == "follow_up.not_pending"
        assert ending in refused.value.message
        assert len(plan.pending_events) == before

    @pytest.mark.parametrize("command", sorted(COMMANDS))
    def test_a_rescheduled_follow_up_can_still_end_or_move(self, command: str) -> None:
        plan, follow_up_id = treated()
        plan.reschedule_follow_up(follow_up_id, DUE.date(), "in_person", "in person", ctx())
        COMMANDS[command](plan, follow_up_id)

    @pytest.mark.parametrize("command", sorted(COMMANDS))
    def test_an_unknown_follow_up_is_not_found(self, command: str) -> None:
        plan, _ = treated()
        with pytest.raises(FollowUpNotFound):
            COMMANDS[command](plan, "no-such-follow-up")

    def test_a_follow_up_marked_in_error_is_not_pending(self) -> None:
        plan, follow_up_id = treated()
        scheduled = next(e for e in plan.pending_events if type(e).__name__ == "FollowUpScheduled")
        plan.mark_entry_in_error(scheduled.originator_version, scheduled, "wrong patient", ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.cancel_follow_up(follow_up_id, "not needed", ctx())
        assert refused.value.code == "follow_up.not_pending"


class TestReplay:
    def test_replaying_the_events_rebuilds_every_follow_up(self) -> None:
        plan, first = treated()
        second, _ = plan.schedule_follow_up(FollowUpPlan(DUE.date()), ctx())
        third, _ = plan.schedule_follow_up(FollowUpPlan(DUE.date() + DAY), ctx())
        plan.mark_follow_up_missed(first, "no show", ctx(at=DUE))
        plan.cancel_follow_up(second, "duplicate", ctx(at=DUE))
        plan.reschedule_follow_up(third, DUE.date() + 7 * DAY, "in_person", "x", ctx(at=DUE))
        rebuilt = replay(plan)
        assert {k: vars(v) for k, v in rebuilt.follow_ups.items()} == {
            k: vars(v) for k, v in plan.follow_ups.items()
        }
        assert [rebuilt.follow_up(f).status for f in (first, second, third)] == [
            "missed",
            "cancelled",
            "scheduled",
        ]
