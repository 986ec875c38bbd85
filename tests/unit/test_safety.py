"""Each safety rule: the case that triggers it and the nearest case that does not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain import interactions, safety
from domain.care_plan import CarePlan
from domain.errors import InvalidValue, RuleViolation
from domain.values import Evaluation, UseContext
from tests.unit.clinic import AGREED, BIRTH_DATE, FORMULARY, ctx, in_weeks, initial_evaluation, mg

D = Decimal
NONE: frozenset[str] = frozenset()


def drug(name: str):  # type: ignore[no-untyped-def]
    return FORMULARY.drug(name)


def other(name: str):  # type: ignore[no-untyped-def]
    return FORMULARY.others[name]


def codes(findings: list[safety.Finding]) -> list[str]:
    return [f.code for f in findings]


class TestMaximumDose:
    def test_a_daily_dose_above_the_label_maximum_blocks(self) -> None:
        [finding] = safety.dose_within_maximum(drug("sertraline"), D(250), NONE)
        assert (finding.code, finding.severity) == ("dose.above_maximum", "block")
        assert "200 mg/day" in finding.message
        assert finding.source

    def test_the_maximum_itself_is_allowed(self) -> None:
        assert safety.dose_within_maximum(drug("sertraline"), D(200), NONE) == []

    def test_citalopram_over_60_is_capped_at_20(self) -> None:
        [finding] = safety.dose_within_maximum(
            drug("citalopram"), D(40), frozenset({"age_over_60"})
        )
        assert "20 mg/day" in finding.message
        assert "age over 60" in finding.message
        assert safety.dose_within_maximum(drug("citalopram"), D(40), NONE) == []
        assert (
            safety.dose_within_maximum(drug("citalopram"), D(20), frozenset({"age_over_60"})) == []
        )

    def test_a_factor_for_an_inhibitor_lowers_the_ceiling(self) -> None:
        with_inhibitor = frozenset({"with_strong_cyp2d6_inhibitor"})
        assert codes(safety.dose_within_maximum(drug("aripiprazole"), D(20), with_inhibitor)) == [
            "dose.above_maximum"
        ]
        assert safety.dose_within_maximum(drug("aripiprazole"), D(15), with_inhibitor) == []

    def test_a_drug_dosed_by_level_has_no_mg_ceiling(self) -> None:
        assert safety.dose_within_maximum(drug("lithium"), D(2400), NONE) == []

    def test_one_administration_above_the_daily_maximum_warns(self) -> None:
        [finding] = safety.single_dose_within_maximum(
            drug("sertraline"), D(400), "every_other_day", NONE
        )
        assert (finding.code, finding.severity) == ("dose.single_above_maximum", "warn")
        assert "400 mg taken at once" in finding.message

    def test_one_administration_at_the_daily_maximum_does_not(self) -> None:
        sertraline = drug("sertraline")
        assert safety.single_dose_within_maximum(sertraline, D(200), "every_other_day", NONE) == []

    def test_a_daily_dose_above_the_maximum_is_left_to_the_block(self) -> None:
        sertraline = drug("sertraline")
        assert safety.single_dose_within_maximum(sertraline, D(250), "daily", NONE) == []

    def test_fluoxetine_weekly_is_put_to_the_prescriber_not_refused(self) -> None:
        plan = CarePlan.open("pt-w", ctx())
        plan.record_evaluation(initial_evaluation(), ctx())
        _, warnings = plan.prescribe(
            "fluoxetine", mg("90"), "weekly", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
        )
        assert "dose.single_above_maximum" in codes(warnings)

    def test_daily_amount_follows_the_frequency(self) -> None:
        assert safety.daily_amount(D(100), "twice_daily") == D(200)
        assert safety.daily_amount(D(25), "every_other_day") == D("12.5")


class TestUseAndWeight:
    def test_a_labelled_indication_with_a_higher_maximum_replaces_the_usual_one(self) -> None:
        paroxetine = drug("paroxetine")
        assert codes(safety.dose_within_maximum(paroxetine, D(60), NONE)) == ["dose.above_maximum"]
        assert safety.dose_within_maximum(paroxetine, D(60), frozenset({"ocd"})) == []
        assert codes(safety.dose_within_maximum(paroxetine, D(70), frozenset({"ocd"}))) == [
            "dose.above_maximum"
        ]

    def test_an_indication_with_a_lower_maximum_lowers_it(self) -> None:
        [finding] = safety.dose_within_maximum(
            drug("aripiprazole"), D(20), frozenset({"mdd_adjunct"})
        )
        assert "maximum for mdd adjunct" in finding.message
        assert safety.dose_within_maximum(drug("aripiprazole"), D(20), NONE) == []

    def test_patient_caps_still_apply_under_a_use_maximum(self) -> None:
        both = frozenset({"ocd", "age_over_65"})
        limit, _ = safety.effective_maximum(drug("paroxetine"), both)
        assert limit == D(40)

    def test_a_form_sets_its_own_maximum(self) -> None:
        bupropion = drug("bupropion")
        assert codes(safety.dose_within_maximum(bupropion, D(450), NONE)) == ["dose.above_maximum"]
        assert safety.dose_within_maximum(bupropion, D(450), frozenset({"form_xl"})) == []

    def test_a_per_kilogram_maximum_counts_once_a_weight_is_known(self) -> None:
        divalproex = drug("divalproex")
        assert safety.dose_within_maximum(divalproex, D(4000), NONE) == []  # no weight: no cap
        [finding] = safety.dose_within_maximum(divalproex, D(4000), NONE, weight_kg=D(60))
        assert "3600 mg/day" in finding.message
        assert "60 mg/kg at 60 kg" in finding.message
        assert safety.dose_within_maximum(divalproex, D(3500), NONE, weight_kg=D(60)) == []

    def test_use_context_names_the_formulary_populations(self) -> None:
        use = UseContext("ir", "panic_disorder", "inpatient")
        assert use.populations == {"panic_disorder", "form_ir", "inpatient", "form_ir_inpatient"}
        assert UseContext().populations == frozenset()

    @pytest.mark.parametrize(
        ("kwargs", "code"),
        [
            ({"form": "gummy"}, "prescription.unknown_form"),
            ({"indication_code": "insomnia"}, "prescription.unknown_indication_code"),
            ({"setting": "home"}, "prescription.unknown_setting"),
        ],
    )
    def test_use_context_vocabularies(self, kwargs: dict[str, str], code: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            UseContext(**kwargs)
        assert refused.value.code == code

    def test_through_the_plan_the_weight_from_the_evaluation_caps_divalproex(self) -> None:
        plan = CarePlan.open("pt-kg", ctx())
        evaluation = Evaluation(
            "initial", "in_person", initial_evaluation().diagnoses, weight_kg=D(50)
        )
        plan.record_evaluation(evaluation, ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.prescribe(
                "divalproex",
                mg("1000"),
                "four_times_daily",
                "oral",
                "mania",
                in_weeks(1),
                ctx(),
                formulary=FORMULARY,
            )
        assert "60 mg/kg at 50 kg" in str(refused.value)

    def test_an_implausible_weight_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Evaluation("initial", "in_person", initial_evaluation().diagnoses, weight_kg=D(0))
        assert refused.value.code == "evaluation.weight_implausible"


class TestPopulations:
    def test_age_and_co_medication_name_the_populations(self) -> None:
        populations = safety.patient_populations(
            61, {"hepatic_impairment_severe"}, [drug("fluoxetine")], [other("ciprofloxacin")]
        )
        assert {
            "age_over_60",
            "hepatic_impairment",
            "hepatic_impairment_moderate_severe",
            "with_strong_cyp2d6_inhibitor",
            "with_ciprofloxacin",
        } <= populations
        assert "age_over_65" not in populations

    def test_sixty_is_not_over_sixty(self) -> None:
        assert "age_over_60" not in safety.patient_populations(60, set(), [], [])


class TestStartLowGoSlow:
    def test_a_start_above_the_usual_start_warns(self) -> None:
        [finding] = safety.start_low(drug("sertraline"), D(100))
        assert (finding.code, finding.severity) == ("dose.above_usual_start", "warn")

    def test_the_usual_start_does_not_warn(self) -> None:
        assert safety.start_low(drug("sertraline"), D(50)) == []

    def test_a_step_larger_than_usual_warns(self) -> None:
        assert codes(safety.titration_step(drug("sertraline"), D(50), D(150), 14)) == [
            "dose.step_above_usual"
        ]
        assert safety.titration_step(drug("sertraline"), D(50), D(100), 14) == []

    def test_an_increase_sooner_than_usual_warns(self) -> None:
        assert codes(safety.titration_step(drug("fluoxetine"), D(20), D(40), 20)) == [
            "dose.increase_too_soon"
        ]
        assert safety.titration_step(drug("fluoxetine"), D(20), D(40), 21) == []

    def test_a_decrease_is_never_a_titration_warning(self) -> None:
        assert safety.titration_step(drug("sertraline"), D(200), D(50), 0) == []


class TestMaoi:
    def test_an_maoi_with_an_active_ssri_is_contraindicated(self) -> None:
        [finding] = interactions.maoi_contraindications(
            drug("phenelzine"), [drug("sertraline")], []
        )
        assert (finding.code, finding.severity) == ("interaction.contraindicated", "block")

    def test_an_ssri_with_tramadol_alone_is_not_an_maoi_matter(self) -> None:
        assert (
            interactions.maoi_contraindications(drug("sertraline"), [], [other("tramadol")]) == []
        )

    def test_an_ssri_while_linezolid_is_given_is_contraindicated(self) -> None:
        found = interactions.maoi_contraindications(drug("sertraline"), [], [other("linezolid")])
        assert codes(found) == ["interaction.contraindicated"]

    def test_an_maoi_within_five_weeks_of_fluoxetine_is_blocked(self) -> None:
        stopped = datetime(2026, 1, 1, tzinfo=UTC)
        day_34 = stopped + timedelta(days=34)
        [finding] = interactions.maoi_washout(
            drug("phenelzine"), [(drug("fluoxetine"), stopped)], day_34
        )
        assert (finding.code, finding.severity) == ("interaction.washout_required", "block")
        assert "2026-02-05" in finding.message
        assert (
            interactions.maoi_washout(
                drug("phenelzine"), [(drug("fluoxetine"), stopped)], stopped + timedelta(days=35)
            )
            == []
        )

    def test_an_ssri_within_14_days_of_an_maoi_is_blocked(self) -> None:
        stopped = datetime(2026, 1, 1, tzinfo=UTC)
        found = interactions.maoi_washout(
            drug("sertraline"), [(drug("phenelzine"), stopped)], stopped + timedelta(days=13)
        )
        assert codes(found) == ["interaction.washout_required"]
        assert (
            interactions.maoi_washout(
                drug("mirtazapine"), [(drug("lamotrigine"), stopped)], stopped + timedelta(days=1)
            )
            == []
        )


class TestMajorInteractions:
    def test_lithium_with_an_nsaid_warns_to_check_a_level(self) -> None:
        found = interactions.major_interactions(drug("lithium"), [], [other("ibuprofen")])
        assert codes(found) == ["interaction.lithium_level"]
        assert interactions.major_interactions(drug("lithium"), [], [other("ondansetron")]) == []

    def test_lamotrigine_with_valproate_warns(self) -> None:
        found = interactions.major_interactions(drug("lamotrigine"), [drug("divalproex")], [])
        assert codes(found) == ["interaction.valproate_lamotrigine"]
        assert interactions.major_interactions(drug("lamotrigine"), [drug("lithium")], []) == []

    def test_clozapine_with_fluvoxamine_warns(self) -> None:
        found = interactions.major_interactions(drug("clozapine"), [drug("fluvoxamine")], [])
        assert "interaction.clozapine_cyp1a2" in codes(found)
        assert interactions.major_interactions(drug("clozapine"), [drug("sertraline")], []) == []

    def test_two_qt_prolonging_drugs_warn(self) -> None:
        found = interactions.major_interactions(drug("citalopram"), [drug("quetiapine")], [])
        assert codes(found) == ["interaction.qt_prolongation"]
        assert interactions.major_interactions(drug("citalopram"), [drug("sertraline")], []) == []

    def test_a_benzodiazepine_with_an_opioid_warns(self) -> None:
        found = interactions.major_interactions(drug("lorazepam"), [], [other("oxycodone")])
        assert codes(found) == ["interaction.benzodiazepine_opioid"]
        assert interactions.major_interactions(drug("lorazepam"), [], [other("ibuprofen")]) == []

    def test_an_ssri_with_tramadol_or_a_triptan_warns_of_serotonin_syndrome(self) -> None:
        found = interactions.major_interactions(
            drug("sertraline"), [], [other("tramadol"), other("sumatriptan")]
        )
        assert codes(found) == ["interaction.serotonin_syndrome"]
        assert "sumatriptan, tramadol" in found[0].message
        assert interactions.major_interactions(drug("sertraline"), [], [other("oxycodone")]) == []
        assert interactions.major_interactions(drug("lithium"), [], [other("tramadol")]) == []

    def test_a_strong_cyp2d6_inhibitor_with_aripiprazole_warns(self) -> None:
        found = interactions.major_interactions(drug("aripiprazole"), [drug("fluoxetine")], [])
        assert codes(found) == ["interaction.cyp2d6_inhibitor"]
        assert interactions.major_interactions(drug("aripiprazole"), [drug("sertraline")], []) == []

    def test_two_drugs_of_one_class_warn_as_duplicate_therapy(self) -> None:
        found = interactions.duplicate_therapy(drug("escitalopram"), [drug("sertraline")])
        assert codes(found) == ["therapy.duplicate_class"]

    @pytest.mark.parametrize(
        ("new", "taking"),
        [
            ("venlafaxine", "sertraline"),  # an SNRI with an SSRI
            ("olanzapine", "quetiapine"),
            ("lorazepam", "clonazepam"),
            ("zolpidem", "temazepam"),  # two benzodiazepine receptor agonists
            ("lisdexamfetamine", "methylphenidate"),
        ],
    )
    def test_duplication_that_adds_risk_warns(self, new: str, taking: str) -> None:
        found = interactions.duplicate_therapy(drug(new), [drug(taking)])
        assert codes(found) == ["therapy.duplicate_class"]

    @pytest.mark.parametrize(
        ("new", "taking"),
        [
            ("lamotrigine", "divalproex"),  # mood stabilisers are combined on purpose
            ("lithium", "quetiapine"),
            ("bupropion", "sertraline"),  # augmentation, not duplication
            ("mirtazapine", "venlafaxine"),
        ],
    )
    def test_combinations_made_on_purpose_are_not_duplicate_therapy(
        self, new: str, taking: str
    ) -> None:
        assert interactions.duplicate_therapy(drug(new), [drug(taking)]) == []
        assert interactions.duplicate_therapy(drug("mirtazapine"), [drug("sertraline")]) == []


class TestThroughTheCarePlan:
    def plan(self, birth_date: date | None = BIRTH_DATE, **evaluation: object) -> CarePlan:
        plan = CarePlan.open("pt-1", ctx(), birth_date)
        base = initial_evaluation()
        plan.record_evaluation(
            Evaluation(**{**base.__dict__, **evaluation}) if evaluation else base, ctx()
        )
        return plan

    def prescribe(self, plan: CarePlan, name: str, amount: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return plan.prescribe(
            name,
            mg(amount),
            "daily",
            "oral",
            "test",
            in_weeks(2),
            ctx(),
            formulary=FORMULARY,
            **{"discussion": AGREED, **kwargs},
        )

    def test_an_unknown_drug_is_refused_with_suggestions(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            self.prescribe(self.plan(), "sertralin", "50")
        assert refused.value.code == "drug.unknown"
        assert "sertraline" in refused.value.message

    def test_a_brand_name_is_stored_as_the_generic(self) -> None:
        plan = self.plan()
        rx, _ = self.prescribe(plan, "Zoloft", "50")
        assert plan.prescription(rx).drug == "sertraline"

    def test_the_birth_date_makes_citalopram_40_a_block_over_60(self) -> None:
        old = self.plan(birth_date=date(1950, 5, 1))
        with pytest.raises(RuleViolation) as refused:
            self.prescribe(old, "citalopram", "40")
        assert refused.value.code == "dose.above_maximum"
        young = self.plan(birth_date=date(1990, 5, 1))
        _, warnings = self.prescribe(young, "citalopram", "40")
        assert codes(warnings) == ["dose.above_usual_start"]

    def test_an_nsaid_in_the_evaluation_warns_when_lithium_starts(self) -> None:
        plan = self.plan(current_medications=("Ibuprofen 400 mg as needed",))
        _, warnings = self.prescribe(plan, "lithium", "300")
        assert codes(warnings) == ["interaction.lithium_level"]

    def test_a_warning_acknowledged_in_the_command_is_recorded_with_its_justification(
        self,
    ) -> None:
        plan = self.plan()
        rx, warnings = self.prescribe(
            plan, "sertraline", "100", acknowledgements={"dose.above_usual_start": "prior response"}
        )
        assert codes(warnings) == ["dose.above_usual_start"]
        kinds = [type(e).__name__ for e in plan.pending_events]
        assert kinds[-3:] == [
            "MedicationPrescribed",
            "SafetyWarningAcknowledged",
            "FollowUpScheduled",
        ]
        acknowledged = plan.pending_events[-2]
        assert (acknowledged.subject_id, acknowledged.justification) == (rx, "prior response")
        assert plan.pending_acknowledgements == {}

    def test_an_unacknowledged_warning_stays_pending_until_acknowledged_later(self) -> None:
        plan = self.plan()
        rx, _ = self.prescribe(plan, "sertraline", "100")
        assert list(plan.pending_acknowledgements) == [(rx, "dose.above_usual_start")]
        plan.acknowledge_warning(rx, "dose.above_usual_start", "responded before at 100", ctx())
        assert plan.pending_acknowledgements == {}
        with pytest.raises(RuleViolation) as refused:
            plan.acknowledge_warning(rx, "dose.above_usual_start", "again", ctx())
        assert refused.value.code == "acknowledgement.not_pending"

    def test_acknowledging_a_warning_that_was_not_raised_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            self.prescribe(self.plan(), "sertraline", "50", acknowledgements={"dose.x": "why"})
        assert refused.value.code == "acknowledgement.unexpected"

    def test_a_blocked_command_records_nothing(self) -> None:
        plan = self.plan()
        self.prescribe(plan, "phenelzine", "15")
        before = len(plan.pending_events)
        with pytest.raises(RuleViolation):
            self.prescribe(plan, "sertraline", "50")
        assert len(plan.pending_events) == before

    def test_the_washout_clock_runs_on_recorded_stops(self) -> None:
        plan = self.plan()
        rx, _ = self.prescribe(plan, "fluoxetine", "20")
        plan.discontinue(rx, "switching", ctx())
        with pytest.raises(RuleViolation) as refused:
            self.prescribe(plan, "phenelzine", "15")
        assert refused.value.code == "interaction.washout_required"
