"""A fact a rule needs but does not have is a finding, never silence."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.care_plan import CarePlan
from domain.errors import RuleViolation
from domain.values import Evaluation, FollowUpPlan
from tests.unit.clinic import BIRTH_DATE, FORMULARY, NOW, ctx, initial_evaluation, mg


def plan_without(birth_date: date | None = None, weight_kg: Decimal | None = None) -> CarePlan:
    plan = CarePlan.open("pt-1", ctx(), birth_date)
    evaluation = Evaluation(**{**initial_evaluation().__dict__, "weight_kg": weight_kg})
    plan.record_evaluation(evaluation, ctx())
    return plan


def start(plan: CarePlan, drug: str, amount: str, frequency: str, days: int) -> list:
    follow_up = FollowUpPlan(NOW.date() + timedelta(days=days))
    _, warnings = plan.prescribe(
        drug, mg(amount), frequency, "oral", "test", follow_up, ctx(), formulary=FORMULARY
    )
    return warnings


def found(warnings: list, code: str) -> list:
    return [w for w in warnings if w.code == code]


class TestAgeUnknown:
    def test_citalopram_40_without_a_birth_date_names_the_missing_fact(self) -> None:
        (finding,) = found(
            start(plan_without(), "citalopram", "40", "daily", 28), "patient.age_unknown"
        )
        assert finding.severity == "warn"
        assert "birth date" in finding.message
        assert "maximum over 60" in finding.message
        assert "under 25" in finding.message  # an antidepressant start: the boxed warning

    def test_the_same_start_with_a_birth_date_says_nothing_of_age(self) -> None:
        plan = plan_without(BIRTH_DATE)
        assert found(start(plan, "citalopram", "40", "daily", 28), "patient.age_unknown") == []

    def test_a_drug_with_no_age_rule_needs_no_age(self) -> None:
        plan = plan_without()
        assert found(start(plan, "prazosin", "1", "at_bedtime", 28), "patient.age_unknown") == []

    def test_a_birth_date_supplied_by_an_evaluation_ends_the_finding(self) -> None:
        plan = plan_without()
        later = Evaluation("reassessment", "in_person", (), birth_date=date(1950, 1, 1))
        plan.record_evaluation(later, ctx())
        assert plan.birth_date == date(1950, 1, 1)
        assert found(start(plan, "sertraline", "50", "daily", 14), "patient.age_unknown") == []

    def test_a_known_age_then_applies_its_rule(self) -> None:
        plan = plan_without()
        plan.record_evaluation(
            Evaluation("reassessment", "in_person", (), birth_date=date(1950, 1, 1)), ctx()
        )
        with pytest.raises(RuleViolation) as refused:
            start(plan, "citalopram", "40", "daily", 28)
        assert refused.value.code == "dose.above_maximum"


class TestWeightUnknown:
    def test_divalproex_without_a_weight_names_the_missing_fact(self) -> None:
        warnings = start(plan_without(BIRTH_DATE), "divalproex", "250", "three_times_daily", 14)
        (finding,) = found(warnings, "patient.weight_unknown")
        assert "60 mg/kg/day" in finding.message

    def test_with_a_weight_the_per_kilogram_maximum_applies_and_nothing_is_missing(self) -> None:
        plan = plan_without(BIRTH_DATE, Decimal("70"))
        warnings = start(plan, "divalproex", "250", "three_times_daily", 14)
        assert found(warnings, "patient.weight_unknown") == []

    def test_a_drug_with_no_per_kilogram_maximum_needs_no_weight(self) -> None:
        warnings = start(plan_without(BIRTH_DATE), "sertraline", "50", "daily", 14)
        assert found(warnings, "patient.weight_unknown") == []
