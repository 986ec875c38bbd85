"""Marking a change in error undoes its effect (domain.corrections); the entry stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.care_plan import CarePlan
from domain.errors import RuleViolation
from domain.values import Evaluation, FollowUpPlan, TaperStep
from tests.unit.clinic import DR_ADA, FORMULARY, NOW, ctx, in_weeks, mg, on_sertraline, replay


def later(days: int) -> Any:
    return ctx(DR_ADA, NOW + timedelta(days=days))


def mark_last(plan: CarePlan, event_type: str, reason: str = "wrong patient") -> Any:
    entry = [e for e in plan.pending_events if type(e).__name__ == event_type][-1]
    plan.mark_entry_in_error(entry.originator_version, entry, reason, later(20))
    return plan.pending_events[-1]


def raised(code: str, command: Any) -> None:
    with pytest.raises(RuleViolation) as refused:
        command()
    assert refused.value.code == code


def increased(plan: CarePlan, rx: str, amount: str, day: int) -> None:
    plan.change_dose(
        rx, mg(amount), "partial response", in_weeks(4), later(day), formulary=FORMULARY
    )


class TestDoseChanges:
    def test_a_dose_change_in_error_returns_to_the_dose_before(self) -> None:
        plan, rx = on_sertraline("25")
        increased(plan, rx, "50", 14)
        correction = mark_last(plan, "DoseChanged", "meant for another patient")
        assert correction.restores["dose"] == mg("25")
        assert plan.prescription(rx).dose == mg("25")
        assert replay(plan).prescription(rx).dose == mg("25")

    def test_only_the_latest_change_can_be_undone(self) -> None:
        plan, rx = on_sertraline("25")
        increased(plan, rx, "50", 14)
        increased(plan, rx, "100", 21)
        first = next(e for e in plan.pending_events if type(e).__name__ == "DoseChanged")
        raised(
            "entry.superseded",
            lambda: plan.mark_entry_in_error(first.originator_version, first, "x", later(22)),
        )
        mark_last(plan, "DoseChanged")
        assert plan.prescription(rx).dose == mg("50")
        plan.mark_entry_in_error(first.originator_version, first, "x", later(22))
        assert plan.prescription(rx).dose == mg("25")  # then the one before it

    def test_warnings_raised_by_the_change_no_longer_wait(self) -> None:
        plan, rx = on_sertraline("25")
        increased(plan, rx, "150", 3)  # a big step, soon: warns
        assert any(subject == rx for subject, _ in plan.pending_acknowledgements)
        mark_last(plan, "DoseChanged")
        assert not any(subject == rx for subject, _ in plan.pending_acknowledgements)

    def test_a_taper_step_in_error_is_to_be_taken_again(self) -> None:
        plan, rx = on_sertraline("100")
        steps = [TaperStep(NOW.date() + timedelta(days=1), mg("50"))]
        plan.start_taper(rx, steps, "remission", later(1), formulary=FORMULARY)
        plan.change_dose(rx, mg("50"), "step 1", None, later(1), formulary=FORMULARY)
        assert plan.prescription(rx).taper_steps_taken == 1
        mark_last(plan, "DoseChanged")
        assert (plan.prescription(rx).dose, plan.prescription(rx).taper_steps_taken) == (
            mg("100"),
            0,
        )


def stop(plan: CarePlan, rx: str) -> None:
    """An abrupt stop for a rash: allowed, its warning left pending."""
    plan.discontinue(rx, "rash", later(2), reason_code="adverse_reaction", formulary=FORMULARY)


class TestStops:
    def test_a_stop_in_error_makes_the_prescription_active_again(self) -> None:
        plan, rx = on_sertraline("50")
        stop(plan, rx)
        assert (rx, "discontinuation.taper_required") in plan.pending_acknowledgements
        mark_last(plan, "MedicationDiscontinued")
        assert plan.pending_acknowledgements == {}
        prescription = plan.prescription(rx)
        assert (prescription.status, prescription.ended_at) == ("active", None)
        assert replay(plan).prescription(rx).status == "active"

    def test_not_while_the_drug_has_been_prescribed_again(self) -> None:
        plan, rx = on_sertraline("25")
        stop(plan, rx)
        plan.prescribe(
            "sertraline", mg("25"), "daily", "oral", "MDD", None, later(3), formulary=FORMULARY
        )
        entry = next(e for e in plan.pending_events if type(e).__name__ == "MedicationDiscontinued")
        raised(
            "entry.conflicts",
            lambda: plan.mark_entry_in_error(entry.originator_version, entry, "x", later(4)),
        )

    def test_a_taper_in_error_before_any_step_returns_to_active(self) -> None:
        plan, rx = on_sertraline("100")
        steps = [TaperStep(NOW.date() + timedelta(days=5), mg("50"))]
        plan.start_taper(rx, steps, "remission", later(1), formulary=FORMULARY)
        mark_last(plan, "TaperStarted")
        assert (plan.prescription(rx).status, plan.prescription(rx).taper) == ("active", [])

    def test_a_taper_with_steps_taken_cannot_be_undone_first(self) -> None:
        plan, rx = on_sertraline("100")
        steps = [TaperStep(NOW.date() + timedelta(days=1), mg("50"))]
        plan.start_taper(rx, steps, "remission", later(1), formulary=FORMULARY)
        plan.change_dose(rx, mg("50"), "step 1", None, later(1), formulary=FORMULARY)
        raised("entry.superseded", lambda: mark_last(plan, "TaperStarted"))


class TestFollowUps:
    def test_a_missed_follow_up_in_error_is_pending_again(self) -> None:
        plan, _ = on_sertraline()
        (follow_up,) = plan.follow_ups.values()
        plan.mark_follow_up_missed(follow_up.follow_up_id, "no answer", later(15))
        mark_last(plan, "FollowUpMissed", "they came, the note was lost")
        assert follow_up.is_pending

    def test_a_completion_in_error_drops_its_measurements(self) -> None:
        plan, _ = on_sertraline()
        (follow_up,) = plan.follow_ups.values()
        plan.complete_follow_up(
            follow_up.follow_up_id, "in_person", [], ["nausea"], None, later(14)
        )
        mark_last(plan, "FollowUpCompleted")
        assert (follow_up.status, follow_up.completed_at) == ("scheduled", None)

    def test_a_rescheduling_in_error_returns_to_the_date_before(self) -> None:
        plan, _ = on_sertraline()
        (follow_up,) = plan.follow_ups.values()
        before = (follow_up.due_on, follow_up.modality)
        moved = NOW.date() + timedelta(days=21)
        plan.reschedule_follow_up(follow_up.follow_up_id, moved, "in_person", "away", later(1))
        mark_last(plan, "FollowUpRescheduled")
        assert (follow_up.due_on, follow_up.modality) == before
        rebuilt = replay(plan).follow_ups[follow_up.follow_up_id]
        assert (rebuilt.due_on, rebuilt.modality) == before

    def test_an_earlier_rescheduling_waits_for_the_later_one(self) -> None:
        plan, _ = on_sertraline()
        (follow_up,) = plan.follow_ups.values()
        for days in (21, 28):
            plan.reschedule_follow_up(
                follow_up.follow_up_id, NOW.date() + timedelta(days=days), None, "away", later(1)
            )
        first = next(e for e in plan.pending_events if type(e).__name__ == "FollowUpRescheduled")
        raised(
            "entry.superseded",
            lambda: plan.mark_entry_in_error(first.originator_version, first, "x", later(2)),
        )

    def test_additions_to_the_record_have_nothing_to_undo(self) -> None:
        plan, _ = on_sertraline()
        plan.schedule_follow_up(FollowUpPlan(NOW.date() + timedelta(days=7)), later(1))
        plan.report_side_effect("tremor", "mild", "monitor", later(2))
        assert mark_last(plan, "SideEffectReported").restores == {}


class TestWarnings:
    def test_an_acknowledgement_in_error_makes_its_warning_wait_again(self) -> None:
        plan, rx = on_sertraline("25")
        increased(plan, rx, "150", 3)
        (key, finding), *_ = [(k, f) for k, f in plan.pending_acknowledgements.items()]
        plan.acknowledge_warning(rx, key[1], "prior response at 150 mg", later(3))
        assert key not in plan.pending_acknowledgements
        mark_last(plan, "SafetyWarningAcknowledged", "acknowledged for the wrong patient")
        assert plan.pending_acknowledgements[key] == finding
        assert replay(plan).pending_acknowledgements[key] == finding

    def test_a_review_flag_in_error_withdraws_its_warnings(self) -> None:
        plan, rx = on_sertraline("25")
        plan.record_evaluation(
            Evaluation("reassessment", "in_person", (), current_medications=("tramadol 50 mg",)),
            later(1),
            FORMULARY,
        )
        flagged = [k for k in plan.pending_acknowledgements if k[0] == rx]
        assert flagged
        mark_last(plan, "MedicationReviewFlagged", "tramadol was never started")
        assert not [k for k in plan.pending_acknowledgements if k[0] == rx]
