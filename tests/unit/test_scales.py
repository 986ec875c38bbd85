"""Rating-scale totals: in range or refused, with their severity bands."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue
from domain.scales import SCALES, validated_measurement


class TestPhq9:
    @pytest.mark.parametrize("name", ["PHQ-9", "phq9", "PHQ 9", "phq_9"])
    def test_common_spellings_name_the_same_instrument(self, name: str) -> None:
        assert validated_measurement(name, 12).instrument == "PHQ-9"

    @pytest.mark.parametrize("total", [0, 27])
    def test_the_range_ends_are_accepted(self, total: int) -> None:
        assert validated_measurement("PHQ-9", total).total == total

    @pytest.mark.parametrize("total", [-1, 28])
    def test_a_total_outside_0_to_27_is_refused(self, total: int) -> None:
        with pytest.raises(InvalidValue) as refused:
            validated_measurement("PHQ-9", total)
        assert refused.value.code == "measurement.out_of_range"

    @pytest.mark.parametrize(
        ("total", "band"),
        [(4, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")],
    )
    def test_bands_follow_kroenke_2001(self, total: int, band: str) -> None:
        assert SCALES["PHQ-9"].band(total) == band


class TestOtherInstruments:
    def test_gad7_tops_out_at_21(self) -> None:
        assert validated_measurement("GAD-7", 21).total == 21
        with pytest.raises(InvalidValue):
            validated_measurement("GAD-7", 22)

    def test_an_unknown_instrument_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            validated_measurement("Beck", 10)
        assert refused.value.code == "measurement.unknown_instrument"

    def test_a_boolean_is_no_total(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            validated_measurement("PHQ-9", True)
        assert refused.value.code == "measurement.invalid"
