"""Replay for auditors: by version, as it was known at a time, as it was on a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import InvalidValue
from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from services.application import CarePlans
from services.replay import document, replay
from tests.unit.clinic import FORMULARY

DR = Actor("dr-ada", "prescriber", name="Dr Ada")
DAY0 = (datetime.now(UTC) - timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)


def on(day: int) -> CommandContext:
    return CommandContext(DR, DAY0 + timedelta(days=day))


@pytest.fixture
def story() -> tuple[CarePlans, str, dict[str, str], datetime]:
    """Sertraline and, by mistake, bupropion on day 0; recorded at once. Then, later: a
    dose change that happened on day 2 (a late entry) and the bupropion marked in error."""
    app = CarePlans(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, formulary=FORMULARY)
    plan = str(app.open_care_plan("pt-r", on(0)).care_plan_id)
    evaluation = Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD"),))
    app.record_evaluation(plan, evaluation, on(0))
    rx = {}
    for drug, amount in (("sertraline", "25"), ("bupropion", "150")):
        result = app.prescribe(
            plan,
            drug=drug,
            dose=Dose(Decimal(amount), "mg"),
            frequency="daily",
            route="oral",
            indication="MDD",
            follow_up=FollowUpPlan((DAY0 + timedelta(days=14)).date()),
            ctx=on(0),
        )
        assert result.created_id
        rx[drug] = result.created_id
    known_then = datetime.now(UTC)
    app.change_dose(
        plan,
        rx["sertraline"],
        dose=Dose(Decimal(50), "mg"),
        reason="partial response",
        follow_up=None,
        ctx=on(2),
    )
    wrong = next(
        e.originator_version for e in app.history(plan) if getattr(e, "drug", None) == "bupropion"
    )
    app.mark_entry_in_error(plan, version=wrong, reason="other patient", ctx=on(3))
    return app, plan, rx, known_then


def drugs(result: object) -> dict[str, str]:
    doc = document(result)  # type: ignore[arg-type]
    return {m["drug"]: m["dose"]["amount"] for m in doc["medications"]}


def test_as_known_then_the_record_had_both_drugs_and_the_old_dose(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _, known_then = story
    assert drugs(replay(app, plan, known_at=known_then)) == {"sertraline": "25", "bupropion": "150"}


def test_as_it_was_on_day_2_sertraline_was_50_and_bupropion_never_was(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _, _ = story
    result = replay(app, plan, clinical_at=DAY0 + timedelta(days=2, hours=1))
    assert drugs(result) == {"sertraline": "50"}
    assert all(e.get("summary") for e in document(result)["events"])
    assert drugs(replay(app, plan, clinical_at=DAY0 + timedelta(days=1))) == {"sertraline": "25"}


def test_by_version_is_the_repository_at_that_version(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _, _ = story
    for version in range(1, app.care_plan(plan).version + 1):
        replayed = replay(app, plan, version=version).plan
        assert replayed is not None
        assert replayed.version == version
        assert vars(replayed) == vars(app.care_plan(plan, version=version))


def test_now_is_the_plan_as_it_stands(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _, _ = story
    assert drugs(replay(app, plan)) == {"sertraline": "50"}


def test_before_the_plan_existed_there_is_nothing(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _, _ = story
    doc = document(replay(app, plan, clinical_at=DAY0 - timedelta(days=1)))
    assert (doc["exists"], doc["medications"], doc["events"]) == (False, [], [])


def test_one_point_at_a_time(story) -> None:  # type: ignore[no-untyped-def]
    app, plan, _, known_then = story
    with pytest.raises(InvalidValue) as refused:
        replay(app, plan, version=2, known_at=known_then)
    assert refused.value.code == "replay.one_point"
