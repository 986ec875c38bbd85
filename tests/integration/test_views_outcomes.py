"""Outcomes, on both stores: the plan's scores over time, and the domain's verdicts."""

from __future__ import annotations

from domain.care_plan import CarePlan
from tests.integration.conftest import Played


def scores_of(plan: CarePlan) -> dict[str, list[int]]:
    """The plan's own scores per instrument in clinical time order, less those in error."""
    taken = [
        (score.taken_at, score.version, score.instrument, score.total)
        for score in plan.scores.values()
        if not plan.is_in_error(score.version)
    ]
    taken += [
        (f.completed_at, 0, m.instrument, m.total)
        for f in plan.follow_ups.values()
        if f.completed_at is not None
        for m in f.measurements
    ]
    series: dict[str, list[int]] = {}
    for _, _, instrument, total in sorted(taken, key=lambda t: (t[0], t[1])):
        series.setdefault(instrument, []).append(total)
    return series


def test_the_scores_are_the_plans_own_at_every_step(played: Played) -> None:
    for name, step in played.steps.items():
        shown = {o["instrument"]: [s["total"] for s in o["scores"]] for o in step.outcomes}
        assert shown == scores_of(step.plan), name


def test_baseline_latest_change_response_and_remission(played: Played) -> None:
    phq9, gad7 = (
        next(o for o in played.last.outcomes if o["instrument"] == name)
        for name in ("PHQ-9", "GAD-7")
    )
    assert [s["total"] for s in phq9["scores"]] == [18, 14, 8, 4]  # 3 was marked in error
    assert (phq9["baseline"]["total"], phq9["latest"]["total"], phq9["change"]) == (18, 4, -14)
    assert (phq9["response"], phq9["remission"]) == (True, True)
    assert [s["source"] for s in phq9["scores"]] == ["scale", "follow_up", "scale", "scale"]
    assert phq9["baseline"]["band"] == "moderately severe"
    # One score is no outcome yet; GAD-7 has no remission threshold here anyway.
    assert (gad7["change"], gad7["response"], gad7["remission"]) == (0, None, None)

    visit = next(o for o in played.steps["first visit"].outcomes if o["instrument"] == "PHQ-9")
    assert (visit["change"], visit["response"], visit["remission"]) == (-4, False, False)
