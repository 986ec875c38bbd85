"""Clinical checks (rash, pregnancy status): they complete due items, and a positive
one on the drug it concerns is urgent (domain.checks)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue
from projections.audit_trail import summarise
from tests.unit.clinic import FORMULARY, NOW, ctx, evaluated_plan, in_weeks, mg


def on(drug: str, amount: str, frequency: str = "daily") -> CarePlan:
    plan = evaluated_plan()
    plan.prescribe(
        drug, mg(amount), frequency, "oral", "bipolar", in_weeks(1), ctx(), formulary=FORMULARY
    )
    return plan


def test_a_rash_on_lamotrigine_is_urgent_with_the_boxed_warning_source() -> None:
    plan = on("lamotrigine", "25")
    _, urgent = plan.record_check("rash_check", True, ctx(), formulary=FORMULARY)
    [finding] = urgent
    assert finding.code == "lamotrigine.rash"
    assert "SJS/TEN" in finding.message
    assert "boxed warning" in finding.source


def test_no_rash_is_not_urgent_and_completes_the_due_check() -> None:
    plan = on("lamotrigine", "25")
    day_14 = NOW.date() + timedelta(days=14)
    assert [d.item.test for d in plan.due_items(day_14)] == ["rash_check"]
    later = ctx(at=NOW + timedelta(days=13))
    _, urgent = plan.record_check("rash_check", False, later, formulary=FORMULARY)
    assert urgent == []
    assert plan.due_items(day_14) == []


def test_a_rash_without_lamotrigine_is_recorded_but_not_urgent() -> None:
    plan = on("sertraline", "25")
    assert plan.record_check("rash_check", True, ctx(), formulary=FORMULARY)[1] == []


def test_pregnancy_on_valproate_is_urgent() -> None:
    plan = on("divalproex", "250", "three_times_daily")
    _, urgent = plan.record_check(
        "pregnancy_status", True, ctx(), formulary=FORMULARY, note="hCG positive"
    )
    assert [f.code for f in urgent] == ["valproate.pregnancy"]
    event = plan.pending_events[-1]
    assert (event.present, event.note, [f.code for f in event.urgent]) == (
        True,
        "hCG positive",
        ["valproate.pregnancy"],
    )
    assert summarise(event) == "Check pregnancy status: positive (hCG positive)"


def test_an_unknown_check_is_refused() -> None:
    plan = evaluated_plan()
    with pytest.raises(InvalidValue) as refused:
        plan.record_check("mood_check", True, ctx(), formulary=FORMULARY)
    assert refused.value.code == "check.unknown"
