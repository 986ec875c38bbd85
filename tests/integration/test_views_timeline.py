"""The medication timeline, on both stores: dose segments as the course set them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.integration.conftest import Played


def segment(row: dict[str, Any], played: Played) -> tuple[Any, ...]:
    """(drug, amount, start day, end day or None, change, ended by)."""
    day0 = played.course.day0

    def day(at: str | None) -> int | None:
        if at is None:
            return None
        return (datetime.fromisoformat(at) - day0).days

    return (
        row["drug"],
        row["amount"],
        day(row["started_at"]),
        day(row["ended_at"]),
        row["change"],
        row["ended_by"],
    )


def test_every_dose_of_every_drug_in_time_order(played: Played) -> None:
    segments = sorted(segment(row, played) for row in played.last.timeline)
    assert segments == [
        ("lithium", "300", 0, None, "start", None),
        ("sertraline", "25", 0, 7, "start", "dose_change"),
        ("sertraline", "50", 7, None, "increase", None),
        ("trazodone", "100", 24, 30, "taper_step", "discontinued"),
        ("trazodone", "200", 3, 24, "start", "dose_change"),
    ]
    starts = [row["started_at"] for row in played.last.timeline]
    assert starts == sorted(starts)
    lithium = next(row for row in played.last.timeline if row["drug"] == "lithium")
    assert (lithium["daily_amount"], lithium["reason"]) == ("600", "F31.81")
    stopped = next(row for row in played.last.timeline if row["ended_by"] == "discontinued")
    assert stopped["end_reason"] == "taper completed"


def test_corrections_take_back_what_they_undo(played: Played) -> None:
    def drugs(step: str) -> list[tuple[str, str, int | None]]:
        return sorted(
            (row["drug"], row["amount"], row["ended_at"] is None)
            for row in played.steps[step].timeline
            if row["drug"] in ("sertraline", "bupropion")
        )

    assert ("bupropion", "150", True) in drugs("prescribe bupropion")
    assert "bupropion" not in {drug for drug, _, _ in drugs("bupropion in error")}
    assert drugs("raise again") == [
        ("sertraline", "150", True),
        ("sertraline", "25", False),
        ("sertraline", "50", False),
    ]
    assert drugs("raise in error") == [("sertraline", "25", False), ("sertraline", "50", True)]


def test_the_open_segments_are_the_doses_taken_at_every_step(played: Played) -> None:
    for name, step in played.steps.items():
        taken = {
            rx.prescription_id: str(rx.dose.amount)
            for rx in step.plan.prescriptions.values()
            if rx.is_active
        }
        open_segments = {
            row["prescription_id"]: row["amount"]
            for row in step.timeline
            if row["ended_by"] is None
        }
        assert open_segments == taken, name
