"""Every drug has a ceiling: the label's maximum, or where the label doses by serum level
or weight, a practical maximum (warns) and an absolute plausibility ceiling (refuses)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, RuleViolation
from domain.values import Dose, Evaluation, FollowUpPlan
from tests.unit.clinic import BIRTH_DATE, FORMULARY, NOW, ctx, initial_evaluation, mg

DRUGS = sorted(FORMULARY.drugs)


def evaluated(weight_kg: Decimal | None = Decimal("70")) -> CarePlan:
    plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
    plan.record_evaluation(
        Evaluation(**{**initial_evaluation().__dict__, "weight_kg": weight_kg}), ctx()
    )
    return plan


def start(plan: CarePlan, drug: str, amount: str, frequency: str = "daily") -> list:
    follow_up = FollowUpPlan(NOW.date() + timedelta(days=7))
    _, warnings = plan.prescribe(
        drug, mg(amount), frequency, "oral", "test", follow_up, ctx(), formulary=FORMULARY
    )
    return warnings


def test_every_drug_has_a_ceiling_with_a_source() -> None:
    for drug in FORMULARY.drugs.values():
        ceiling = drug.max_daily or drug.ceiling_daily
        assert ceiling is not None, drug.name
        assert drug.source("ceiling" if drug.max_daily is None else "dosing"), drug.name


@settings(max_examples=len(DRUGS), deadline=None)
@given(name=st.sampled_from(DRUGS), weighed=st.booleans())
def test_ten_times_any_drugs_maximum_is_refused(name: str, weighed: bool) -> None:
    drug = FORMULARY.drugs[name]
    maximum = drug.max_daily or drug.practical_max_daily
    assert maximum is not None
    plan = evaluated(Decimal("70") if weighed else None)
    with pytest.raises((RuleViolation, InvalidValue)) as refused:
        start(plan, name, format(maximum * 10, "f"))
    assert refused.value.code.startswith("dose."), refused.value.code


class TestLevelGuidedDrugs:
    def test_lithium_30000_mg_three_times_daily_is_refused(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            start(evaluated(), "lithium", "30000", "three_times_daily")
        assert refused.value.code == "dose.above_ceiling"
        assert refused.value.source  # the ceiling names its source

    def test_divalproex_90000_mg_is_refused_even_without_a_weight(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            start(evaluated(None), "divalproex", "90000")
        assert refused.value.code == "dose.above_ceiling"

    def test_lithium_above_the_practical_maximum_warns(self) -> None:
        warnings = start(evaluated(), "lithium", "900", "three_times_daily")
        assert "dose.above_practical_maximum" in [w.code for w in warnings]

    def test_lithium_at_a_usual_dose_does_not(self) -> None:
        warnings = start(evaluated(), "lithium", "300", "three_times_daily")
        assert "dose.above_practical_maximum" not in [w.code for w in warnings]

    def test_with_a_weight_divalproex_is_held_to_its_label_maximum_per_kilogram(self) -> None:
        with pytest.raises(RuleViolation) as refused:
            start(evaluated(Decimal("50")), "divalproex", "1100", "three_times_daily")
        assert refused.value.code == "dose.above_maximum"
        assert "60 mg/kg at 50 kg" in refused.value.message

    def test_without_a_weight_the_practical_maximum_stands_in(self) -> None:
        warnings = start(evaluated(None), "divalproex", "1500", "three_times_daily")
        codes = [w.code for w in warnings]
        assert "dose.above_practical_maximum" in codes
        assert "patient.weight_unknown" in codes


def test_a_dose_in_grams_typed_as_milligrams_is_refused_at_the_value() -> None:
    with pytest.raises(InvalidValue):
        Dose(Decimal("300000"), "mg")
