"""Self-harm screening at the visit: item scores are taken where they are recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import InvalidValue
from domain.scales import MeasurementGiven, validated_measurement
from tests.unit.clinic import NOW, ctx, on_sertraline, replay

PHQ9_ITEM_9_POSITIVE = (1, 2, 1, 1, 0, 1, 1, 0, 1)
PHQ9_ITEM_9_ZERO = (1, 2, 1, 1, 0, 1, 1, 1, 0)


def complete(*measurements: object) -> tuple[list, object]:
    plan, _ = on_sertraline()
    (follow_up_id,) = plan.follow_ups
    findings = plan.complete_follow_up(
        follow_up_id,
        "telehealth",
        list(measurements),  # type: ignore[arg-type]
        [],
        None,
        ctx(at=NOW + timedelta(days=14)),
    )
    return findings, plan


class TestItemScoresAtTheVisit:
    def test_a_positive_item_9_at_the_visit_is_urgent(self) -> None:
        findings, plan = complete(MeasurementGiven("PHQ-9", items=PHQ9_ITEM_9_POSITIVE))
        assert [(f.code, f.severity) for f in findings] == [
            ("measurement.self_harm_risk", "urgent")
        ]
        event = plan.pending_events[-1]
        assert event.findings == findings  # kept with the visit
        (measurement,) = event.measurements
        assert (measurement.total, measurement.items) == (8, PHQ9_ITEM_9_POSITIVE)

    def test_item_9_at_zero_raises_nothing(self) -> None:
        findings, _ = complete(MeasurementGiven("PHQ-9", items=PHQ9_ITEM_9_ZERO))
        assert findings == []

    def test_the_visit_answers_exactly_as_a_measurement_on_its_own(self) -> None:
        at_visit, plan = complete(MeasurementGiven("PHQ-9", items=PHQ9_ITEM_9_POSITIVE))
        _, alone = plan.record_measurement("PHQ-9", ctx(), items=PHQ9_ITEM_9_POSITIVE)
        assert at_visit == alone

    def test_a_total_only_phq9_says_item_9_is_unknown(self) -> None:
        findings, _ = complete(validated_measurement("PHQ-9", 12))
        assert [(f.code, f.severity) for f in findings] == [
            ("measurement.self_harm_item_unknown", "warn")
        ]
        assert "item 9" in findings[0].message

    def test_a_total_of_zero_leaves_nothing_unknown(self) -> None:
        findings, _ = complete(MeasurementGiven("PHQ-9", total=0))
        assert findings == []

    def test_a_total_only_measurement_outside_a_visit_says_so_too(self) -> None:
        plan, _ = on_sertraline()
        _, findings = plan.record_measurement("PHQ-9", ctx(), total=9)
        assert [f.code for f in findings] == ["measurement.self_harm_item_unknown"]

    def test_items_and_a_total_that_disagree_are_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            complete(MeasurementGiven("PHQ-9", total=3, items=PHQ9_ITEM_9_ZERO))
        assert refused.value.code == "measurement.items_mismatch"

    def test_items_of_a_licensed_scale_are_refused_at_the_visit_too(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            complete(MeasurementGiven("C-SSRS", items=(1, 1, 1)))
        assert refused.value.code == "measurement.items_not_licensed"

    def test_a_cssrs_with_intent_at_the_visit_is_urgent(self) -> None:
        findings, _ = complete(MeasurementGiven("C-SSRS", total=4))
        assert [(f.code, f.severity) for f in findings] == [
            ("measurement.suicidal_ideation_with_intent", "urgent")
        ]

    def test_the_visits_item_scores_survive_a_replay(self) -> None:
        _, plan = complete(MeasurementGiven("GAD-7", items=(1, 1, 1, 1, 1, 1, 1)))
        (follow_up,) = replay(plan).follow_ups.values()
        assert [(m.instrument, m.total, m.items) for m in follow_up.measurements] == [
            ("GAD-7", 7, (1, 1, 1, 1, 1, 1, 1))
        ]
