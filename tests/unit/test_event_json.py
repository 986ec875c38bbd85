"""The public JSON of an event: the same for /history and for Kafka."""

from __future__ import annotations

import json

from services.event_json import history_entry, message_value
from tests.unit.clinic import FORMULARY, ctx, in_weeks, mg, on_sertraline


def test_a_prescription_entry_carries_envelope_and_exact_dose() -> None:
    plan, rx = on_sertraline("37.5")
    prescribed = plan.pending_events[2]
    entry = history_entry(prescribed)
    assert entry["type"] == "MedicationPrescribed"
    assert entry["version"] == 3
    assert entry["actor"] == {"id": "dr-ada", "role": "prescriber", "name": "Dr Ada"}
    assert entry["occurred_at"] == "2026-03-02T09:30:00Z"
    assert entry["recorded_at"].endswith("Z")
    assert entry["correlation_id"] == "req-1"
    assert entry["data"]["prescription_id"] == rx
    assert entry["data"]["dose"] == {"amount": "37.5", "unit": "mg"}
    assert "originator_id" not in entry["data"]


def test_the_kafka_value_is_the_history_entry_plus_the_plan() -> None:
    plan, rx = on_sertraline()
    plan.change_dose(rx, mg("50"), "tolerating", in_weeks(4), ctx(), formulary=FORMULARY)
    changed, scheduled = plan.pending_events[-2:]
    value = message_value(changed)
    assert value == {"care_plan_id": str(plan.id), **history_entry(changed)}
    assert json.loads(json.dumps(value)) == value
    assert value["data"]["previous_dose"] == {"amount": "25", "unit": "mg"}
    assert message_value(scheduled)["data"]["due_on"] == "2026-03-30"
