"""Value objects refuse what no clinician could mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.values import Actor, CommandContext, Dose, FollowUpPlan


class TestDose:
    @pytest.mark.parametrize("amount", ["0", "-5", "NaN", "Infinity", "abc", "100001"])
    def test_a_dose_that_is_not_a_positive_plausible_number_is_refused(self, amount: str) -> None:
        with pytest.raises(InvalidValue) as refused:
            Dose(amount, "mg")  # type: ignore[arg-type]
        assert refused.value.code.startswith("dose.")

    def test_the_nearest_valid_dose_is_accepted_and_kept_exact(self) -> None:
        assert Dose("37.5", "mg").amount == Decimal("37.5")  # type: ignore[arg-type]
        assert str(Dose(Decimal("0.25"), "mg")) == "0.25 mg"

    def test_an_unknown_unit_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Dose(Decimal(25), "kg")
        assert refused.value.code == "dose.unknown_unit"


class TestCommandContext:
    def test_clinical_time_needs_a_time_zone(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            CommandContext(Actor("dr-ada", "prescriber"), datetime(2026, 3, 2, 9, 0))
        assert refused.value.code == "time.naive"

    def test_clinical_time_cannot_be_in_the_future(self) -> None:
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        with pytest.raises(InvalidValue) as refused:
            CommandContext(Actor("dr-ada", "prescriber"), tomorrow)
        assert refused.value.code == "time.in_future"

    def test_a_late_entry_in_the_past_is_accepted(self) -> None:
        last_week = datetime.now(UTC) - timedelta(days=7)
        assert CommandContext(Actor("dr-ada", "prescriber"), last_week).occurred_at == last_week


class TestActorsAndNames:
    def test_an_unknown_role_is_refused(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            Actor("x", "janitor")
        assert refused.value.code == "actor.unknown_role"

    def test_a_follow_up_needs_a_known_modality(self) -> None:
        with pytest.raises(InvalidValue) as refused:
            FollowUpPlan(datetime.now(UTC).date(), "fax")
        assert refused.value.code == "follow_up.unknown_modality"
