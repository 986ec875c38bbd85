"""Coded facts: diagnoses checked against their code system, allergies coded against the
formulary and checked at every prescription."""

from __future__ import annotations

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, RuleViolation
from domain.terminology import coded, is_sctid
from domain.values import ICD10CM, SNOMED_CT, Diagnosis, Evaluation
from services.icd10cm import icd10cm_codes
from tests.unit.clinic import BIRTH_DATE, FORMULARY, ctx, in_weeks, initial_evaluation, mg

CODES = icd10cm_codes()


def evaluation(*diagnoses: Diagnosis, allergies: tuple[str, ...] = ()) -> Evaluation:
    return Evaluation("initial", "in_person", diagnoses, allergies=allergies)


class TestDiagnosisCodes:
    def test_a_real_icd10cm_code_is_stored_as_the_code_set_writes_it(self) -> None:
        (diagnosis,) = coded([Diagnosis("f321", "MDD, moderate")], CODES)
        assert (diagnosis.code, diagnosis.system) == ("F32.1", ICD10CM)

    @pytest.mark.parametrize("code", ["banana", "F99.99", "F30-F39", "Z"])
    def test_a_code_the_code_set_does_not_have_is_refused(self, code: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            coded([Diagnosis(code, "whatever")], CODES)
        assert refused.value.code == "diagnosis.unknown_code"
        assert "ICD-10-CM" in refused.value.message

    def test_a_category_is_a_code_too(self) -> None:
        assert coded([Diagnosis("F32", "Depressive episode")], CODES)[0].code == "F32"

    def test_a_snomed_concept_is_checked_by_its_check_digit(self) -> None:
        assert is_sctid("370143000")  # major depressive disorder
        assert not is_sctid("370143001")
        (diagnosis,) = coded([Diagnosis("370143000", "MDD", SNOMED_CT)], CODES)
        assert diagnosis.system == SNOMED_CT
        with pytest.raises(InvalidValue):
            coded([Diagnosis("370143001", "MDD", SNOMED_CT)], CODES)

    def test_an_unknown_code_system_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            coded([Diagnosis("F32.1", "MDD", "urn:local")], CODES)
        assert refused.value.code == "diagnosis.unknown_system"

    def test_an_evaluation_with_a_bad_code_stores_nothing(self) -> None:
        plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
        before = len(plan.pending_events)
        with pytest.raises(InvalidValue):
            plan.record_evaluation(evaluation(Diagnosis("banana", "fruit")), ctx(), codes=CODES)
        assert len(plan.pending_events) == before

    def test_a_diagnosis_stored_before_codes_were_checked_still_loads(self) -> None:
        assert Diagnosis("banana", "as stored in 2025").system == ICD10CM


class TestAllergies:
    def plan(self, *allergies: str) -> CarePlan:
        plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
        base = initial_evaluation()
        plan.record_evaluation(
            evaluation(*base.diagnoses, allergies=allergies), ctx(), FORMULARY, CODES
        )
        return plan

    def prescribe(self, plan: CarePlan, drug: str, amount: str = "25") -> list:
        _, warnings = plan.prescribe(
            drug, mg(amount), "daily", "oral", "test", in_weeks(1), ctx(), formulary=FORMULARY
        )
        return warnings

    def test_allergies_are_coded_as_drugs_and_classes(self) -> None:
        plan = self.plan("Lamictal - rash", "benzodiazepines", "codeine")
        assert plan.allergies == {"drug:lamotrigine", "class:benzodiazepine", "other:codeine"}

    def test_a_drug_the_patient_is_allergic_to_is_refused(self) -> None:
        plan = self.plan("Lamictal - rash")
        with pytest.raises(RuleViolation) as refused:
            self.prescribe(plan, "lamotrigine")
        assert refused.value.code == "allergy.documented"

    def test_a_drug_of_a_class_the_patient_is_allergic_to_is_refused(self) -> None:
        plan = self.plan("benzos (hives)")
        with pytest.raises(RuleViolation) as refused:
            self.prescribe(plan, "lorazepam", "1")
        assert refused.value.code == "allergy.documented"

    def test_a_cross_reacting_drug_warns(self) -> None:
        plan = self.plan("carbamazepine: SJS in 2019")
        warnings = self.prescribe(plan, "lamotrigine")
        assert [w.code for w in warnings if w.code.startswith("allergy.")] == [
            "allergy.cross_reactive"
        ]

    def test_another_drug_of_a_class_named_for_its_use_does_not_warn(self) -> None:
        plan = self.plan("lithium (tremor)")
        warnings = self.prescribe(plan, "lamotrigine")
        assert [w.code for w in warnings if w.code.startswith("allergy.")] == []

    def test_an_allergy_that_cannot_be_coded_is_said_so(self) -> None:
        plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
        reviewed = plan.record_evaluation(
            evaluation(*initial_evaluation().diagnoses, allergies=("penicillin",)),
            ctx(),
            FORMULARY,
        )
        assert [w.code for w in reviewed.warnings] == ["allergy.not_coded"]
        assert plan.allergies == set()

    @pytest.mark.parametrize("none", ["NKDA", "none", "No known drug allergies."])
    def test_no_known_allergies_is_no_allergy_and_no_warning(self, none: str) -> None:
        plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
        reviewed = plan.record_evaluation(
            evaluation(*initial_evaluation().diagnoses, allergies=(none,)), ctx(), FORMULARY
        )
        assert (reviewed.warnings, plan.allergies) == ([], set())

    def test_an_allergy_recorded_later_flags_the_standing_prescription(self) -> None:
        plan = self.plan()
        _, _ = plan.prescribe(
            "sertraline", mg("50"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
        )
        reviewed = plan.record_evaluation(
            Evaluation("reassessment", "in_person", (), allergies=("Zoloft",)), ctx(), FORMULARY
        )
        (warnings,) = reviewed.flagged.values()
        assert [(w.code, w.severity) for w in warnings] == [("allergy.documented", "warn")]
