"""An entry marked in error, on both stores: the record keeps it, the views respect it.

The application reads the corrected entry from the store (type, subject,
author), so these run through ``CarePlans`` on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.errors import NotFound, RuleViolation
from domain.values import Actor, CommandContext, Diagnosis, Dose, Evaluation, FollowUpPlan
from projections.audit_trail import audit_entries
from projections.current_medications import CurrentMedications, active_medications
from projections.runner import ProjectionFollower
from services.bootstrap import Careplan

PRESCRIBER = Actor("dr-ada", "prescriber", name="Dr Ada Okafor")
NURSE = Actor("rn-sam", "clinician", name="Sam Reyes, RN")
DAY0 = datetime.now(UTC) - timedelta(days=14)


def on(day: int, actor: Actor = PRESCRIBER) -> CommandContext:
    return CommandContext(actor, DAY0 + timedelta(days=day), correlation_id="it")


def follow_up(day: int) -> FollowUpPlan:
    return FollowUpPlan((DAY0 + timedelta(days=day)).date(), "telehealth")


def treated_plan(careplan: Careplan, patient_id: str) -> tuple[UUID, dict[str, str]]:
    """A plan on sertraline and (mistakenly) bupropion: returns its id and the two rx ids."""
    app = careplan.app
    plan = app.open_care_plan(patient_id, on(0)).care_plan_id
    evaluation = Evaluation("initial", "in_person", (Diagnosis("F32.1", "MDD, moderate"),))
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
            follow_up=follow_up(7),
            ctx=on(0),
        )
        assert result.created_id is not None
        rx[drug] = result.created_id
    return plan, rx


def version_of(careplan: Careplan, plan: UUID, event_type: str, **data: Any) -> int:
    return next(
        event.originator_version
        for event in careplan.app.history(plan)
        if type(event).__name__ == event_type
        and all(getattr(event, name) == value for name, value in data.items())
    )


def audit_rows(careplan: Careplan, plan: UUID) -> list[dict[str, Any]]:
    rows, _ = audit_entries(careplan.views, care_plan_id=str(plan), limit=500)
    return rows


class TestViewsRespectAMarkedEntry:
    def test_a_prescription_marked_in_error_leaves_the_current_medications(
        self, careplan: Careplan
    ) -> None:
        plan, rx = treated_plan(careplan, "pt-eie-meds")
        assert {r["drug"] for r in active_medications(careplan.views, str(plan))} == {
            "sertraline",
            "bupropion",
        }
        wrong = version_of(careplan, plan, "MedicationPrescribed", drug="bupropion")
        careplan.app.mark_entry_in_error(
            plan, version=wrong, reason="meant for another patient", ctx=on(1)
        )
        rows = active_medications(careplan.views, str(plan))
        assert [(r["prescription_id"], r["drug"]) for r in rows] == [
            (rx["sertraline"], "sertraline")
        ]
        with careplan.views.reading() as sql:
            marked = sql.execute(
                "SELECT status, ended_at FROM current_medications WHERE prescription_id = %(rx)s",
                {"rx": rx["bupropion"]},
            ).fetchone()
        assert marked == {"status": "entered_in_error", "ended_at": None}
        assert careplan.app.care_plan(plan).prescriptions[rx["bupropion"]].status == (
            "entered_in_error"
        )

    def test_a_dose_change_and_a_stop_in_error_are_undone_in_the_view(
        self, careplan: Careplan
    ) -> None:
        plan, rx = treated_plan(careplan, "pt-eie-undo")
        app = careplan.app
        sertraline = rx["sertraline"]
        app.change_dose(
            plan,
            prescription_id=sertraline,
            dose=Dose(Decimal(50), "mg"),
            reason="partial response",
            follow_up=follow_up(14),
            ctx=on(7),
        )
        changed = version_of(careplan, plan, "DoseChanged")
        app.mark_entry_in_error(plan, version=changed, reason="other patient", ctx=on(8))
        app.discontinue(
            plan,
            prescription_id=rx["bupropion"],
            reason="seizure",
            reason_code="adverse_reaction",
            ctx=on(9),
        )
        stopped = version_of(careplan, plan, "MedicationDiscontinued")
        app.mark_entry_in_error(plan, version=stopped, reason="misread chart", ctx=on(10))
        rows = {
            r["drug"]: (r["dose_amount"], r["status"])
            for r in active_medications(careplan.views, str(plan))
        }
        assert rows == {"sertraline": ("25", "active"), "bupropion": ("150", "active")}
        state = app.care_plan(plan)
        assert state.prescriptions[sertraline].dose == Dose(Decimal(25), "mg")
        assert state.prescriptions[rx["bupropion"]].status == "active"

    def test_the_audit_trail_keeps_the_entry_and_shows_why_it_is_in_error(
        self, careplan: Careplan
    ) -> None:
        plan, _ = treated_plan(careplan, "pt-eie-audit")
        wrong = version_of(careplan, plan, "MedicationPrescribed", drug="bupropion")
        result = careplan.app.mark_entry_in_error(
            plan, version=wrong, reason="meant for another patient", ctx=on(1)
        )
        rows = audit_rows(careplan, plan)
        assert [r["version"] for r in rows] == list(range(1, result.version + 1))
        in_error = {r["version"]: r["in_error"] for r in rows if r["in_error"] is not None}
        assert in_error == {wrong: "meant for another patient"}
        correction = rows[-1]
        assert correction["type"] == "EntryMarkedInError"
        assert correction["summary"] == (
            f"Entry {wrong} (MedicationPrescribed) marked in error: meant for another patient"
        )

    def test_views_rebuilt_from_zero_still_respect_it(self, careplan: Careplan) -> None:
        plan, _ = treated_plan(careplan, "pt-eie-rebuild")
        wrong = version_of(careplan, plan, "MedicationPrescribed", drug="bupropion")
        careplan.app.mark_entry_in_error(plan, version=wrong, reason="duplicate", ctx=on(1))
        query = "SELECT * FROM current_medications ORDER BY prescription_id"
        with careplan.views.reading() as sql:
            live = sql.execute(query).fetchall()
        with careplan.views.transaction() as sql:
            sql.execute("DELETE FROM current_medications")
        rebuilt = ProjectionFollower(
            CurrentMedications(), careplan.views, careplan.app.recorder, careplan.app.mapper
        )
        rebuilt.projection.name = "current_medications_rebuild"  # type: ignore[misc]
        rebuilt.catch_up()
        with careplan.views.reading() as sql:
            assert sql.execute(query).fetchall() == live


class TestTheStoredEntryDecides:
    def test_a_clinician_corrects_their_own_entry_but_not_anothers(
        self, careplan: Careplan
    ) -> None:
        plan, _ = treated_plan(careplan, "pt-eie-nurse")
        careplan.app.schedule_follow_up(plan, follow_up(14), on(1, NURSE))
        theirs = version_of(careplan, plan, "FollowUpScheduled", actor=NURSE)
        not_theirs = version_of(careplan, plan, "FollowUpScheduled", actor=PRESCRIBER)
        before = careplan.app.care_plan(plan).version
        with pytest.raises(RuleViolation) as refused:
            careplan.app.mark_entry_in_error(
                plan, version=not_theirs, reason="wrong date", ctx=on(2, NURSE)
            )
        assert refused.value.code == "entry.not_yours"
        assert careplan.app.care_plan(plan).version == before

        careplan.app.mark_entry_in_error(
            plan, version=theirs, reason="wrong date", ctx=on(2, NURSE)
        )
        statuses = {f.status for f in careplan.app.care_plan(plan).follow_ups.values()}
        assert "entered_in_error" in statuses

    @pytest.mark.parametrize("version", [0, 1000])
    def test_a_version_the_store_does_not_hold_is_not_found(
        self, careplan: Careplan, version: int
    ) -> None:
        plan, _ = treated_plan(careplan, f"pt-eie-missing-{version}")
        with pytest.raises(NotFound) as refused:
            careplan.app.mark_entry_in_error(plan, version=version, reason="typo", ctx=on(1))
        assert refused.value.code == "entry.not_found"
