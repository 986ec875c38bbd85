"""Interactions are judged at the moment of risk: every increase, every new order."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from domain.care_plan import CarePlan
from domain.errors import RuleViolation
from domain.values import CommandContext, Evaluation
from tests.unit.clinic import (
    BIRTH_DATE,
    FORMULARY,
    NOW,
    ctx,
    in_weeks,
    initial_evaluation,
    mg,
)


def day(number: int) -> datetime:
    return NOW + timedelta(days=number)


def on_day(number: int) -> CommandContext:
    return ctx(at=day(number))


def plan_taking(*elsewhere: str) -> CarePlan:
    plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
    evaluation = initial_evaluation()
    plan.record_evaluation(
        Evaluation(**{**evaluation.__dict__, "current_medications": elsewhere}), ctx()
    )
    return plan


def codes(findings: list) -> list[str]:
    return [f.code for f in findings]


def prescribe(plan: CarePlan, drug: str, amount: str, frequency: str = "daily") -> tuple:
    return plan.prescribe(
        drug, mg(amount), frequency, "oral", "test", in_weeks(1), ctx(), formulary=FORMULARY
    )


def raise_dose(plan: CarePlan, rx: str, amount: str, day: int = 10) -> list:
    return plan.change_dose(
        rx, mg(amount), "partial response", in_weeks(3), on_day(day), formulary=FORMULARY
    )


class TestLithiumWithAnNsaid:
    def test_an_acknowledged_interaction_warns_again_when_lithium_is_raised(self) -> None:
        plan = plan_taking("Ibuprofen 400 mg three times daily")
        rx, warnings = prescribe(plan, "lithium", "300", "twice_daily")
        assert "interaction.lithium_level" in codes(warnings)
        plan.acknowledge_warning(rx, "interaction.lithium_level", "level in 5 days", ctx())
        plan.record_lab_result("lithium_level", Decimal("0.5"), "mEq/L", day(7), on_day(7))
        warnings = raise_dose(plan, rx, "450")
        assert "interaction.lithium_level" in codes(warnings)
        assert (rx, "interaction.lithium_level") in plan.pending_acknowledgements

    def test_lowering_lithium_does_not_raise_it_again(self) -> None:
        plan = plan_taking("Ibuprofen 400 mg three times daily")
        rx, _ = prescribe(plan, "lithium", "450", "twice_daily")
        warnings = plan.change_dose(
            rx, mg("300"), "tremor", in_weeks(2), on_day(3), formulary=FORMULARY
        )
        assert "interaction.lithium_level" not in codes(warnings)

    def test_a_thiazide_recorded_later_is_judged_at_the_next_increase(self) -> None:
        plan = plan_taking()
        rx, warnings = prescribe(plan, "lithium", "300", "twice_daily")
        assert "interaction.lithium_level" not in codes(warnings)
        plan.record_evaluation(
            Evaluation("reassessment", "telehealth", (), current_medications=("HCTZ 25 mg",)),
            on_day(3),
        )
        plan.acknowledge_warning(rx, "interaction.lithium_level", "GP aware", on_day(3))
        plan.record_lab_result("lithium_level", Decimal("0.5"), "mEq/L", day(7), on_day(7))
        assert "interaction.lithium_level" in codes(raise_dose(plan, rx, "450"))


class TestOtherInteractionsADoseMakesRiskier:
    def test_raising_clozapine_beside_fluvoxamine_warns_each_time(self) -> None:
        plan = plan_taking()
        _fluvoxamine, _ = prescribe(plan, "fluvoxamine", "50", "at_bedtime")
        clozapine, warnings = prescribe(plan, "clozapine", "12.5")
        assert "interaction.clozapine_cyp1a2" in codes(warnings)
        plan.acknowledge_warning(clozapine, "interaction.clozapine_cyp1a2", "third dose", ctx())
        plan.record_lab_result("anc", Decimal("2500"), "cells/µL", day(6), on_day(6))
        assert "interaction.clozapine_cyp1a2" in codes(raise_dose(plan, clozapine, "25", 6))

    def test_raising_the_inhibitor_warns_too(self) -> None:
        plan = plan_taking()
        _clozapine, _ = prescribe(plan, "clozapine", "12.5")
        fluvoxamine, warnings = prescribe(plan, "fluvoxamine", "50", "at_bedtime")
        assert "interaction.clozapine_cyp1a2" in codes(warnings)
        assert "interaction.clozapine_cyp1a2" in codes(raise_dose(plan, fluvoxamine, "100"))

    def test_raising_one_of_a_qt_pair_warns(self) -> None:
        plan = plan_taking("Ondansetron 4 mg as needed")
        rx, warnings = prescribe(plan, "citalopram", "20")
        assert "interaction.qt_prolongation" in codes(warnings)
        plan.acknowledge_warning(rx, "interaction.qt_prolongation", "ECG normal", ctx())
        assert "interaction.qt_prolongation" in codes(raise_dose(plan, rx, "40"))

    def test_raising_a_drug_with_no_interacting_partner_raises_no_interaction(self) -> None:
        plan = plan_taking()
        rx, _ = prescribe(plan, "sertraline", "50")
        assert [c for c in codes(raise_dose(plan, rx, "100")) if c.startswith("interaction.")] == []

    def test_a_benzodiazepine_raised_beside_buprenorphine_warns(self) -> None:
        plan = plan_taking()
        prescribe(plan, "buprenorphine", "8", "daily")
        rx, warnings = prescribe(plan, "clonazepam", "0.25", "twice_daily")
        assert "interaction.benzodiazepine_opioid" in codes(warnings)
        assert "interaction.benzodiazepine_opioid" in codes(raise_dose(plan, rx, "0.5", 14))

    def test_a_contraindicated_pair_blocks_a_new_order_whichever_came_first(self) -> None:
        plan = plan_taking("Clarithromycin 500 mg twice daily")
        _, warnings = prescribe(plan, "quetiapine", "25", "twice_daily")
        assert "interaction.cyp3a4_inhibitor" in codes(warnings)
        with pytest.raises(RuleViolation) as refused:
            prescribe(plan, "lurasidone", "40")
        assert refused.value.code == "interaction.contraindicated"
        assert "clarithromycin" in refused.value.message
