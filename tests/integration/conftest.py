"""A course played once per store and module, with every view read after each step."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.care_plan import CarePlan
from projections.outcomes import outcomes
from projections.timeline import timeline
from projections.worklist import WorklistQuery, worklist
from services.application import CommandResult
from services.bootstrap import Careplan, bootstrap
from services.settings import Settings
from tests.conftest import TEST_SECRET
from tests.integration.course import Course, play
from tests.support.postgres import fresh_database


@dataclass
class Snapshot:
    """What the views and the plan itself said right after one step."""

    plan: CarePlan
    timeline: list[dict[str, Any]]
    worklist: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]


@dataclass
class Played:
    careplan: Careplan
    course: Course
    patient_id: str
    steps: dict[str, Snapshot] = field(default_factory=dict)

    @property
    def last(self) -> Snapshot:
        return self.steps["PHQ-9 4"]


def snapshot(careplan: Careplan, plan_id: str) -> Snapshot:
    items, _ = worklist(careplan.views, WorklistQuery(on=datetime.now(UTC).date()))
    return Snapshot(
        plan=careplan.app.care_plan(plan_id),
        timeline=timeline(careplan.views, plan_id),
        worklist=[item for item in items if item["care_plan_id"] == plan_id],
        outcomes=outcomes(careplan.views, plan_id),
    )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def played(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Played]:
    with ExitStack() as stack:
        database_url = None
        if request.param == "postgres":
            server = request.getfixturevalue("postgres_url")
            database_url = stack.enter_context(fresh_database(server))
        settings = Settings(
            data_dir=tmp_path_factory.mktemp("views") / "var",
            database_url=database_url,
            jwt_secret=TEST_SECRET,
        )
        careplan = bootstrap(settings)
        stack.callback(careplan.close)
        steps: dict[str, Snapshot] = {}

        def after(name: str, result: CommandResult) -> None:
            steps[name] = snapshot(careplan, str(result.care_plan_id))

        patient_id = f"pt-{request.param}"
        course = play(careplan.app, patient_id, after)
        yield Played(careplan, course, patient_id, steps)
