"""Monitoring between visits: side effects, adherence, rating scales and lab results,
each judged once when recorded and stored with its judgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, PrescriptionNotFound, RuleViolation
from domain.labs import LAB_TESTS, read_lab_result
from domain.monitoring_plan import OFFSETS
from domain.scales import validated_measurement
from domain.values import Evaluation, FollowUpPlan
from projections.audit_trail import summarise
from services.application import CarePlans
from tests.unit.clinic import (
    FORMULARY,
    NOW,
    NURSE_SAM,
    ctx,
    evaluated_plan,
    mg,
    on_sertraline,
    replay,
)

DAY = timedelta(days=1)
COLLECTED = NOW - timedelta(hours=2)


def last_event(plan: CarePlan) -> CarePlan.Event:
    return plan.pending_events[-1]


def count(plan: CarePlan) -> int:
    return len(plan.pending_events)


def on(drug: str, amount: str, frequency: str = "daily") -> tuple[CarePlan, str]:
    plan = evaluated_plan()
    rx, _ = plan.prescribe(
        drug,
        mg(amount),
        frequency,
        "oral",
        "test",
        FollowUpPlan(NOW.date() + 7 * DAY),
        ctx(),
        formulary=FORMULARY,
    )
    return plan, rx


def lab(plan: CarePlan, test: str, value: str, unit: str, **kwargs: object) -> str:
    lab_result_id, _ = lab_with_findings(plan, test, value, unit, **kwargs)
    return lab_result_id


def lab_with_findings(
    plan: CarePlan, test: str, value: str, unit: str, **kwargs: object
) -> tuple[str, list]:  # type: ignore[type-arg]
    at = kwargs.pop("at", NOW)
    assert isinstance(at, datetime)
    collected = kwargs.pop("collected_at", at - timedelta(hours=2))
    return plan.record_lab_result(
        test,
        Decimal(value),
        unit,
        collected,  # type: ignore[arg-type]
        ctx(NURSE_SAM, at),
        **kwargs,  # type: ignore[arg-type]
    )


class TestSideEffects:
    def test_a_side_effect_is_recorded_with_severity_and_action(self) -> None:
        plan, rx = on_sertraline()
        side_effect_id = plan.report_side_effect(
            "  nausea in the mornings ",
            "moderate",
            "dose_reduced",
            ctx(NURSE_SAM),
            prescription_id=rx,
        )
        reported = last_event(plan)
        assert type(reported).__name__ == "SideEffectReported"
        assert (reported.side_effect_id, reported.prescription_id) == (side_effect_id, rx)
        assert (reported.description, reported.severity, reported.action) == (
            "nausea in the mornings",
            "moderate",
            "dose_reduced",
        )
        assert plan.side_effects[side_effect_id].severity == "moderate"

    def test_a_side_effect_needs_no_prescription(self) -> None:
        plan, _ = on_sertraline()
        plan.report_side_effect("headache", "mild", "none", ctx())
        assert last_event(plan).prescription_id is None

    def test_a_side_effect_of_a_stopped_prescription_is_accepted(self) -> None:
        """Withdrawal symptoms and late effects follow a stop."""
        plan, rx = on_sertraline()
        plan.discontinue(rx, "rash", ctx(), reason_code="adverse_reaction")
        plan.report_side_effect("dizziness", "mild", "monitor", ctx(), prescription_id=rx)
        assert last_event(plan).prescription_id == rx

    def test_a_prescription_marked_in_error_takes_no_side_effect(self) -> None:
        plan, rx = on_sertraline()
        prescribed = next(e for e in plan.pending_events if getattr(e, "prescription_id", 0) == rx)
        plan.mark_entry_in_error(prescribed.originator_version, prescribed, "wrong patient", ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.report_side_effect("rash", "severe", "none", ctx(), prescription_id=rx)
        assert refused.value.code == "prescription.entered_in_error"

    def test_an_unknown_prescription_is_not_found(self) -> None:
        plan, _ = on_sertraline()
        before = count(plan)
        with pytest.raises(PrescriptionNotFound):
            plan.report_side_effect("rash", "mild", "none", ctx(), prescription_id="nope")
        assert count(plan) == before

    @pytest.mark.parametrize(
        ("description", "severity", "action", "code"),
        [
            ("  ", "mild", "none", "side_effect.description_required"),
            ("rash", "catastrophic", "none", "side_effect.unknown_severity"),
            ("rash", "mild", "ignored", "side_effect.unknown_action"),
            ("rash\x00", "mild", "none", "text.control_character"),
        ],
    )
    def test_a_malformed_report_is_refused(
        self, description: str, severity: str, action: str, code: str
    ) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(InvalidValue) as refused:
            plan.report_side_effect(description, severity, action, ctx())
        assert refused.value.code == code

    def test_a_closed_plan_takes_no_report(self) -> None:
        plan, rx = on_sertraline()
        plan.discontinue(rx, "rash", ctx(), reason_code="adverse_reaction")
        plan.close("treatment_completed", None, ctx())
        with pytest.raises(RuleViolation) as refused:
            plan.report_side_effect("rash", "mild", "none", ctx())
        assert refused.value.code == "care_plan.closed"


class TestAdherence:
    def test_adherence_to_an_active_prescription_is_recorded(self) -> None:
        plan, rx = on_sertraline()
        plan.record_adherence("missed_some_doses", ctx(), prescription_id=rx, note=" weekends ")
        recorded = last_event(plan)
        assert type(recorded).__name__ == "AdherenceRecorded"
        assert (recorded.prescription_id, recorded.adherence, recorded.note) == (
            rx,
            "missed_some_doses",
            "weekends",
        )
        assert plan.adherence[rx] == "missed_some_doses"

    def test_adherence_overall_needs_no_prescription_and_a_blank_note_is_none(self) -> None:
        plan, _ = on_sertraline()
        plan.record_adherence("taking_as_prescribed", ctx(), note="  ")
        assert (last_event(plan).prescription_id, last_event(plan).note) == (None, None)

    def test_adherence_to_a_stopped_prescription_is_refused(self) -> None:
        plan, rx = on_sertraline()
        plan.discontinue(rx, "rash", ctx(), reason_code="adverse_reaction")
        with pytest.raises(RuleViolation) as refused:
            plan.record_adherence("stopped", ctx(), prescription_id=rx)
        assert refused.value.code == "adherence.prescription_not_active"

    def test_an_unknown_adherence_is_refused(self) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(InvalidValue) as refused:
            plan.record_adherence("mostly", ctx())
        assert refused.value.code == "adherence.unknown"

    def test_an_unknown_prescription_is_not_found(self) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(PrescriptionNotFound):
            plan.record_adherence("stopped", ctx(), prescription_id="nope")


class TestMeasurements:
    def test_items_are_stored_with_the_computed_total_band_and_urgency(self) -> None:
        plan, _ = on_sertraline()
        measurement_id, urgent = plan.record_measurement(
            "phq9", ctx(NURSE_SAM), items=[2, 2, 2, 2, 2, 1, 1, 1, 1]
        )
        recorded = last_event(plan)
        assert type(recorded).__name__ == "MeasurementRecorded"
        assert recorded.measurement_id == measurement_id
        assert (recorded.instrument, recorded.total, recorded.band) == ("PHQ-9", 14, "moderate")
        assert recorded.items == [2, 2, 2, 2, 2, 1, 1, 1, 1]
        assert recorded.urgent is True
        assert [f.code for f in urgent] == ["measurement.self_harm_risk"]

    def test_item_9_at_0_is_not_urgent(self) -> None:
        plan, _ = on_sertraline()
        _, urgent = plan.record_measurement("PHQ-9", ctx(), items=[2, 2, 2, 2, 2, 1, 1, 2, 0])
        assert urgent == []
        assert last_event(plan).urgent is False

    def test_a_total_alone_is_stored_without_items(self) -> None:
        plan, _ = on_sertraline()
        plan.record_measurement("GAD-7", ctx(), total=11)
        recorded = last_event(plan)
        assert (recorded.total, recorded.items, recorded.band) == (11, [], "moderate")

    def test_a_band_is_none_for_an_instrument_without_bands(self) -> None:
        plan, _ = on_sertraline()
        plan.record_measurement("AIMS", ctx(), items=[1, 0, 0, 0, 0, 0, 0])
        assert last_event(plan).band is None

    def test_a_refused_measurement_records_nothing(self) -> None:
        plan, _ = on_sertraline()
        before = count(plan)
        with pytest.raises(InvalidValue) as refused:
            plan.record_measurement("PHQ-9", ctx(), total=20, items=[1] * 9)
        assert refused.value.code == "measurement.items_mismatch"
        assert count(plan) == before


class TestLabReadings:
    @pytest.mark.parametrize(
        ("value", "flag"),
        [
            ("0.5", "low"),
            ("0.6", "normal"),
            ("1.2", "normal"),
            ("1.3", "high"),
            ("1.5", "high"),
            ("1.6", "critical"),
        ],
    )
    def test_lithium_is_flagged_against_0_6_to_1_2_and_critical_above_1_5(
        self, value: str, flag: str
    ) -> None:
        reading = read_lab_result("lithium_level", Decimal(value), "mEq/L")
        assert reading.flag == flag
        assert (reading.reference.low, reading.reference.high) == (Decimal("0.6"), Decimal("1.2"))
        assert "Lithium" in (reading.reference.source or "")

    def test_lithium_in_mmol_per_litre_is_the_same_scale(self) -> None:
        assert read_lab_result("lithium_level", Decimal("1.6"), "mmol/L").flag == "critical"

    def test_lithium_above_1_5_is_critical_whatever_the_laboratory_range(self) -> None:
        reading = read_lab_result(
            "lithium_level", Decimal("1.6"), "mEq/L", Decimal("0.5"), Decimal("2.0")
        )
        assert reading.flag == "critical"

    @pytest.mark.parametrize("unit", ["mg/dL", "µg/mL", ""])
    def test_lithium_in_another_unit_is_refused(self, unit: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            read_lab_result("lithium_level", Decimal("0.8"), unit)
        assert refused.value.code == "lab.unknown_unit"

    @pytest.mark.parametrize("unit", ["µg/mL", "ug/mL", "mcg/mL", "μg/mL", "mg/L"])
    def test_valproate_units_and_their_spellings(self, unit: str) -> None:
        reading = read_lab_result("valproate_level", Decimal("130"), unit)
        assert reading.unit in ("µg/mL", "mg/L")
        assert (reading.flag, reading.reference.high) == ("high", Decimal("125"))
        assert "valproex" in (reading.reference.source or "")

    @pytest.mark.parametrize(
        ("value", "unit", "flag"),
        [
            ("499", "cells/µL", "critical"),
            ("500", "cells/µL", "low"),
            ("1500", "cells/µL", "normal"),
            ("0.4", "10^9/L", "critical"),
            ("1.5", "10^9/L", "normal"),
        ],
    )
    def test_anc_below_500_is_critical(self, value: str, unit: str, flag: str) -> None:
        assert read_lab_result("anc", Decimal(value), unit).flag == flag

    def test_the_laboratory_range_wins_over_the_default(self) -> None:
        reading = read_lab_result(
            "valproate_level", Decimal("110"), "µg/mL", reference_high=Decimal("100")
        )
        assert (reading.flag, reading.reference.low, reading.reference.source) == (
            "high",
            None,
            None,
        )

    def test_a_test_without_a_default_range_has_no_flag(self) -> None:
        reading = read_lab_result("tsh", Decimal("9.0"), "mIU/L")
        assert (reading.flag, reading.reference.low, reading.reference.high) == (None, None, None)

    def test_a_test_with_its_laboratory_range_is_flagged(self) -> None:
        reading = read_lab_result("tsh", Decimal("9.0"), "mIU/L", Decimal("0.4"), Decimal("4.0"))
        assert reading.flag == "high"

    def test_a_range_upside_down_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            read_lab_result("tsh", Decimal("2"), "mIU/L", Decimal("4.0"), Decimal("0.4"))
        assert refused.value.code == "lab.invalid_range"

    @pytest.mark.parametrize("value", ["-0.1", "NaN", "Infinity", "1000001"])
    def test_an_impossible_value_is_refused(self, value: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            read_lab_result("lithium_level", Decimal(value), "mEq/L")
        assert refused.value.code == "lab.invalid_value"

    def test_an_unknown_test_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            read_lab_result("unobtainium", Decimal("1"), "mg/dL")
        assert refused.value.code == "lab.unknown_test"

    def test_every_test_counts_for_a_check_that_monitoring_schedules(self) -> None:
        assert {test.monitors for test in LAB_TESTS.values()} <= set(OFFSETS)


class TestLabResults:
    def test_a_result_is_stored_with_its_range_source_flag_and_collection_time(self) -> None:
        plan, _ = on("lithium", "300", "twice_daily")
        collected = datetime(2026, 3, 2, 8, 0, tzinfo=timezone(timedelta(hours=1)))
        lab_result_id = lab(plan, "lithium_level", "1.60", "mEq/L", collected_at=collected)
        recorded = last_event(plan)
        assert type(recorded).__name__ == "LabResultRecorded"
        assert recorded.lab_result_id == lab_result_id
        assert (recorded.test, recorded.value, recorded.unit, recorded.flag) == (
            "lithium_level",
            Decimal("1.6"),
            "mEq/L",
            "critical",
        )
        assert (recorded.reference_low, recorded.reference_high) == (
            Decimal("0.6"),
            Decimal("1.2"),
        )
        assert recorded.reference_source
        assert recorded.collected_at == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)

    def test_a_sample_collected_after_its_result_is_refused(self) -> None:
        plan, _ = on_sertraline()
        before = count(plan)
        with pytest.raises(InvalidValue) as refused:
            lab(plan, "weight", "70", "kg", collected_at=NOW + timedelta(minutes=1))
        assert refused.value.code == "lab.collected_after_result"
        assert count(plan) == before
        lab(plan, "weight", "70", "kg", collected_at=NOW)  # the same moment is fine

    def test_a_collection_time_needs_a_time_zone(self) -> None:
        plan, _ = on_sertraline()
        with pytest.raises(InvalidValue) as refused:
            lab(plan, "weight", "70", "kg", collected_at=datetime(2026, 3, 2, 8, 0))
        assert refused.value.code == "time.naive"

    def test_a_sample_may_predate_the_plan(self) -> None:
        plan, _ = on_sertraline()
        lab(plan, "creatinine", "0.9", "mg/dL", collected_at=NOW - 30 * DAY)
        assert last_event(plan).collected_at == NOW - 30 * DAY


class TestResultsCountAsRequiredMonitoring:
    def test_a_creatinine_result_completes_the_renal_function_check(self) -> None:
        plan, _ = on("lithium", "300", "twice_daily")
        lab(plan, "creatinine", "0.9", "mg/dL")
        due = {d.item.test for d in plan.due_items(NOW.date())}
        assert due == {"thyroid_function", "calcium"}

    def test_a_lithium_level_lets_the_dose_rise_without_an_overdue_warning(self) -> None:
        plan, rx = on("lithium", "300", "twice_daily")
        lab(plan, "lithium_level", "0.5", "mmol/L", at=NOW + 7 * DAY)
        warnings = plan.change_dose(
            rx, mg("450"), "level low", None, ctx(at=NOW + 9 * DAY), formulary=FORMULARY
        )
        assert "monitoring.overdue_before_increase" not in [w.code for w in warnings]

    def test_a_level_taken_too_early_does_not_count(self) -> None:
        plan, rx = on("lithium", "300", "twice_daily")
        lab(plan, "lithium_level", "0.3", "mmol/L", at=NOW + 2 * DAY)
        warnings = plan.change_dose(
            rx, mg("450"), "level low", None, ctx(at=NOW + 9 * DAY), formulary=FORMULARY
        )
        assert "monitoring.overdue_before_increase" in [w.code for w in warnings]

    def test_a_result_marked_in_error_no_longer_counts(self) -> None:
        plan, _ = on("lithium", "300", "twice_daily")
        lab(plan, "creatinine", "0.9", "mg/dL")
        recorded = last_event(plan)
        plan.mark_entry_in_error(recorded.originator_version, recorded, "other patient", ctx())
        assert "renal_function" in {d.item.test for d in plan.due_items(NOW.date())}

    def test_an_aims_measurement_completes_the_aims_check(self) -> None:
        plan, _ = on("quetiapine", "25", "twice_daily")
        assert "aims" in {d.item.test for d in plan.due_items(NOW.date())}
        plan.record_measurement("AIMS", ctx(), total=2)
        assert "aims" not in {d.item.test for d in plan.due_items(NOW.date())}

    def test_an_aims_total_at_a_completed_follow_up_counts_too(self) -> None:
        plan, _ = on("quetiapine", "25", "twice_daily")
        (follow_up_id,) = plan.follow_ups
        plan.complete_follow_up(
            follow_up_id, "in_person", [validated_measurement("AIMS", 0)], [], None, ctx()
        )
        assert "aims" not in {d.item.test for d in plan.due_items(NOW.date())}

    def test_a_phq9_is_no_aims(self) -> None:
        plan, _ = on("quetiapine", "25", "twice_daily")
        plan.record_measurement("PHQ-9", ctx(), total=2)
        assert "aims" in {d.item.test for d in plan.due_items(NOW.date())}


class TestReplayAndAudit:
    def a_monitored_plan(self) -> CarePlan:
        plan, rx = on("lithium", "300", "twice_daily")
        plan.report_side_effect("tremor", "mild", "monitor", ctx(), prescription_id=rx)
        plan.record_adherence("taking_more", ctx(), prescription_id=rx, note="extra at night")
        plan.record_measurement("PHQ-9", ctx(), items=[1, 1, 1, 1, 1, 1, 1, 1, 1])
        lab(plan, "lithium_level", "1.6", "mEq/L")
        return plan

    def test_replaying_the_events_rebuilds_the_monitoring_state(self) -> None:
        plan = self.a_monitored_plan()
        rebuilt = replay(plan)
        for name in ("side_effects", "adherence", "scores", "lab_results", "lab_dates"):
            assert getattr(rebuilt, name) == getattr(plan, name), name

    def test_the_events_come_back_unchanged_from_the_store_mapper(self) -> None:
        """Decimals, times and item lists survive the application's JSON transcoding."""
        app = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)
        plan = self.a_monitored_plan()
        (follow_up_id,) = plan.follow_ups
        plan.reschedule_follow_up(follow_up_id, NOW.date() + 10 * DAY, None, "holiday", ctx())
        plan.cancel_follow_up(follow_up_id, "seen in clinic instead", ctx())
        extra, _ = plan.schedule_follow_up(FollowUpPlan(NOW.date()), ctx())
        plan.mark_follow_up_missed(extra, "no answer", ctx())
        new = {
            "SideEffectReported",
            "AdherenceRecorded",
            "MeasurementRecorded",
            "LabResultRecorded",
            "FollowUpRescheduled",
            "FollowUpCancelled",
            "FollowUpMissed",
        }
        events = [e for e in plan.pending_events if type(e).__name__ in new]
        assert {type(e).__name__ for e in events} == new
        for event in events:
            back = app.mapper.to_domain_event(app.mapper.to_stored_event(event))
            assert type(back) is type(event)
            assert vars(back) == vars(event)

    def test_each_event_has_a_summary_a_clinician_can_read(self) -> None:
        plan = self.a_monitored_plan()
        (follow_up_id,) = plan.follow_ups
        plan.reschedule_follow_up(follow_up_id, NOW.date() + 10 * DAY, None, "holiday", ctx())
        extra, _ = plan.schedule_follow_up(FollowUpPlan(NOW.date()), ctx())
        plan.mark_follow_up_missed(extra, "no answer", ctx())
        plan.cancel_follow_up(follow_up_id, "seen in clinic instead", ctx())
        summaries = {type(e).__name__: summarise(e) for e in plan.pending_events}
        assert summaries["SideEffectReported"] == "Side effect (mild): tremor; monitor"
        assert summaries["AdherenceRecorded"] == "Adherence: taking more (extra at night)"
        assert summaries["MeasurementRecorded"] == "PHQ-9 9 (mild); needs same-day attention"
        assert summaries["LabResultRecorded"] == (
            "lithium level 1.6 mEq/L (critical), collected 2026-03-02"
        )
        assert summaries["FollowUpRescheduled"] == (
            "Follow-up moved to 2026-03-12 (in person): holiday"
        )
        assert summaries["FollowUpMissed"] == "Follow-up missed: no answer"
        assert summaries["FollowUpCancelled"] == "Follow-up cancelled: seen in clinic instead"


class TestCriticalResults:
    def test_a_critical_lithium_level_comes_back_as_urgent(self) -> None:
        plan, _ = on("lithium", "300", "twice_daily")
        _, urgent = lab_with_findings(plan, "lithium_level", "1.6", "mEq/L")
        assert [(f.code, f.severity) for f in urgent] == [("lab.critical", "urgent")]
        assert "Lithium level 1.6 mEq/L" in urgent[0].message

    def test_a_high_but_not_critical_level_is_not_urgent(self) -> None:
        plan, _ = on("lithium", "300", "twice_daily")
        _, urgent = lab_with_findings(plan, "lithium_level", "1.5", "mEq/L")
        assert urgent == []
        assert last_event(plan).flag == "high"


class TestBenignEthnicNeutropenia:
    def test_the_lower_normal_anc_applies_once_the_condition_is_recorded(self) -> None:
        plan = evaluated_plan()
        at = ctx()
        _, urgent = plan.record_lab_result(
            "anc", Decimal("1200"), "cells/µL", NOW - timedelta(hours=1), at
        )
        assert urgent == []
        assert plan.pending_events[-1].flag == "low"
        plan.record_evaluation(
            Evaluation(
                "reassessment", "in_person", (), conditions=frozenset({"benign_ethnic_neutropenia"})
            ),
            at,
        )
        plan.record_lab_result("anc", Decimal("1200"), "cells/µL", NOW - timedelta(hours=1), at)
        event = plan.pending_events[-1]
        assert (event.flag, event.reference_low) == ("normal", Decimal("1000"))
        assert "benign ethnic neutropenia" in event.reference_source
        _, urgent = plan.record_lab_result(
            "anc", Decimal("400"), "cells/µL", NOW - timedelta(hours=1), at
        )
        assert [f.code for f in urgent] == ["lab.critical"]  # the critical limit is the same
