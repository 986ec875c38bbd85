"""The whole course of care: whether to prescribe, options explained and agreed, reviews
that come due, measurement-based prompts, visits spaced by stability, functioning."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, RuleViolation
from domain.values import Evaluation, FollowUpPlan, Functioning
from tests.unit.clinic import (
    AGREED,
    BIRTH_DATE,
    FORMULARY,
    NOW,
    ctx,
    evaluated_plan,
    in_weeks,
    initial_evaluation,
    mg,
    replay,
)

TODAY = NOW.date()


def on(day: int):  # type: ignore[no-untyped-def]
    return ctx(at=NOW + timedelta(days=day))


def codes(findings: list) -> list[str]:
    return [f.code for f in findings]


def start(plan: CarePlan, drug: str, amount: str, frequency: str = "daily", **kw: object):  # type: ignore[no-untyped-def]
    return plan.prescribe(
        drug,
        mg(amount),
        frequency,
        "oral",
        kw.pop("indication", "F32.1 depression"),  # type: ignore[arg-type]
        in_weeks(2),
        ctx(),
        formulary=FORMULARY,
        **kw,  # type: ignore[arg-type]
    )


class TestWhetherToPrescribe:
    def test_medication_judged_not_appropriate_is_recorded_with_its_reason(self) -> None:
        plan = evaluated_plan()
        decision = plan.record_treatment_decision(
            "medication_not_indicated", "mild symptoms; therapy first", ["CBT"], ctx()
        )
        (recorded,) = plan.treatment_decisions
        assert (recorded.decision_id, recorded.decision, recorded.alternatives) == (
            decision,
            "medication_not_indicated",
            ["CBT"],
        )
        assert replay(plan).treatment_decisions == plan.treatment_decisions

    def test_a_decision_comes_after_an_evaluation(self) -> None:
        plan = CarePlan.open("pt-1", ctx(), BIRTH_DATE)
        with pytest.raises(RuleViolation) as refused:
            plan.record_treatment_decision("medication_declined", "wants therapy", [], ctx())
        assert refused.value.code == "prescription.requires_evaluation"

    def test_an_unknown_decision_or_no_reason_is_refused(self) -> None:
        plan = evaluated_plan()
        with pytest.raises(InvalidValue):
            plan.record_treatment_decision("maybe_later", "unsure", [], ctx())
        with pytest.raises(InvalidValue):
            plan.record_treatment_decision("medication_declined", "  ", [], ctx())


class TestOptionsExplainedAndAgreed:
    def test_a_prescription_without_the_discussion_says_so(self) -> None:
        _, warnings = start(evaluated_plan(), "sertraline", "50")
        assert codes(warnings) == ["consent.not_recorded"]

    def test_the_discussion_is_kept_with_the_prescription(self) -> None:
        plan = evaluated_plan()
        rx, warnings = start(plan, "sertraline", "50", discussion=AGREED)
        assert warnings == []
        assert plan.prescription(rx).discussion == AGREED
        assert replay(plan).prescription(rx).discussion == AGREED

    def test_a_drug_the_patient_declined_is_refused(self) -> None:
        plan = evaluated_plan()
        with pytest.raises(RuleViolation) as refused:
            start(plan, "sertraline", "50", discussion=replace(AGREED, decision="declines"))
        assert refused.value.code == "consent.declined"

    def test_an_undecided_patient_is_a_warning(self) -> None:
        undecided = replace(AGREED, decision="undecided")
        _, warnings = start(evaluated_plan(), "sertraline", "50", discussion=undecided)
        assert codes(warnings) == ["consent.undecided"]

    def test_clozapine_needs_the_monitoring_agreed(self) -> None:
        plan = evaluated_plan()
        with pytest.raises(RuleViolation) as refused:
            start(plan, "clozapine", "12.5", discussion=AGREED, indication="F20.9")
        assert refused.value.code == "consent.monitoring_not_agreed"
        agreed = replace(AGREED, monitoring_agreed=True)
        _, warnings = start(plan, "clozapine", "12.5", discussion=agreed, indication="F20.9")
        assert "consent.monitoring_not_agreed" not in codes(warnings)

    def test_an_antidepressant_under_25_needs_its_boxed_warning_discussed(self) -> None:
        plan = CarePlan.open("pt-1", ctx(), date(2004, 1, 1))
        plan.record_evaluation(initial_evaluation(), ctx())
        _, warnings = start(plan, "sertraline", "50", discussion=AGREED)
        assert "consent.boxed_warning_not_discussed" in codes(warnings)
        discussed = replace(AGREED, boxed_warning_discussed=True)
        _, warnings = start(plan, "fluoxetine", "20", discussion=discussed)
        assert "consent.boxed_warning_not_discussed" not in codes(warnings)

    def test_an_antipsychotic_in_dementia_needs_its_boxed_warning_discussed(self) -> None:
        plan = CarePlan.open("pt-1", ctx(), date(1940, 1, 1))
        evaluation = replace(initial_evaluation(), conditions=frozenset({"dementia"}))
        plan.record_evaluation(evaluation, ctx())
        _, warnings = start(plan, "quetiapine", "25", discussion=AGREED, indication="F03.90")
        assert "consent.boxed_warning_not_discussed" in codes(warnings)

    def test_a_stimulant_needs_a_controlled_substance_agreement(self) -> None:
        plan = evaluated_plan()
        _, warnings = start(plan, "lisdexamfetamine", "30", discussion=AGREED, indication="F90.0")
        assert "consent.controlled_agreement_missing" in codes(warnings)
        agreed = replace(AGREED, controlled_substance_agreement=True)
        _, warnings = start(plan, "clonazepam", "0.25", "twice_daily", discussion=agreed)
        assert "consent.controlled_agreement_missing" not in codes(warnings)

    def test_a_minor_needs_the_guardian_who_agreed(self) -> None:
        plan = CarePlan.open("pt-1", ctx(), date(2010, 6, 1))
        plan.record_evaluation(initial_evaluation(), ctx())
        agreed = replace(AGREED, boxed_warning_discussed=True)
        _, warnings = start(plan, "fluoxetine", "10", discussion=agreed)
        assert "consent.guardian_required" in codes(warnings)
        by_parent = replace(agreed, decided_by="parent")
        plan2 = CarePlan.open("pt-2", ctx(), date(2010, 6, 1))
        plan2.record_evaluation(initial_evaluation(), ctx())
        _, warnings = start(plan2, "fluoxetine", "10", discussion=by_parent)
        assert "consent.guardian_required" not in codes(warnings)

    def test_a_discussion_without_options_or_timeline_is_refused(self) -> None:
        with pytest.raises(InvalidValue):
            replace(AGREED, options_considered=())
        with pytest.raises(InvalidValue):
            replace(AGREED, timeline=" ")


class TestReviewsComeDue:
    def test_the_first_review_is_at_the_end_of_the_response_window(self) -> None:
        plan = evaluated_plan()
        sertraline, _ = start(plan, "sertraline", "50", discussion=AGREED)
        alprazolam, _ = start(plan, "alprazolam", "0.25", "three_times_daily")
        assert plan.prescription(sertraline).review_due_on == TODAY + timedelta(days=56)
        assert plan.prescription(alprazolam).review_due_on == TODAY + timedelta(days=28)

    def test_a_review_sets_the_next_by_class(self) -> None:
        plan = evaluated_plan()
        sertraline, _ = start(plan, "sertraline", "50", discussion=AGREED)
        alprazolam, _ = start(plan, "alprazolam", "0.25", "three_times_daily")
        plan.review_medication(sertraline, "continue", "responding, tolerating", on(56))
        plan.review_medication(alprazolam, "taper", "anxiety settled", on(28))
        assert plan.prescription(sertraline).review_due_on == TODAY + timedelta(days=56 + 182)
        assert plan.prescription(alprazolam).review_due_on == TODAY + timedelta(days=28 + 91)
        event = plan.pending_events[-1]
        assert (event.outcome, event.previous_due_on) == ("taper", TODAY + timedelta(days=28))

    def test_a_stopped_prescription_is_not_reviewed(self) -> None:
        plan = evaluated_plan()
        rx, _ = start(plan, "sertraline", "25", discussion=AGREED)
        plan.discontinue(rx, "remission", ctx(), reason_code="remission")
        with pytest.raises(RuleViolation) as refused:
            plan.review_medication(rx, "continue", "x", ctx())
        assert refused.value.code == "prescription.not_active"

    def test_a_review_in_error_brings_the_earlier_date_back(self) -> None:
        plan = evaluated_plan()
        rx, _ = start(plan, "sertraline", "50", discussion=AGREED)
        plan.review_medication(rx, "continue", "fine", on(50))
        review = plan.pending_events[-1]
        plan.mark_entry_in_error(review.originator_version, review, "other patient", on(51))
        assert plan.prescription(rx).review_due_on == TODAY + timedelta(days=56)
        assert replay(plan).prescription(rx).review_due_on == TODAY + timedelta(days=56)

    def test_a_review_names_the_scores_it_looked_at(self) -> None:
        plan = evaluated_plan()
        plan.record_measurement("PHQ-9", ctx(), items=(2, 2, 2, 2, 2, 2, 2, 2, 0))
        rx, _ = start(plan, "sertraline", "50", discussion=AGREED)
        plan.record_measurement("PHQ-9", on(28), items=(1, 1, 1, 1, 1, 1, 1, 1, 0))
        plan.review_medication(rx, "continue", "halved", on(56))
        assert plan.pending_events[-1].scores_considered == [
            f"PHQ-9 16 on {TODAY}",
            f"PHQ-9 8 on {TODAY + timedelta(days=28)}",
        ]


def phq9(plan: CarePlan, total: int, day: int) -> list:
    items = [min(3, max(0, total - 3 * n)) for n in range(8)] + [0]
    assert sum(items) == total
    _, findings = plan.record_measurement("PHQ-9", on(day), items=items, formulary=FORMULARY)
    return findings


class TestMeasurementBasedPrompts:
    def on_sertraline_with_baseline(self, baseline: int = 18) -> tuple[CarePlan, str]:
        plan = evaluated_plan()
        phq9(plan, baseline, 0)
        rx, _ = start(plan, "sertraline", "50", discussion=AGREED)
        return plan, rx

    def test_no_improvement_after_an_adequate_trial_is_a_prompt(self) -> None:
        plan, rx = self.on_sertraline_with_baseline()
        findings = phq9(plan, 16, 45)
        assert "outcome.no_improvement" in codes(findings)
        (prompt,) = plan.pending_events[-1].prompts
        assert (prompt.prescription_id, prompt.code) == (rx, "outcome.no_improvement")

    def test_too_early_to_judge_is_no_prompt(self) -> None:
        plan, _ = self.on_sertraline_with_baseline()
        assert "outcome.no_improvement" not in codes(phq9(plan, 16, 30))

    def test_a_meaningful_improvement_is_no_prompt(self) -> None:
        plan, _ = self.on_sertraline_with_baseline()
        assert "outcome.no_improvement" not in codes(phq9(plan, 12, 45))

    def test_below_an_effective_dose_the_trial_is_not_adequate(self) -> None:
        plan = evaluated_plan()
        phq9(plan, 18, 0)
        start(plan, "sertraline", "25", discussion=AGREED)
        assert "outcome.no_improvement" not in codes(phq9(plan, 17, 45))

    def test_the_prompt_comes_at_the_next_dose_decision_too(self) -> None:
        plan, rx = self.on_sertraline_with_baseline()
        phq9(plan, 16, 45)
        _, findings = plan.review_medication(rx, "adjust", "no response", on(46))
        assert "outcome.no_improvement" in codes(findings)

    def test_an_increase_answers_no_improvement_and_a_decrease_does_not(self) -> None:
        plan, rx = self.on_sertraline_with_baseline()
        phq9(plan, 16, 45)
        lowered = plan.change_dose(rx, mg("25"), "nausea", in_weeks(8), on(46), formulary=FORMULARY)
        assert "outcome.no_improvement" in codes(lowered)
        plan2, rx2 = self.on_sertraline_with_baseline()
        phq9(plan2, 16, 45)
        raised = plan2.change_dose(
            rx2, mg("100"), "no response", in_weeks(8), on(46), formulary=FORMULARY
        )
        assert "outcome.no_improvement" not in codes(raised)

    def test_a_review_answers_its_prompts_without_an_acknowledgement(self) -> None:
        plan, rx = self.on_sertraline_with_baseline()
        phq9(plan, 16, 45)
        _, findings = plan.review_medication(rx, "adjust", "switch next visit", on(46))
        assert "outcome.no_improvement" in codes(findings)
        assert (rx, "outcome.no_improvement") not in plan.pending_acknowledgements

    def test_a_response_lost_is_flagged(self) -> None:
        plan, _ = self.on_sertraline_with_baseline(20)
        phq9(plan, 8, 30)
        assert "outcome.response_lost" in codes(phq9(plan, 16, 60))

    def test_a_response_kept_is_not(self) -> None:
        plan, _ = self.on_sertraline_with_baseline(20)
        phq9(plan, 8, 30)
        assert "outcome.response_lost" not in codes(phq9(plan, 9, 60))

    def test_sustained_remission_prompts_a_talk_about_continuing_or_tapering(self) -> None:
        plan, _ = self.on_sertraline_with_baseline(18)
        phq9(plan, 4, 60)
        assert "outcome.sustained_remission" not in codes(phq9(plan, 3, 150))
        assert "outcome.sustained_remission" in codes(phq9(plan, 2, 250))

    def test_a_drug_for_another_condition_is_not_judged_on_the_phq9(self) -> None:
        plan = evaluated_plan()
        phq9(plan, 18, 0)
        start(plan, "prazosin", "1", "at_bedtime", discussion=AGREED, indication="nightmares")
        assert codes(phq9(plan, 18, 60)) == []


class TestVisitsSpacedByStability:
    def schedule(self, plan: CarePlan, days: int, day: int) -> list:
        _, warnings = plan.schedule_follow_up(
            FollowUpPlan(TODAY + timedelta(days=day + days)), on(day)
        )
        return warnings

    def test_a_long_interval_while_not_stable_warns(self) -> None:
        plan, _ = TestMeasurementBasedPrompts().on_sertraline_with_baseline()
        assert codes(self.schedule(plan, 60, 10)) == ["follow_up.interval_too_long"]
        assert codes(self.schedule(plan, 28, 10)) == []

    def test_a_stable_patient_may_be_seen_every_three_months(self) -> None:
        plan, _ = TestMeasurementBasedPrompts().on_sertraline_with_baseline(18)
        phq9(plan, 8, 56)
        phq9(plan, 6, 90)
        assert codes(self.schedule(plan, 90, 91)) == []
        assert codes(self.schedule(plan, 120, 91)) == ["follow_up.interval_too_long"]

    def test_warnings_waiting_mean_not_stable(self) -> None:
        plan = evaluated_plan()
        phq9(plan, 18, 0)
        start(plan, "sertraline", "50")  # its consent warning waits
        phq9(plan, 8, 56)
        phq9(plan, 6, 90)
        assert codes(self.schedule(plan, 90, 91)) == ["follow_up.interval_too_long"]

    def test_a_plan_without_medication_is_not_judged(self) -> None:
        plan = evaluated_plan()
        assert self.schedule(plan, 120, 0) == []

    def test_the_warning_waits_on_the_follow_up_until_acknowledged(self) -> None:
        plan, _ = TestMeasurementBasedPrompts().on_sertraline_with_baseline()
        follow_up, _ = plan.schedule_follow_up(FollowUpPlan(TODAY + timedelta(days=70)), on(10))
        assert (follow_up, "follow_up.interval_too_long") in plan.pending_acknowledgements


class TestFunctioning:
    def test_an_evaluation_records_functioning_by_domain(self) -> None:
        plan = evaluated_plan()
        functioning = Functioning("severe", "moderate", "mild")
        plan.record_evaluation(
            Evaluation("reassessment", "in_person", (), functioning=functioning), ctx()
        )
        assert plan.pending_events[-1].functioning == functioning

    def test_an_unknown_level_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Functioning(work_or_school="awful")
        assert refused.value.code == "functioning.unknown_level"

    def test_whodas_12_is_scored_from_its_items(self) -> None:
        plan = evaluated_plan()
        _, findings = plan.record_measurement("WHODAS 2.0", ctx(), items=[1] * 12)
        assert findings == []
        assert plan.pending_events[-1].total == 12
        with pytest.raises(InvalidValue):
            plan.record_measurement("WHODAS-12", ctx(), items=[5] * 12)
