"""Who may prescribe what, controlled substances, follow-up timing, lamotrigine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain import schedules, scope
from domain.care_plan import CarePlan
from domain.errors import RuleViolation
from domain.regulations import default_regulations
from domain.values import Actor, Evaluation, FollowUpPlan
from tests.unit.clinic import AGREED, DR_ADA, FORMULARY, NOW, ctx, initial_evaluation, mg

REGULATIONS = default_regulations()
D = Decimal


def codes(findings: list) -> list[str]:  # type: ignore[type-arg]
    return [f.code for f in findings]


class TestPrescriberScope:
    def test_a_physician_assistant_without_a_supervisor_is_refused(self) -> None:
        pa = Actor("pa-lee", "prescriber", profession="physician_assistant")
        assert codes(scope.prescriber_scope(pa, FORMULARY.drug("sertraline"))) == [
            "prescriber.supervisor_required"
        ]
        supervised = replace(pa, supervisor_id="dr-ada")
        assert scope.prescriber_scope(supervised, FORMULARY.drug("sertraline")) == []

    def test_primary_care_starting_clozapine_warns(self) -> None:
        gp = Actor("dr-gp", "prescriber", profession="primary_care")
        assert codes(scope.prescriber_scope(gp, FORMULARY.drug("clozapine"))) == [
            "prescriber.specialist_drug"
        ]
        assert scope.prescriber_scope(gp, FORMULARY.drug("sertraline")) == []


class TestControlledSubstances:
    def test_a_schedule_ii_stimulant_cannot_carry_refills(self) -> None:
        stimulant = FORMULARY.drug("methylphenidate")
        assert codes(scope.refills_allowed(stimulant, 1, REGULATIONS)) == [
            "controlled.refills_exceeded"
        ]
        assert scope.refills_allowed(stimulant, 0, REGULATIONS) == []

    def test_a_schedule_iv_benzodiazepine_allows_five_refills_not_six(self) -> None:
        lorazepam = FORMULARY.drug("lorazepam")
        assert scope.refills_allowed(lorazepam, 5, REGULATIONS) == []
        assert codes(scope.refills_allowed(lorazepam, 6, REGULATIONS)) == [
            "controlled.refills_exceeded"
        ]

    def test_telehealth_only_relies_on_the_flexibility_until_its_end_date(self) -> None:
        stimulant = FORMULARY.drug("methylphenidate")
        before = datetime(2026, 12, 31, 12, tzinfo=UTC)
        after = datetime(2027, 1, 1, 12, tzinfo=UTC)
        assert codes(scope.telemedicine(stimulant, ["telehealth"], before, REGULATIONS)) == [
            "controlled.telemedicine_flexibility"
        ]
        assert codes(scope.telemedicine(stimulant, ["telehealth"], after, REGULATIONS)) == [
            "controlled.in_person_evaluation_required"
        ]

    def test_an_in_person_evaluation_or_an_uncontrolled_drug_needs_no_flexibility(self) -> None:
        later = datetime(2027, 6, 1, tzinfo=UTC)
        stimulant = FORMULARY.drug("methylphenidate")
        both = ["telehealth", "in_person"]
        assert scope.telemedicine(stimulant, both, later, REGULATIONS) == []
        sertraline = FORMULARY.drug("sertraline")
        assert scope.telemedicine(sertraline, ["telehealth"], later, REGULATIONS) == []


class TestFollowUpTiming:
    def test_an_under_25_starting_an_antidepressant_is_seen_within_a_week(self) -> None:
        ssri = FORMULARY.drug("sertraline")
        today = date(2026, 3, 2)
        found = schedules.follow_up_interval(ssri, 19, True, today, today + timedelta(days=8))
        assert codes(found) == ["follow_up.interval_too_long"]
        assert schedules.follow_up_interval(ssri, 19, True, today, today + timedelta(days=7)) == []

    def test_an_adult_is_seen_within_four_weeks(self) -> None:
        ssri = FORMULARY.drug("sertraline")
        today = date(2026, 3, 2)
        assert schedules.follow_up_interval(ssri, 40, True, today, today + timedelta(28)) == []
        assert codes(
            schedules.follow_up_interval(ssri, 40, True, today, today + timedelta(29))
        ) == ["follow_up.interval_too_long"]

    def test_the_weekly_rule_is_for_antidepressants(self) -> None:
        prazosin = FORMULARY.drug("prazosin")
        today = date(2026, 3, 2)
        assert schedules.follow_up_interval(prazosin, 19, True, today, today + timedelta(14)) == []


class TestLamotrigine:
    @pytest.mark.parametrize(
        ("daily", "day", "valproate", "blocked"),
        [
            ("25", 0, False, False),
            ("50", 0, False, True),
            ("50", 14, False, False),
            ("100", 27, False, True),
            ("200", 35, False, False),
            ("25", 0, True, True),
            ("12.5", 0, True, False),
            ("100", 35, True, False),
            ("150", 60, True, True),
        ],
    )
    def test_the_label_escalation_and_its_halving_with_valproate(
        self, daily: str, day: int, valproate: bool, blocked: bool
    ) -> None:
        found = schedules.lamotrigine_titration(
            FORMULARY.drug("lamotrigine"), D(daily), day, valproate
        )
        assert codes(found) == (["lamotrigine.titration_too_fast"] if blocked else [])


class TestThroughThePlan:
    def plan(self, modality: str = "in_person", birth: date | None = None) -> CarePlan:
        plan = CarePlan.open("pt-1", ctx(), birth)
        evaluation = Evaluation(**{**initial_evaluation().__dict__, "modality": modality})
        plan.record_evaluation(evaluation, ctx())
        return plan

    def test_a_young_adults_monthly_follow_up_after_starting_sertraline_warns(self) -> None:
        plan = self.plan(birth=date(2005, 1, 1))
        _, warnings = plan.prescribe(
            "sertraline",
            mg("50"),
            "daily",
            "oral",
            "MDD",
            FollowUpPlan(NOW.date() + timedelta(days=28)),
            ctx(),
            formulary=FORMULARY,
            discussion=replace(AGREED, boxed_warning_discussed=True),
        )
        assert codes(warnings) == ["follow_up.interval_too_long"]

    def test_a_stimulant_with_refills_is_refused_and_the_event_keeps_refills(self) -> None:
        plan = self.plan()
        with pytest.raises(RuleViolation) as refused:
            plan.prescribe(
                "methylphenidate",
                mg("5"),
                "twice_daily",
                "oral",
                "ADHD",
                FollowUpPlan(NOW.date() + timedelta(days=14)),
                ctx(),
                formulary=FORMULARY,
                refills=2,
            )
        assert refused.value.code == "controlled.refills_exceeded"
        plan.prescribe(
            "lorazepam",
            mg("1"),
            "twice_daily",
            "oral",
            "panic",
            FollowUpPlan(NOW.date() + timedelta(days=14)),
            ctx(),
            formulary=FORMULARY,
            refills=2,
        )
        assert plan.pending_events[-2].refills == 2

    def test_a_supervised_physician_assistant_is_stored_as_the_actor(self) -> None:
        plan = self.plan()
        pa = Actor("pa-lee", "prescriber", profession="physician_assistant", supervisor_id="dr-ada")
        plan.prescribe(
            "sertraline",
            mg("50"),
            "daily",
            "oral",
            "MDD",
            FollowUpPlan(NOW.date() + timedelta(days=14)),
            ctx(pa),
            formulary=FORMULARY,
        )
        assert plan.pending_events[-2].actor.supervisor_id == DR_ADA.id
