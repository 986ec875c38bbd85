"""The reference consumer's state, fed Kafka values built from domain events."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.event_json import message_value
from services.medication_state import MedicationState
from tests.unit.clinic import FORMULARY, ctx, in_weeks, mg, on_sertraline


def test_prescribing_changing_and_stopping_show_in_the_state() -> None:
    plan, sertraline = on_sertraline()
    plan.change_dose(sertraline, mg("50"), "tolerating", in_weeks(4), ctx(), formulary=FORMULARY)
    prazosin, _ = plan.prescribe(
        "prazosin", mg("1"), "at_bedtime", "oral", "nightmares", None, ctx(), formulary=FORMULARY
    )
    plan.discontinue(prazosin, "nightmares resolved", ctx(), formulary=FORMULARY)
    state = MedicationState()
    with state.transaction():
        for event in plan.pending_events:
            state.apply(message_value(event))
    rows = {row["drug"]: row for row in state.medications(str(plan.id))}
    assert rows["sertraline"] == {
        "prescription_id": sertraline,
        "care_plan_id": str(plan.id),
        "drug": "sertraline",
        "dose_amount": "50",
        "dose_unit": "mg",
        "frequency": "daily",
        "route": "oral",
        "status": "active",
    }
    assert rows["prazosin"]["status"] == "discontinued"
    assert state.applied_versions() == {str(plan.id): plan.version}


def test_a_prescription_marked_in_error_leaves_the_active_list() -> None:
    plan, _ = on_sertraline()
    prescribed = plan.pending_events[2]
    plan.mark_entry_in_error(prescribed.originator_version, prescribed, "wrong patient", ctx())
    state = MedicationState()
    with state.transaction():
        for event in plan.pending_events:
            state.apply(message_value(event))
    assert [row["status"] for row in state.medications()] == ["entered_in_error"]


def test_a_dose_change_and_a_stop_in_error_are_undone_as_the_projection_does() -> None:
    plan, sertraline = on_sertraline("25")
    plan.change_dose(sertraline, mg("50"), "tolerating", in_weeks(4), ctx(), formulary=FORMULARY)
    changed = next(e for e in plan.pending_events if type(e).__name__ == "DoseChanged")
    plan.mark_entry_in_error(changed.originator_version, changed, "other patient", ctx())
    prazosin, _ = plan.prescribe(
        "prazosin", mg("1"), "at_bedtime", "oral", "nightmares", None, ctx(), formulary=FORMULARY
    )
    plan.discontinue(prazosin, "resolved", ctx(), formulary=FORMULARY)
    stopped = plan.pending_events[-1]
    plan.mark_entry_in_error(stopped.originator_version, stopped, "misread chart", ctx())
    state = MedicationState()
    with state.transaction():
        for event in plan.pending_events:
            state.apply(message_value(event))
    rows = {row["drug"]: (row["dose_amount"], row["status"]) for row in state.medications()}
    assert rows == {"sertraline": ("25", "active"), "prazosin": ("1", "active")}


def test_a_failed_batch_leaves_neither_rows_nor_versions() -> None:
    plan, _ = on_sertraline()
    state = MedicationState()
    broken = {"type": "MedicationPrescribed", "care_plan_id": "x", "data": {}}

    def apply_batch() -> None:
        with state.transaction():
            for event in plan.pending_events:
                state.apply(message_value(event))
            state.apply(broken)

    with pytest.raises(KeyError):
        apply_batch()
    assert state.medications() == []
    assert state.applied_versions() == {}


def test_a_state_file_keeps_rows_and_versions_across_restarts(tmp_path: Path) -> None:
    plan, _ = on_sertraline()
    path = tmp_path / "medications.db"
    first = MedicationState(path)
    assert not first.in_memory
    with first.transaction():
        for event in plan.pending_events:
            first.apply(message_value(event))
    first.close()
    again = MedicationState(path)
    assert len(again.medications()) == 1
    assert again.applied_versions() == {str(plan.id): plan.version}
    assert MedicationState().in_memory
