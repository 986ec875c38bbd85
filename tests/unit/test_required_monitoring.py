"""Medications bring their monitoring: due items scheduled on start and change."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from domain.care_plan import CarePlan
from domain.values import FollowUpPlan
from tests.unit.clinic import FORMULARY, NOW, ctx, evaluated_plan, mg

DAY = timedelta(days=1)


def start(drug: str, amount: str, frequency: str = "daily") -> tuple[CarePlan, str]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        drug,
        mg(amount),
        frequency,
        "oral",
        "test",
        FollowUpPlan(NOW.date() + 7 * DAY),
        ctx(),
        formulary=FORMULARY,
    )
    return plan, rx


def scheduled(plan: CarePlan, rx: str) -> Counter[str]:
    return Counter(item.test for item in plan.monitoring.get(rx, []))


def test_starting_lithium_schedules_its_level_and_baseline_labs() -> None:
    plan, rx = start("lithium", "300", "twice_daily")
    assert scheduled(plan, rx) == Counter(
        {"lithium_level": 1, "renal_function": 3, "thyroid_function": 3, "calcium": 3}
    )
    level = next(i for i in plan.monitoring[rx] if i.test == "lithium_level")
    assert level.due_on == NOW.date() + 7 * DAY


def test_clozapine_schedules_a_year_of_anc() -> None:
    plan, rx = start("clozapine", "12.5")
    assert scheduled(plan, rx)["anc"] == 26 + 13


def test_a_drug_without_monitoring_schedules_nothing() -> None:
    plan, rx = start("sertraline", "50")
    assert rx not in plan.monitoring
    assert "MonitoringScheduled" not in [type(e).__name__ for e in plan.pending_events]


def test_a_lithium_dose_change_schedules_another_level() -> None:
    plan, rx = start("lithium", "300", "twice_daily")
    plan.change_dose(rx, mg("450"), "level low", None, ctx(at=NOW + 8 * DAY), formulary=FORMULARY)
    levels = [i.due_on for i in plan.monitoring[rx] if i.test == "lithium_level"]
    assert levels == [NOW.date() + 7 * DAY, NOW.date() + 15 * DAY]


def test_raising_lithium_while_its_level_is_overdue_warns() -> None:
    plan, rx = start("lithium", "300", "twice_daily")
    warnings = plan.change_dose(
        rx, mg("450"), "still manic", None, ctx(at=NOW + 9 * DAY), formulary=FORMULARY
    )
    assert "monitoring.overdue_before_increase" in [w.code for w in warnings]


def test_raising_lithium_before_its_level_is_due_does_not_warn() -> None:
    plan, rx = start("lithium", "300", "twice_daily")
    warnings = plan.change_dose(
        rx, mg("450"), "still manic", None, ctx(at=NOW + 6 * DAY), formulary=FORMULARY
    )
    assert "monitoring.overdue_before_increase" not in [w.code for w in warnings]


def test_lowering_lithium_with_an_overdue_level_does_not_warn() -> None:
    plan, rx = start("lithium", "600", "twice_daily")
    warnings = plan.change_dose(
        rx, mg("300"), "tremor", None, ctx(at=NOW + 9 * DAY), formulary=FORMULARY
    )
    assert "monitoring.overdue_before_increase" not in [w.code for w in warnings]


def test_due_items_are_listed_for_a_day() -> None:
    plan, rx = start("lithium", "300", "twice_daily")
    due = {(d.prescription_id, d.item.test) for d in plan.due_items(NOW.date())}
    assert due == {(rx, "renal_function"), (rx, "thyroid_function"), (rx, "calcium")}
