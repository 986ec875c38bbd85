"""Stopping well: tapers, coded stops, and switches between drugs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, RuleViolation
from domain.values import CommandContext, Dose, TaperStep
from tests.unit.clinic import FORMULARY, NOW, ctx, evaluated_plan, in_weeks, mg

TODAY = NOW.date()


def steps(*doses_and_days: tuple[str, int]) -> list[TaperStep]:
    return [TaperStep(TODAY + timedelta(days=day), mg(dose)) for dose, day in doses_and_days]


def on(drug: str, amount: str, frequency: str = "daily") -> tuple[CarePlan, str]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        drug, mg(amount), frequency, "oral", "test", in_weeks(2), ctx(), formulary=FORMULARY
    )
    return plan, rx


def later(days: int) -> CommandContext:
    return ctx(at=NOW + timedelta(days=days))


def types(plan: CarePlan) -> list[str]:
    return [type(e).__name__ for e in plan.pending_events]


class TestStoppingNeedsATaper:
    def test_stopping_an_antidepressant_abruptly_is_refused(self) -> None:
        plan, rx = on("paroxetine", "20")
        with pytest.raises(RuleViolation) as refused:
            plan.discontinue(rx, "remission", ctx(), reason_code="remission", formulary=FORMULARY)
        assert refused.value.code == "discontinuation.taper_required"

    def test_an_adverse_reaction_may_stop_it_at_once_with_a_warning(self) -> None:
        plan, rx = on("paroxetine", "20")
        warnings = plan.discontinue(
            rx, "angioedema", ctx(), reason_code="adverse_reaction", formulary=FORMULARY
        )
        assert [(w.code, w.severity) for w in warnings] == [
            ("discontinuation.taper_required", "warn")
        ]
        assert (rx, "discontinuation.taper_required") in plan.pending_acknowledgements

    def test_a_drug_without_a_taper_need_stops_freely(self) -> None:
        plan, rx = on("prazosin", "1", "at_bedtime")
        assert plan.discontinue(rx, "no nightmares", ctx(), formulary=FORMULARY) == []

    def test_an_unknown_reason_code_is_refused(self) -> None:
        plan, rx = on("prazosin", "1", "at_bedtime")
        with pytest.raises(InvalidValue) as refused:
            plan.discontinue(rx, "why", ctx(), reason_code="bored", formulary=FORMULARY)
        assert refused.value.code == "discontinuation.unknown_reason"


class TestTaper:
    def test_a_taper_is_a_plan_whose_steps_are_taken_as_dose_changes(self) -> None:
        plan, rx = on("paroxetine", "20")
        plan.start_taper(rx, steps(("10", 0), ("5", 14)), "remission", ctx(), formulary=FORMULARY)
        assert plan.prescription(rx).status == "tapering"
        plan.change_dose(rx, mg("10"), "taper step 1", None, ctx(), formulary=FORMULARY)
        assert plan.pending_events[-1].taper_step == 1
        plan.change_dose(rx, mg("5"), "taper step 2", None, ctx(), formulary=FORMULARY)
        assert plan.pending_events[-1].taper_step == 2
        plan.discontinue(rx, "done", ctx(), reason_code="taper_completed", formulary=FORMULARY)
        assert plan.prescription(rx).status == "discontinued"

    def test_a_taper_planned_but_never_followed_is_an_abrupt_stop(self) -> None:
        plan, rx = on("paroxetine", "40")
        plan.start_taper(rx, steps(("30", 7), ("20", 14)), "remission", ctx(), formulary=FORMULARY)
        with pytest.raises(RuleViolation) as refused:
            plan.discontinue(
                rx, "done", later(1), reason_code="taper_completed", formulary=FORMULARY
            )
        assert refused.value.code == "discontinuation.taper_required"
        assert "40 mg/day, 0 of the 2 steps of its taper taken" in refused.value.message

    def test_a_taper_stopped_half_way_above_the_stopping_dose_is_an_abrupt_stop(self) -> None:
        plan, rx = on("paroxetine", "40")
        plan.start_taper(rx, steps(("30", 0), ("20", 7)), "remission", ctx(), formulary=FORMULARY)
        plan.change_dose(rx, mg("30"), "taper step 1", None, ctx(), formulary=FORMULARY)
        with pytest.raises(RuleViolation) as refused:
            plan.discontinue(rx, "done", later(3), reason_code="remission", formulary=FORMULARY)
        assert refused.value.code == "discontinuation.taper_required"

    def test_an_adverse_reaction_mid_taper_warns_instead(self) -> None:
        plan, rx = on("paroxetine", "40")
        plan.start_taper(rx, steps(("30", 7)), "remission", ctx(), formulary=FORMULARY)
        warnings = plan.discontinue(
            rx, "hyponatraemia", ctx(), reason_code="adverse_reaction", formulary=FORMULARY
        )
        assert [(w.code, w.severity) for w in warnings] == [
            ("discontinuation.taper_required", "warn")
        ]

    def test_the_last_step_reached_on_its_date_ends_the_taper(self) -> None:
        plan, rx = on("paroxetine", "40")
        plan.start_taper(rx, steps(("30", 0), ("20", 7)), "remission", ctx(), formulary=FORMULARY)
        plan.change_dose(rx, mg("30"), "taper step 1", None, ctx(), formulary=FORMULARY)
        plan.change_dose(rx, mg("20"), "taper step 2", None, later(7), formulary=FORMULARY)
        assert plan.pending_events[-1].taper_step == 2
        warnings = plan.discontinue(
            rx, "done", later(14), reason_code="taper_completed", formulary=FORMULARY
        )
        assert warnings == []

    def test_every_step_taken_early_ends_the_taper_only_on_the_last_steps_date(self) -> None:
        plan, rx = on("paroxetine", "40")
        plan.start_taper(rx, steps(("30", 0), ("20", 7)), "remission", ctx(), formulary=FORMULARY)
        plan.change_dose(rx, mg("30"), "taper step 1", None, ctx(), formulary=FORMULARY)
        plan.change_dose(rx, mg("20"), "taper step 2", None, later(2), formulary=FORMULARY)
        with pytest.raises(RuleViolation):
            plan.discontinue(
                rx, "done", later(3), reason_code="taper_completed", formulary=FORMULARY
            )
        plan.discontinue(rx, "done", later(7), reason_code="taper_completed", formulary=FORMULARY)

    def test_a_tapering_drug_at_the_labels_stopping_dose_may_stop_before_the_last_step(
        self,
    ) -> None:
        plan, rx = on("paroxetine", "20")
        plan.start_taper(rx, steps(("10", 0), ("5", 7)), "remission", ctx(), formulary=FORMULARY)
        plan.change_dose(rx, mg("10"), "taper step 1", None, ctx(), formulary=FORMULARY)
        assert plan.discontinue(rx, "stopped early", later(2), formulary=FORMULARY) == []

    def test_a_drug_already_at_its_stopping_dose_needs_no_taper(self) -> None:
        plan, rx = on("sertraline", "25")
        assert plan.discontinue(rx, "remission", ctx(), reason_code="remission") == []

    def test_a_change_off_the_plan_warns(self) -> None:
        plan, rx = on("paroxetine", "20")
        plan.start_taper(rx, steps(("10", 0)), "remission", ctx(), formulary=FORMULARY)
        warnings = plan.change_dose(rx, mg("15"), "slower", None, ctx(), formulary=FORMULARY)
        assert [w.code for w in warnings] == ["taper.off_plan"]
        assert plan.pending_events[-1].taper_step is None

    @pytest.mark.parametrize(
        ("plan_steps", "code"),
        [
            ([], "taper.no_steps"),
            ([("20", 0)], "taper.not_decreasing"),
            ([("10", 7), ("5", 7)], "taper.dates_not_increasing"),
            ([("10", -1)], "taper.dates_not_increasing"),
        ],
    )
    def test_a_taper_must_go_down_on_later_dates(
        self, plan_steps: list[tuple[str, int]], code: str
    ) -> None:
        plan, rx = on("paroxetine", "20")
        with pytest.raises(InvalidValue) as refused:
            plan.start_taper(rx, steps(*plan_steps), "why", ctx(), formulary=FORMULARY)
        assert refused.value.code == code

    def test_a_benzodiazepine_taper_faster_than_the_guideline_warns(self) -> None:
        plan, rx = on("lorazepam", "1", "twice_daily")
        fast = steps(("0.5", 0))  # halves the dose in one step
        warnings = plan.start_taper(rx, fast, "why", ctx(), formulary=FORMULARY)
        assert [w.code for w in warnings] == ["taper.too_fast"]

    def test_a_benzodiazepine_taper_at_the_guideline_pace_does_not_warn(self) -> None:
        plan, rx = on("lorazepam", "1", "twice_daily")
        gentle = steps(("0.875", 0), ("0.75", 14), ("0.625", 28))
        assert plan.start_taper(rx, gentle, "why", ctx(), formulary=FORMULARY) == []

    def test_alprazolam_faster_than_half_a_milligram_every_three_days_warns(self) -> None:
        plan, rx = on("alprazolam", "1", "three_times_daily")
        warnings = plan.start_taper(
            rx, steps(("0.75", 0), ("0.25", 14)), "why", ctx(), formulary=FORMULARY
        )
        assert "taper.too_fast" in [w.code for w in warnings]
        slow = TaperStep(TODAY + timedelta(days=14), Dose(Decimal("0.625"), "mg"))
        plan2, rx2 = on("alprazolam", "1", "three_times_daily")
        warnings = plan2.start_taper(
            rx2, [TaperStep(TODAY, mg("0.75")), slow], "why", ctx(), formulary=FORMULARY
        )
        assert "taper.alprazolam_too_fast" not in [w.code for w in warnings]


class TestSwitchedIsNotAWayAroundTheTaper:
    def test_a_stop_that_says_switched_with_nothing_started_is_judged_as_a_stop(self) -> None:
        plan, rx = on("alprazolam", "0.5", "twice_daily")
        with pytest.raises(RuleViolation) as refused:
            plan.discontinue(rx, "switched", later(90), reason_code="switched")
        assert refused.value.code == "discontinuation.taper_required"
        assert "Nothing was started in place of alprazolam" in refused.value.message

    def test_a_drug_for_the_same_use_started_days_before_makes_it_a_switch(self) -> None:
        plan, rx = on("sertraline", "100")
        plan.prescribe(
            "mirtazapine",
            mg("15"),
            "at_bedtime",
            "oral",
            "MDD",
            None,
            later(2),
            formulary=FORMULARY,
        )
        warnings = plan.discontinue(rx, "switched to mirtazapine", later(4), reason_code="switched")
        assert [(w.code, w.severity) for w in warnings] == [
            ("discontinuation.taper_required", "warn")
        ]

    def test_a_drug_for_another_use_does_not_make_it_a_switch(self) -> None:
        plan, rx = on("sertraline", "100")
        plan.prescribe(
            "prazosin",
            mg("1"),
            "at_bedtime",
            "oral",
            "nightmares",
            None,
            later(2),
            formulary=FORMULARY,
        )
        with pytest.raises(RuleViolation):
            plan.discontinue(rx, "switched", later(4), reason_code="switched")

    def test_a_drug_started_long_before_does_not_make_it_a_switch(self) -> None:
        plan, rx = on("sertraline", "100")
        plan.prescribe(
            "mirtazapine",
            mg("15"),
            "at_bedtime",
            "oral",
            "MDD",
            None,
            later(1),
            formulary=FORMULARY,
        )
        with pytest.raises(RuleViolation):
            plan.discontinue(rx, "switched", later(30), reason_code="switched")


class TestSwitch:
    def test_a_direct_switch_stops_the_old_and_links_the_new(self) -> None:
        plan, old = on("sertraline", "50")
        new, _ = plan.switch(
            old,
            strategy="direct",
            reason="no response at 8 weeks",
            drug="escitalopram",
            dose=mg("10"),
            frequency="daily",
            route="oral",
            indication="MDD",
            follow_up=None,
            ctx=ctx(),
            formulary=FORMULARY,
            acknowledgements={"discontinuation.taper_required": "same-class direct switch"},
        )
        assert types(plan)[-4:] == [
            "MedicationDiscontinued",
            "SafetyWarningAcknowledged",
            "MedicationPrescribed",
            "MedicationSwitched",
        ]
        assert plan.prescription(old).end_reason_code == "switched"
        assert plan.switches == [(old, new)]

    def test_a_cross_taper_keeps_the_old_drug_tapering_beside_the_new(self) -> None:
        plan, old = on("sertraline", "100")
        new, _ = plan.switch(
            old,
            strategy="cross_taper",
            reason="sexual side effects",
            drug="bupropion",
            dose=mg("150"),
            frequency="daily",
            route="oral",
            indication="MDD",
            follow_up=None,
            ctx=ctx(),
            formulary=FORMULARY,
            taper=steps(("50", 7), ("25", 14)),
        )
        assert plan.prescription(old).status == "tapering"
        assert plan.prescription(new).is_active

    def test_a_cross_taper_into_an_maoi_is_contraindicated(self) -> None:
        plan, old = on("sertraline", "50")
        with pytest.raises(RuleViolation) as refused:
            plan.switch(
                old,
                strategy="cross_taper",
                reason="treatment resistant",
                drug="phenelzine",
                dose=mg("15"),
                frequency="three_times_daily",
                route="oral",
                indication="MDD",
                follow_up=None,
                ctx=ctx(),
                formulary=FORMULARY,
                taper=steps(("25", 7)),
            )
        assert refused.value.code == "interaction.contraindicated"

    def test_a_washout_switch_waits_for_the_washout(self) -> None:
        plan, old = on("prazosin", "1", "at_bedtime")
        plan.discontinue(old, "stopping", ctx(), formulary=FORMULARY)
        arguments = {
            "strategy": "washout",
            "reason": "try another",
            "drug": "sertraline",
            "dose": mg("50"),
            "frequency": "daily",
            "route": "oral",
            "indication": "PTSD",
            "follow_up": None,
            "ctx": ctx(),
            "formulary": FORMULARY,
        }
        with pytest.raises(RuleViolation) as refused:
            plan.switch(old, washout_days=7, **arguments)  # type: ignore[arg-type]
        assert refused.value.code == "switch.washout_incomplete"
        new, _ = plan.switch(old, washout_days=0, **arguments)  # type: ignore[arg-type]
        assert plan.switches == [(old, new)]

    def test_a_washout_switch_from_a_drug_still_taken_is_refused(self) -> None:
        plan, old = on("prazosin", "1", "at_bedtime")
        with pytest.raises(RuleViolation) as refused:
            plan.switch(
                old,
                strategy="washout",
                reason="x",
                drug="sertraline",
                dose=mg("50"),
                frequency="daily",
                route="oral",
                indication="PTSD",
                follow_up=None,
                ctx=ctx(),
                formulary=FORMULARY,
            )
        assert refused.value.code == "switch.washout_not_started"
