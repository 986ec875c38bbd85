"""The care plan's commands and the events they record."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.care_plan import CarePlan, care_plan_id
from domain.errors import (
    CarePlanNotFound,
    FollowUpNotFound,
    InvalidValue,
    PrescriptionNotFound,
    RuleViolation,
)
from domain.scales import validated_measurement
from domain.values import Dose, Evaluation, FollowUpPlan
from tests.unit.clinic import (
    AGREED,
    DR_ADA,
    FORMULARY,
    NOW,
    NURSE_SAM,
    ctx,
    evaluated_plan,
    in_weeks,
    initial_evaluation,
    mg,
    on_sertraline,
    replay,
)


def event_types(plan: CarePlan) -> list[str]:
    return [type(e).__name__ for e in plan.pending_events]


class TestOpening:
    def test_opening_records_patient_actor_and_clinical_time(self) -> None:
        plan = CarePlan.open("  pt-1 ", ctx())
        (opened,) = plan.pending_events
        assert type(opened).__name__ == "CarePlanOpened"
        assert opened.patient_id == "pt-1"
        assert opened.actor == DR_ADA
        assert opened.occurred_at == NOW
        assert opened.correlation_id == "req-1"
        assert plan.status == "open"

    def test_a_blank_patient_id_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            CarePlan.open("   ", ctx())
        assert refused.value.code == "patient.invalid"

    def test_a_care_plan_id_that_is_no_uuid_names_no_plan(self) -> None:
        with pytest.raises(CarePlanNotFound):
            care_plan_id("not-a-uuid")


class TestEvaluation:
    def test_initial_evaluation_is_recorded_with_its_findings(self) -> None:
        plan = CarePlan.open("pt-1", ctx())
        plan.record_evaluation(initial_evaluation(), ctx())
        recorded = plan.pending_events[-1]
        assert type(recorded).__name__ == "EvaluationRecorded"
        assert recorded.kind == "initial"
        assert [d.code for d in recorded.diagnoses] == ["F32.1"]
        assert recorded.symptoms == ["low mood"]
        assert plan.has_initial_evaluation

    def test_a_reassessment_alone_does_not_count_as_initial(self) -> None:
        plan = CarePlan.open("pt-1", ctx())
        plan.record_evaluation(Evaluation("reassessment", "telehealth", ()), ctx())
        assert not plan.has_initial_evaluation

    def test_an_initial_evaluation_needs_a_working_diagnosis(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Evaluation("initial", "in_person", ())
        assert refused.value.code == "evaluation.diagnosis_required"

    def test_unknown_modality_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Evaluation("initial", "carrier_pigeon", ())
        assert refused.value.code == "evaluation.unknown_modality"


class TestPrescribing:
    def test_prescribing_records_the_prescription_and_its_follow_up(self) -> None:
        plan, rx = on_sertraline()
        assert event_types(plan)[-2:] == ["MedicationPrescribed", "FollowUpScheduled"]
        prescribed, scheduled = plan.pending_events[-2:]
        assert prescribed.prescription_id == rx
        assert prescribed.dose == mg("25")
        assert scheduled.prescription_id == rx
        assert plan.prescription(rx).is_active

    def test_prescribing_before_an_initial_evaluation_is_refused(self) -> None:
        plan = CarePlan.open("pt-1", ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.prescribe(
                "sertraline",
                mg("25"),
                "daily",
                "oral",
                "MDD",
                in_weeks(2),
                ctx(),
                formulary=FORMULARY,
            )
        assert refused.value.code == "prescription.requires_evaluation"
        assert event_types(plan) == ["CarePlanOpened"]

    def test_a_second_active_prescription_of_the_same_drug_is_refused(self) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(RuleViolation) as refused:
            plan.prescribe(
                " SERTRALINE ", mg("50"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
            )
        assert refused.value.code == "prescription.already_active"

    def test_a_drug_may_be_prescribed_again_once_discontinued(self) -> None:
        plan, rx = on_sertraline()
        plan.discontinue(rx, "patient preference", ctx())
        again, _ = plan.prescribe(
            "sertraline", mg("25"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
        )
        assert plan.prescription(again).is_active

    def test_a_prescription_without_any_follow_up_is_refused(self) -> None:
        plan = evaluated_plan()
        with pytest.raises(RuleViolation) as refused:
            plan.prescribe(
                "sertraline", mg("25"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
            )
        assert refused.value.code == "follow_up.required"

    def test_a_pending_follow_up_is_enough_for_another_prescription(self) -> None:
        plan, _ = on_sertraline()
        rx, warnings = plan.prescribe(
            "trazodone",
            mg("50"),
            "at_bedtime",
            "oral",
            "sleep",
            None,
            ctx(),
            formulary=FORMULARY,
            discussion=AGREED,
        )
        assert plan.prescription(rx).drug == "trazodone"
        assert warnings == []

    def test_a_follow_up_due_before_the_prescription_is_refused(self) -> None:
        plan = evaluated_plan()
        yesterday = FollowUpPlan(NOW.date() - timedelta(days=1))
        with pytest.raises(InvalidValue) as refused:
            plan.prescribe(
                "sertraline",
                mg("25"),
                "daily",
                "oral",
                "MDD",
                yesterday,
                ctx(),
                formulary=FORMULARY,
            )
        assert refused.value.code == "follow_up.due_in_past"

    @pytest.mark.parametrize(
        ("frequency", "route", "code"),
        [
            ("hourly", "oral", "prescription.unknown_frequency"),
            ("daily", "by ear", "prescription.unknown_route"),
        ],
    )
    def test_unknown_frequency_or_route_is_refused(
        self, frequency: str, route: str, code: str
    ) -> None:
        plan = evaluated_plan()
        with pytest.raises(InvalidValue) as refused:
            plan.prescribe(
                "sertraline",
                mg("25"),
                frequency,
                route,
                "MDD",
                in_weeks(2),
                ctx(),
                formulary=FORMULARY,
            )
        assert refused.value.code == code


class TestDoseChange:
    def test_a_dose_change_records_old_and_new_dose_and_the_drug(self) -> None:
        plan, rx = on_sertraline()
        plan.change_dose(rx, mg("50"), "tolerating well", None, ctx(), formulary=FORMULARY)
        changed = plan.pending_events[-1]
        assert type(changed).__name__ == "DoseChanged"
        assert (changed.previous_dose, changed.dose, changed.drug) == (
            mg("25"),
            mg("50"),
            "sertraline",
        )
        assert plan.prescription(rx).dose == mg("50")

    def test_a_dose_change_on_a_discontinued_prescription_is_refused(self) -> None:
        plan, rx = on_sertraline()
        plan.discontinue(rx, "remission", ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.change_dose(rx, mg("50"), "more", in_weeks(2), ctx(), formulary=FORMULARY)
        assert refused.value.code == "prescription.not_active"

    def test_a_dose_change_of_an_unknown_prescription_is_not_found(self) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(PrescriptionNotFound):
            plan.change_dose("rx-unknown", mg("50"), "more", None, ctx(), formulary=FORMULARY)

    def test_a_dose_change_needs_a_follow_up_when_none_is_pending(self) -> None:
        plan, rx = on_sertraline()
        for follow_up in list(plan.follow_ups.values()):
            plan.complete_follow_up(follow_up.follow_up_id, "in_person", [], [], None, ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.change_dose(rx, mg("50"), "partial response", None, ctx(), formulary=FORMULARY)
        assert refused.value.code == "follow_up.required"

    def test_the_same_dose_is_not_a_change(self) -> None:
        plan, rx = on_sertraline()
        with pytest.raises(InvalidValue) as refused:
            plan.change_dose(rx, mg("25.0"), "no change", None, ctx(), formulary=FORMULARY)
        assert refused.value.code == "dose.unchanged"

    def test_a_dose_in_another_unit_is_refused(self) -> None:
        plan, rx = on_sertraline()
        with pytest.raises(InvalidValue) as refused:
            plan.change_dose(
                rx, Dose(Decimal("0.05"), "g"), "unit slip", None, ctx(), formulary=FORMULARY
            )
        assert refused.value.code == "dose.unit_mismatch"

    def test_a_dose_change_needs_a_reason(self) -> None:
        plan, rx = on_sertraline()
        with pytest.raises(InvalidValue) as refused:
            plan.change_dose(rx, mg("50"), "  ", None, ctx(), formulary=FORMULARY)
        assert refused.value.code == "dose_change.reason_required"


class TestDiscontinuation:
    def test_discontinuing_ends_the_prescription_with_its_reason(self) -> None:
        plan, rx = on_sertraline()
        plan.discontinue(rx, "remission for 9 months", ctx())
        stopped = plan.prescription(rx)
        assert (stopped.status, stopped.end_reason, stopped.ended_at) == (
            "discontinued",
            "remission for 9 months",
            NOW,
        )
        assert plan.active_prescriptions == []

    def test_discontinuing_twice_is_refused(self) -> None:
        plan, rx = on_sertraline()
        plan.discontinue(rx, "remission", ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.discontinue(rx, "again", ctx())
        assert refused.value.code == "prescription.not_active"


class TestFollowUps:
    def test_a_clinician_completes_a_follow_up_with_a_phq9(self) -> None:
        plan, _ = on_sertraline()
        (follow_up_id,) = plan.follow_ups
        plan.complete_follow_up(
            follow_up_id,
            "telehealth",
            [validated_measurement("phq9", 12)],
            ["nausea", " "],
            " daily ",
            ctx(NURSE_SAM),
        )
        completed = plan.pending_events[-1]
        assert [(m.instrument, m.total) for m in completed.measurements] == [("PHQ-9", 12)]
        assert completed.side_effects == ["nausea"]
        assert completed.adherence == "daily"
        assert completed.actor == NURSE_SAM
        assert not plan.follow_up(follow_up_id).is_pending

    def test_completing_a_follow_up_twice_is_refused(self) -> None:
        plan, _ = on_sertraline()
        (follow_up_id,) = plan.follow_ups
        plan.complete_follow_up(follow_up_id, "in_person", [], [], None, ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.complete_follow_up(follow_up_id, "in_person", [], [], None, ctx())
        assert refused.value.code == "follow_up.not_pending"

    def test_an_unknown_follow_up_is_not_found(self) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(FollowUpNotFound):
            plan.complete_follow_up("nope", "in_person", [], [], None, ctx())

    def test_a_follow_up_can_be_scheduled_on_its_own(self) -> None:
        plan = evaluated_plan()
        follow_up_id, _ = plan.schedule_follow_up(FollowUpPlan(date(2026, 3, 16)), ctx())
        assert plan.follow_up(follow_up_id).due_on == date(2026, 3, 16)
        assert plan.follow_up(follow_up_id).prescription_id is None


class TestReplay:
    def test_replaying_the_events_gives_the_same_plan(self) -> None:
        plan, rx = on_sertraline()
        plan.change_dose(rx, mg("50"), "tolerating", in_weeks(4), ctx(), formulary=FORMULARY)
        plan.discontinue(rx, "rash", ctx(), reason_code="adverse_reaction")
        expected = (
            plan.version,
            plan.patient_id,
            plan.has_initial_evaluation,
            {k: vars(v) for k, v in plan.prescriptions.items()},
            {k: vars(v) for k, v in plan.follow_ups.items()},
        )
        rebuilt = replay(plan)
        assert (
            rebuilt.version,
            rebuilt.patient_id,
            rebuilt.has_initial_evaluation,
            {k: vars(v) for k, v in rebuilt.prescriptions.items()},
            {k: vars(v) for k, v in rebuilt.follow_ups.items()},
        ) == expected

    def test_a_refused_command_records_nothing(self) -> None:
        plan, rx = on_sertraline()
        before = len(plan.pending_events)
        with pytest.raises(RuleViolation):
            plan.prescribe(
                "sertraline", mg("50"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
            )
        with pytest.raises(InvalidValue):
            plan.change_dose(rx, mg("25"), "same", None, ctx(), formulary=FORMULARY)
        assert len(plan.pending_events) == before
