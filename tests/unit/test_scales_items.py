"""Rating scales given as item scores: totals computed, licences respected, PHQ-9 item 9
raised at once, and response and remission computed from totals."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from domain.errors import InvalidValue
from domain.scales import SCALES, remission, response, scored_measurement, validated_measurement

PHQ9_NO_SELF_HARM = [2, 2, 1, 1, 2, 1, 1, 0, 0]  # total 10


def refused(
    code: str, instrument: str, total: int | None = None, items: Sequence[int] = ()
) -> None:
    with pytest.raises(InvalidValue) as error:
        scored_measurement(instrument, total, items)
    assert error.value.code == code


class TestPhq9Items:
    def test_the_total_is_computed_from_the_nine_items(self) -> None:
        scored = scored_measurement("PHQ-9", items=PHQ9_NO_SELF_HARM)
        assert (scored.instrument, scored.total, scored.band) == ("PHQ-9", 10, "moderate")
        assert scored.items == tuple(PHQ9_NO_SELF_HARM)

    def test_a_total_that_agrees_with_the_items_is_accepted(self) -> None:
        assert scored_measurement("phq9", 10, PHQ9_NO_SELF_HARM).total == 10

    def test_a_total_that_contradicts_the_items_is_refused(self) -> None:
        refused("measurement.items_mismatch", "PHQ-9", 11, PHQ9_NO_SELF_HARM)

    def test_a_total_alone_is_accepted_and_keeps_no_items(self) -> None:
        scored = scored_measurement("PHQ-9", 14)
        assert (scored.total, scored.items, scored.band) == (14, (), "moderate")

    def test_neither_total_nor_items_is_refused(self) -> None:
        refused("measurement.total_required", "PHQ-9")

    @pytest.mark.parametrize("count", [8, 10])
    def test_a_wrong_number_of_items_is_refused(self, count: int) -> None:
        refused("measurement.item_count", "PHQ-9", items=[1] * count)

    def test_an_item_scored_3_is_accepted_and_4_refused(self) -> None:
        assert scored_measurement("PHQ-9", items=[3] * 9).total == 27
        refused("measurement.item_out_of_range", "PHQ-9", items=[4] + [0] * 8)

    def test_a_negative_item_is_refused(self) -> None:
        refused("measurement.out_of_range", "PHQ-9", items=[-1] + [0] * 8)

    def test_a_boolean_is_no_item_score(self) -> None:
        refused("measurement.invalid", "PHQ-9", items=[True] + [0] * 8)  # type: ignore[list-item]


class TestPhq9SelfHarmItem:
    def test_item_9_above_0_is_an_urgent_finding_with_its_source(self) -> None:
        scored = scored_measurement("PHQ-9", items=[0, 0, 0, 0, 0, 0, 0, 0, 1])
        (finding,) = scored.urgent
        assert (finding.code, finding.severity) == ("measurement.self_harm_risk", "urgent")
        assert "same day" in finding.message
        assert "Kroenke" in finding.source
        assert "PHQ-9 instructions" in finding.source

    def test_item_9_at_0_raises_nothing_even_with_a_severe_total(self) -> None:
        assert scored_measurement("PHQ-9", items=[3, 3, 3, 3, 3, 3, 3, 3, 0]).urgent == ()

    def test_a_total_alone_raises_nothing_since_item_9_is_unknown(self) -> None:
        assert scored_measurement("PHQ-9", 27).urgent == ()

    def test_gad7_items_raise_no_self_harm_finding(self) -> None:
        assert scored_measurement("GAD-7", items=[3] * 7).urgent == ()


class TestCssrsIdeationSeverity:
    @pytest.mark.parametrize("severity", [4, 5])
    def test_ideation_with_intent_is_an_urgent_finding(self, severity: int) -> None:
        (finding,) = scored_measurement("C-SSRS", severity).urgent
        assert finding.code == "measurement.suicidal_ideation_with_intent"
        assert "Posner" in finding.source
        assert "triage" in finding.source
        assert ("a plan" in finding.message) is (severity == 5)

    @pytest.mark.parametrize("severity", [0, 3])
    def test_ideation_without_intent_raises_nothing(self, severity: int) -> None:
        assert scored_measurement("C-SSRS", severity).urgent == ()

    def test_other_licensed_totals_raise_nothing(self) -> None:
        assert scored_measurement("MDQ", 13).urgent == ()


class TestPcl5:
    def test_twenty_items_scored_0_to_4_make_a_total_of_up_to_80(self) -> None:
        assert scored_measurement("PCL-5", items=[4] * 20).total == 80
        refused("measurement.item_out_of_range", "PCL-5", items=[5] + [0] * 19)
        refused("measurement.item_count", "PCL-5", items=[1] * 19)

    def test_a_total_above_80_is_refused(self) -> None:
        refused("measurement.out_of_range", "pcl5", 81)

    @pytest.mark.parametrize(("total", "band"), [(32, "below threshold"), (33, "probable PTSD")])
    def test_probable_ptsd_from_33(self, total: int, band: str) -> None:
        assert scored_measurement("PCL-5", total).band == band
        assert "National Center for PTSD" in SCALES["PCL-5"].source


class TestAims:
    def test_items_1_to_7_scored_0_to_4_make_a_total_of_up_to_28(self) -> None:
        scored = scored_measurement("AIMS", items=[4] * 7)
        assert (scored.total, scored.band) == (28, None)
        refused("measurement.item_out_of_range", "AIMS", items=[5] + [0] * 6)
        refused("measurement.out_of_range", "aims", 29)
        assert "NIMH" in SCALES["AIMS"].source


class TestLicensedInstruments:
    @pytest.mark.parametrize(("name", "top"), [("C-SSRS", 5), ("ASRS", 72), ("MDQ", 13)])
    def test_totals_are_accepted_within_range(self, name: str, top: int) -> None:
        assert scored_measurement(name, top).total == top
        refused("measurement.out_of_range", name, top + 1)

    @pytest.mark.parametrize("name", ["C-SSRS", "cssrs", "ASRS", "MDQ"])
    def test_item_scores_are_refused(self, name: str) -> None:
        refused("measurement.items_not_licensed", name, items=[1, 0, 1])

    def test_a_follow_up_total_of_a_new_instrument_still_validates(self) -> None:
        assert validated_measurement("PCL-5", 40).instrument == "PCL-5"
        with pytest.raises(InvalidValue):
            validated_measurement("C-SSRS", 6)


class TestResponseAndRemission:
    def test_a_drop_of_half_or_more_is_a_response(self) -> None:
        assert response(20, 10)

    def test_a_drop_of_less_than_half_is_not(self) -> None:
        assert not response(20, 11)

    def test_a_baseline_of_0_cannot_respond(self) -> None:
        assert not response(0, 0)

    def test_a_negative_total_is_refused(self) -> None:
        with pytest.raises(InvalidValue):
            response(-2, 0)

    def test_phq9_below_5_is_remission(self) -> None:
        assert remission("PHQ-9", 4)

    def test_phq9_at_5_is_not(self) -> None:
        assert not remission("phq9", 5)

    def test_an_instrument_without_a_threshold_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as error:
            remission("GAD-7", 3)
        assert error.value.code == "measurement.no_remission_threshold"

    def test_a_total_outside_the_range_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as error:
            remission("PHQ-9", 28)
        assert error.value.code == "measurement.out_of_range"
