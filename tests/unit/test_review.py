"""An evaluation judges again what the patient already takes (domain.review)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue
from domain.values import Evaluation
from projections.audit_trail import summarise
from tests.unit.clinic import (
    FORMULARY,
    NOW,
    ctx,
    evaluated_plan,
    in_weeks,
    initial_evaluation,
    mg,
    replay,
)


def reassessment(*taking: str, found: set[str] = set(), ended: set[str] = set()) -> Evaluation:  # noqa: B006
    return Evaluation(
        "reassessment",
        "telehealth",
        (),
        current_medications=taking,
        conditions=frozenset(found),
        resolved_conditions=frozenset(ended),
    )


def on(drug: str, amount: str, frequency: str = "daily") -> tuple[CarePlan, str]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        drug, mg(amount), frequency, "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    return plan, rx


def test_a_condition_that_lowers_the_maximum_flags_a_dose_above_it() -> None:
    plan, rx = on("escitalopram", "20")
    flagged = plan.record_evaluation(
        reassessment(found={"hepatic_impairment"}), ctx(), FORMULARY
    ).flagged
    assert [(f.code, f.severity) for f in flagged[rx]] == [("dose.above_maximum", "warn")]
    assert (rx, "dose.above_maximum") in plan.pending_acknowledgements
    event = plan.pending_events[-1]
    assert isinstance(event, CarePlan.MedicationReviewFlagged)
    assert event.evaluation_version == event.originator_version - 1


def test_a_dose_within_the_lowered_maximum_is_not_flagged() -> None:
    plan, _ = on("escitalopram", "10")
    assert (
        plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx(), FORMULARY).flagged
        == {}
    )


def test_a_drug_taken_elsewhere_brings_its_interaction_to_the_standing_prescription() -> None:
    plan, rx = on("lithium", "300", "twice_daily")
    flagged = plan.record_evaluation(reassessment("Ibuprofen 400 mg"), ctx(), FORMULARY).flagged
    assert [f.code for f in flagged[rx]] == ["interaction.lithium_level"]


def test_a_reassessment_that_changes_nothing_flags_nothing() -> None:
    plan, _ = on("lithium", "300", "twice_daily")
    assert plan.record_evaluation(reassessment("Paracetamol 1 g"), ctx(), FORMULARY).flagged == {}


def test_a_finding_is_put_once_not_at_every_reassessment() -> None:
    plan, rx = on("escitalopram", "20")
    plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx(), FORMULARY)
    plan.acknowledge_warning(rx, "dose.above_maximum", "level checked, liver stable", ctx())
    assert plan.record_evaluation(reassessment(), ctx(), FORMULARY).flagged == {}


def test_an_interaction_shown_at_prescribing_is_not_flagged_again() -> None:
    plan = evaluated_plan()
    plan.record_evaluation(reassessment("Ibuprofen 400 mg"), ctx())
    _, warnings = plan.prescribe(
        "lithium",
        mg("300"),
        "twice_daily",
        "oral",
        "bipolar",
        in_weeks(1),
        ctx(),
        formulary=FORMULARY,
    )
    assert "interaction.lithium_level" in [w.code for w in warnings]
    assert plan.record_evaluation(reassessment("Ibuprofen 400 mg"), ctx(), FORMULARY).flagged == {}


def test_two_drugs_of_the_plan_are_not_judged_again_from_the_other_side() -> None:
    plan, _ = on("sertraline", "25")
    plan.prescribe(
        "trazodone", mg("50"), "at_bedtime", "oral", "insomnia", None, ctx(), formulary=FORMULARY
    )
    assert plan.record_evaluation(reassessment(), ctx(), FORMULARY).flagged == {}


def test_a_lower_dose_answers_the_flag() -> None:
    plan, rx = on("escitalopram", "20")
    plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx(), FORMULARY)
    later = ctx(at=NOW + timedelta(days=1))
    plan.change_dose(rx, mg("10"), "hepatic impairment", in_weeks(2), later, formulary=FORMULARY)
    assert (rx, "dose.above_maximum") not in plan.pending_acknowledgements


def test_the_flag_survives_replay() -> None:
    plan, rx = on("escitalopram", "20")
    plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx(), FORMULARY)
    rebuilt = replay(plan)
    assert (rx, "dose.above_maximum") in rebuilt.pending_acknowledgements
    assert rebuilt.prescription(rx).raised == plan.prescription(rx).raised


def test_the_patient_grown_older_is_flagged_at_the_next_evaluation() -> None:
    plan = CarePlan.open("pt-9", ctx(), birth_date=date(1965, 6, 1))  # 60 at NOW
    plan.record_evaluation(initial_evaluation(), ctx())
    rx, _ = plan.prescribe(
        "citalopram", mg("40"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
    )
    turned_61 = ctx(at=NOW + timedelta(days=120))  # over 60: citalopram at most 20 mg
    flagged = plan.record_evaluation(reassessment(), turned_61, FORMULARY).flagged
    assert [f.code for f in flagged[rx]] == ["dose.above_maximum"]


def test_without_a_formulary_given_the_bundled_one_judges() -> None:
    """Fail closed: an evaluation recorded without naming a formulary is still judged."""
    plan, rx = on("escitalopram", "20")
    flagged = plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx()).flagged
    assert [f.code for f in flagged[rx]] == ["dose.above_maximum"]


class TestConditionsEnd:
    def test_a_resolved_condition_no_longer_lowers_the_maximum(self) -> None:
        plan = evaluated_plan()
        plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx())
        assert "hepatic_impairment" in plan.conditions
        plan.record_evaluation(reassessment(ended={"hepatic_impairment"}), ctx())
        assert "hepatic_impairment" not in plan.conditions
        rx, _ = plan.prescribe(
            "escitalopram", mg("5"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
        )
        later = ctx(at=NOW + timedelta(days=14))
        plan.change_dose(rx, mg("20"), "partial response", in_weeks(4), later, formulary=FORMULARY)
        assert plan.prescription(rx).dose == mg("20")  # not blocked by the ended impairment

    def test_a_condition_both_present_and_resolved_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            reassessment(found={"pregnant"}, ended={"pregnant"})
        assert refused.value.code == "evaluation.condition_contradictory"

    def test_resolving_an_unknown_condition_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            reassessment(ended={"gout"})
        assert refused.value.code == "evaluation.unknown_condition"


def test_the_audit_trail_says_what_was_flagged_and_by_which_evaluation() -> None:
    plan, _ = on("escitalopram", "20")
    plan.record_evaluation(reassessment(found={"hepatic_impairment"}), ctx(), FORMULARY)
    flagged = plan.pending_events[-1]
    assert summarise(flagged) == (
        f"escitalopram flagged by evaluation {flagged.originator_version - 1}: dose.above_maximum"
    )
