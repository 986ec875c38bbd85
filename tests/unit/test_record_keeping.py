"""Record keeping: therapy referrals, the care team, entries marked in error, closing.

Each rule is shown with the case that triggers it and the nearest case that does
not; replaying the events gives the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.care_plan import CarePlan
from domain.errors import InvalidValue, NotFound, RuleViolation
from domain.record_rules import Entry, one_open_plan, subject_of
from domain.values import Actor, Evaluation
from tests.unit.clinic import (
    DR_ADA,
    FORMULARY,
    NURSE_SAM,
    ctx,
    evaluated_plan,
    in_weeks,
    mg,
    on_sertraline,
    replay,
)

DR_BO = Actor("dr-bo", "prescriber", name="Dr Bo")


def stored(plan: CarePlan, version: int) -> Any:
    """The plan's event at ``version``, as the application reads it from the store."""
    return plan.pending_events[version - 1]


def version_of(plan: CarePlan, event_type: str, nth: int = 0) -> int:
    versions = [e.originator_version for e in plan.pending_events if type(e).__name__ == event_type]
    return versions[nth]


def mark(
    plan: CarePlan, version: int, reason: str = "wrong patient", actor: Actor = DR_ADA
) -> None:
    plan.mark_entry_in_error(version, stored(plan, version), reason, ctx(actor))


def last_event(plan: CarePlan) -> Any:
    return plan.pending_events[-1]


def refused(error: type[Exception], code: str, command: Callable[[], object]) -> None:
    with pytest.raises(error) as raised:
        command()
    assert raised.value.code == code  # type: ignore[attr-defined]


class TestTherapyReferral:
    def test_a_referral_is_recorded_with_its_therapy_recipient_reason_and_urgency(self) -> None:
        plan = evaluated_plan()
        referral_id = plan.refer_to_therapy(
            "cbt", " Riverside Psychology ", " panic attacks ", "soon", ctx(NURSE_SAM)
        )
        made = last_event(plan)
        assert type(made).__name__ == "TherapyReferralMade"
        assert (made.referral_id, made.therapy, made.to_whom, made.reason, made.urgency) == (
            referral_id,
            "cbt",
            "Riverside Psychology",
            "panic attacks",
            "soon",
        )
        assert plan.referrals[referral_id].made_by == "rn-sam"

    def test_a_therapy_outside_the_vocabulary_is_refused(self) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            "referral.unknown_therapy",
            lambda: plan.refer_to_therapy("hypnosis", "Dr X", "sleep", "routine", ctx()),
        )
        assert plan.refer_to_therapy("other", "Dr X", "hypnotherapy for sleep", "routine", ctx())

    def test_an_urgency_outside_the_vocabulary_is_refused(self) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            "referral.unknown_urgency",
            lambda: plan.refer_to_therapy("dbt", "DBT team", "self-harm", "asap", ctx()),
        )
        assert plan.refer_to_therapy("dbt", "DBT team", "self-harm", "urgent", ctx())

    @pytest.mark.parametrize(
        ("to_whom", "reason", "code"),
        [("  ", "panic", "referral.recipient_required"), ("Dr X", " ", "referral.reason_required")],
    )
    def test_a_referral_names_whom_and_why(self, to_whom: str, reason: str, code: str) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            code,
            lambda: plan.refer_to_therapy("ipt", to_whom, reason, "routine", ctx()),
        )
        assert [type(e).__name__ for e in plan.pending_events][-1] == "EvaluationRecorded"


class TestCareTeam:
    def test_someone_joins_the_care_team_in_a_role(self) -> None:
        plan = evaluated_plan()
        plan.change_care_team("th-kai", "therapist", "joined", ctx(), name="Kai Moreno")
        member = plan.care_team[("th-kai", "therapist")]
        assert (member.name, member.supervisor_id) == ("Kai Moreno", None)
        assert last_event(plan).change == "joined"

    def test_a_physician_assistant_needs_a_named_supervisor(self) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            "care_team.supervisor_required",
            lambda: plan.change_care_team("pa-lin", "physician_assistant", "joined", ctx()),
        )
        plan.change_care_team(
            "pa-lin", "physician_assistant", "joined", ctx(), supervisor_id="dr-ada"
        )
        assert plan.care_team[("pa-lin", "physician_assistant")].supervisor_id == "dr-ada"

    def test_other_roles_join_without_a_supervisor(self) -> None:
        plan = evaluated_plan()
        plan.change_care_team("rn-sam", "nurse", "joined", ctx())
        assert ("rn-sam", "nurse") in plan.care_team

    def test_nobody_supervises_themselves(self) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            "care_team.self_supervision",
            lambda: plan.change_care_team(
                "pa-lin", "physician_assistant", "joined", ctx(), supervisor_id="pa-lin"
            ),
        )

    def test_joining_twice_in_the_same_role_is_refused_but_another_role_is_not(self) -> None:
        plan = evaluated_plan()
        plan.change_care_team("dr-ada", "psychiatrist", "joined", ctx())
        refused(
            RuleViolation,
            "care_team.already_a_member",
            lambda: plan.change_care_team("dr-ada", "psychiatrist", "joined", ctx()),
        )
        plan.change_care_team("dr-ada", "prescriber", "joined", ctx())
        assert set(plan.care_team) == {("dr-ada", "psychiatrist"), ("dr-ada", "prescriber")}

    def test_leaving_requires_being_a_member_in_that_role(self) -> None:
        plan = evaluated_plan()
        refused(
            RuleViolation,
            "care_team.not_a_member",
            lambda: plan.change_care_team("th-kai", "therapist", "left", ctx()),
        )
        plan.change_care_team("th-kai", "therapist", "joined", ctx(), name="Kai Moreno")
        refused(
            RuleViolation,
            "care_team.not_a_member",
            lambda: plan.change_care_team("th-kai", "care_coordinator", "left", ctx()),
        )
        plan.change_care_team("th-kai", "therapist", "left", ctx())
        assert plan.care_team == {}
        assert last_event(plan).name == "Kai Moreno"  # the leaving entry names who left

    def test_someone_who_left_may_join_again(self) -> None:
        plan = evaluated_plan()
        plan.change_care_team("rn-sam", "nurse", "joined", ctx())
        plan.change_care_team("rn-sam", "nurse", "left", ctx())
        plan.change_care_team("rn-sam", "nurse", "joined", ctx())
        assert ("rn-sam", "nurse") in plan.care_team

    def test_a_physician_assistant_leaves_without_naming_the_supervisor_again(self) -> None:
        plan = evaluated_plan()
        plan.change_care_team(
            "pa-lin", "physician_assistant", "joined", ctx(), supervisor_id="dr-ada"
        )
        plan.change_care_team("pa-lin", "physician_assistant", "left", ctx())
        assert plan.care_team == {}
        assert last_event(plan).supervisor_id == "dr-ada"

    @pytest.mark.parametrize(
        ("role", "change", "code"),
        [
            ("shaman", "joined", "care_team.unknown_role"),
            ("nurse", "promoted", "care_team.unknown_change"),
        ],
    )
    def test_roles_and_changes_come_from_a_vocabulary(
        self, role: str, change: str, code: str
    ) -> None:
        plan = evaluated_plan()
        refused(InvalidValue, code, lambda: plan.change_care_team("x-1", role, change, ctx()))

    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["a", "b"]),
                st.sampled_from(["nurse", "therapist"]),
                st.sampled_from(["joined", "left"]),
            ),
            max_size=12,
        )
    )
    def test_the_team_is_whoever_joined_and_has_not_left_also_after_replay(
        self, changes: list[tuple[str, str, str]]
    ) -> None:
        plan = evaluated_plan()
        expected: set[tuple[str, str]] = set()
        for member, role, change in changes:
            allowed = ((member, role) in expected) == (change == "left")
            if allowed:
                plan.change_care_team(member, role, change, ctx())
                (expected.add if change == "joined" else expected.discard)((member, role))
            else:
                with pytest.raises(RuleViolation):
                    plan.change_care_team(member, role, change, ctx())
        assert set(plan.care_team) == expected
        assert set(replay(plan).care_team) == expected


class TestEntryMarkedInError:
    def test_a_prescription_entered_in_error_stays_in_the_record_but_is_not_active(self) -> None:
        plan, rx = on_sertraline()
        version = version_of(plan, "MedicationPrescribed")
        mark(plan, version, "prescribed for the wrong patient")
        marked = last_event(plan)
        assert type(marked).__name__ == "EntryMarkedInError"
        assert (marked.entry_version, marked.entry_type, marked.subject_id, marked.reason) == (
            version,
            "MedicationPrescribed",
            rx,
            "prescribed for the wrong patient",
        )
        assert plan.prescriptions[rx].status == "entered_in_error"
        assert plan.active_prescriptions == []
        assert plan.entries_in_error == {version: "prescribed for the wrong patient"}
        assert plan.is_in_error(version)

    def test_it_no_longer_counts_as_the_one_active_prescription_of_its_drug(self) -> None:
        plan, _ = on_sertraline()
        refused(
            RuleViolation,
            "prescription.already_active",
            lambda: plan.prescribe(
                "sertraline", mg("25"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
            ),
        )
        mark(plan, version_of(plan, "MedicationPrescribed"))
        new_rx, _ = plan.prescribe(
            "sertraline", mg("25"), "daily", "oral", "MDD", None, ctx(), formulary=FORMULARY
        )
        assert plan.prescription(new_rx).is_active

    def test_a_stop_of_a_prescription_that_never_was_starts_no_washout(self) -> None:
        plan = evaluated_plan()
        fluoxetine, _ = plan.prescribe(
            "fluoxetine", mg("40"), "daily", "oral", "MDD", in_weeks(2), ctx(), formulary=FORMULARY
        )
        plan.discontinue(
            fluoxetine, "rash", ctx(), reason_code="adverse_reaction", formulary=FORMULARY
        )

        def phenelzine() -> object:
            return plan.prescribe(
                "phenelzine",
                mg("15"),
                "three_times_daily",
                "oral",
                "MDD",
                in_weeks(1),
                ctx(),
                formulary=FORMULARY,
            )

        refused(RuleViolation, "interaction.washout_required", phenelzine)
        assert plan.pending_acknowledgements
        mark(plan, version_of(plan, "MedicationPrescribed"))
        assert plan.pending_acknowledgements == {}  # no warning waits on it either
        phenelzine()

    def test_a_follow_up_entered_in_error_is_no_longer_pending(self) -> None:
        plan, rx = on_sertraline()
        (follow_up,) = plan.follow_ups.values()
        mark(plan, version_of(plan, "FollowUpScheduled"), "scheduled twice")
        assert last_event(plan).subject_id == follow_up.follow_up_id
        assert follow_up.status == "entered_in_error"
        assert not follow_up.is_pending
        assert plan.prescriptions[rx].is_active  # the prescription it belongs to is untouched

    def test_other_entries_are_listed_as_marked(self) -> None:
        plan, rx = on_sertraline()
        version = version_of(plan, "EvaluationRecorded")
        mark(plan, version, "evaluation of another patient")
        assert last_event(plan).subject_id is None
        assert plan.entries_in_error == {version: "evaluation of another patient"}
        assert plan.prescriptions[rx].is_active

    @pytest.mark.parametrize("version", [0, 99])
    def test_a_version_the_plan_does_not_have_is_not_found(self, version: int) -> None:
        plan, _ = on_sertraline()
        refused(
            NotFound,
            "entry.not_found",
            lambda: plan.mark_entry_in_error(version, None, "typo", ctx()),
        )

    def test_the_stored_entry_must_be_this_plans_entry_at_that_version(self) -> None:
        plan, _ = on_sertraline()
        other, _ = on_sertraline()
        refused(
            NotFound,
            "entry.not_found",
            lambda: plan.mark_entry_in_error(3, stored(other, 3), "typo", ctx()),
        )
        refused(
            NotFound,
            "entry.not_found",
            lambda: plan.mark_entry_in_error(3, stored(plan, 2), "typo", ctx()),
        )
        plan.mark_entry_in_error(3, stored(plan, 3), "typo", ctx())

    @pytest.mark.parametrize("event_type", ["CarePlanOpened", "EntryMarkedInError"])
    def test_the_opening_and_corrections_cannot_be_marked(self, event_type: str) -> None:
        plan, _ = on_sertraline()
        mark(plan, version_of(plan, "EvaluationRecorded"))
        version = version_of(plan, event_type)
        refused(InvalidValue, "entry.not_correctable", lambda: mark(plan, version))

    def test_an_entry_is_marked_once(self) -> None:
        plan, _ = on_sertraline()
        version = version_of(plan, "MedicationPrescribed")
        mark(plan, version)
        refused(RuleViolation, "entry.already_marked", lambda: mark(plan, version))
        mark(plan, version_of(plan, "FollowUpScheduled"))
        assert len(plan.entries_in_error) == 2

    def test_a_clinician_corrects_only_their_own_entries(self) -> None:
        plan, _ = on_sertraline()
        plan.schedule_follow_up(in_weeks(4), ctx(NURSE_SAM))
        theirs = version_of(plan, "FollowUpScheduled", nth=1)
        refused(
            RuleViolation,
            "entry.not_yours",
            lambda: mark(plan, version_of(plan, "FollowUpScheduled"), actor=NURSE_SAM),
        )
        mark(plan, theirs, "wrong date", actor=NURSE_SAM)
        assert plan.is_in_error(theirs)

    def test_a_prescriber_corrects_anyones_entries(self) -> None:
        plan, _ = on_sertraline()
        plan.schedule_follow_up(in_weeks(4), ctx(NURSE_SAM))
        mark(plan, version_of(plan, "FollowUpScheduled", nth=1), actor=DR_BO)
        mark(plan, version_of(plan, "MedicationPrescribed"), actor=DR_BO)
        assert len(plan.entries_in_error) == 2

    def test_a_correction_says_why(self) -> None:
        plan, _ = on_sertraline()
        refused(
            InvalidValue,
            "entry.reason_required",
            lambda: mark(plan, version_of(plan, "EvaluationRecorded"), reason="  "),
        )


class TestEntrySubject:
    def test_a_follow_up_is_its_own_subject_not_its_prescription(self) -> None:
        plan, rx = on_sertraline()
        scheduled = stored(plan, version_of(plan, "FollowUpScheduled"))
        assert scheduled.prescription_id == rx
        assert subject_of(scheduled) == scheduled.follow_up_id

    def test_an_entry_knows_its_type_subject_and_author(self) -> None:
        plan, rx = on_sertraline()
        version = version_of(plan, "MedicationPrescribed")
        assert Entry.of(stored(plan, version)) == Entry(
            version, "MedicationPrescribed", rx, "dr-ada"
        )

    def test_an_entry_without_a_subject_has_none(self) -> None:
        plan = evaluated_plan()
        assert subject_of(stored(plan, 2)) is None


class TestClosing:
    @pytest.mark.parametrize("reason", ["treatment_completed", "patient_declined"])
    def test_closing_with_an_active_prescription_is_refused(self, reason: str) -> None:
        plan, rx = on_sertraline()
        refused(
            RuleViolation, "care_plan.active_prescriptions", lambda: plan.close(reason, None, ctx())
        )
        assert plan.status == "open"
        plan.discontinue(rx, "remission", ctx(), reason_code="remission")
        plan.close(reason, None, ctx())
        assert plan.status == "closed"

    @pytest.mark.parametrize("reason", ["transferred", "patient_moved", "deceased"])
    def test_care_that_goes_on_elsewhere_or_ends_closes_with_medications_active(
        self, reason: str
    ) -> None:
        plan, rx = on_sertraline()
        plan.close(reason, "to Dr Z at Northside", ctx())
        assert (plan.status, plan.closure_reason) == ("closed", reason)
        assert plan.prescriptions[rx].is_active

    def test_a_prescription_entered_in_error_does_not_hold_the_plan_open(self) -> None:
        plan, _ = on_sertraline()
        mark(plan, version_of(plan, "MedicationPrescribed"))
        plan.close("treatment_completed", None, ctx())
        assert plan.status == "closed"

    def test_pending_follow_ups_are_cancelled_with_the_plan(self) -> None:
        plan, _ = on_sertraline()
        (first,) = plan.follow_ups
        plan.complete_follow_up(first, "telehealth", [], [], None, ctx())
        second, _ = plan.schedule_follow_up(in_weeks(4), ctx())
        plan.close("transferred", None, ctx())
        assert last_event(plan).cancelled_follow_ups == [second]
        assert plan.follow_ups[second].status == "cancelled"
        assert plan.follow_ups[first].status == "completed"

    def test_another_reason_needs_a_note(self) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            "care_plan.closure_note_required",
            lambda: plan.close("other", "  ", ctx()),
        )
        plan.close("other", "patient asked to pause care", ctx())
        assert last_event(plan).note == "patient asked to pause care"

    def test_the_reason_comes_from_a_vocabulary(self) -> None:
        plan = evaluated_plan()
        refused(
            InvalidValue,
            "care_plan.unknown_closure_reason",
            lambda: plan.close("bored", None, ctx()),
        )

    def test_a_closed_plan_refuses_every_command(self) -> None:
        plan, rx = on_sertraline()
        plan.change_care_team("th-kai", "therapist", "joined", ctx())
        plan.close("transferred", "to Northside clinic", ctx())
        commands: list[Callable[[], object]] = [
            lambda: plan.record_evaluation(Evaluation("reassessment", "telehealth", ()), ctx()),
            lambda: plan.schedule_follow_up(in_weeks(2), ctx()),
            lambda: plan.prescribe(
                "bupropion",
                mg("150"),
                "daily",
                "oral",
                "MDD",
                in_weeks(2),
                ctx(),
                formulary=FORMULARY,
            ),
            lambda: plan.change_dose(
                rx, mg("50"), "response", in_weeks(2), ctx(), formulary=FORMULARY
            ),
            lambda: plan.discontinue(rx, "remission", ctx(), reason_code="remission"),
            lambda: plan.refer_to_therapy("cbt", "Dr X", "anxiety", "routine", ctx()),
            lambda: plan.change_care_team("th-kai", "therapist", "left", ctx()),
            lambda: plan.change_care_team("rn-sam", "nurse", "joined", ctx()),
            lambda: mark(plan, version_of(plan, "MedicationPrescribed")),
            lambda: plan.close("transferred", None, ctx()),
        ]
        version = plan.version
        for command in commands:
            refused(RuleViolation, "care_plan.closed", command)
        assert plan.version == version


class TestReplay:
    def test_replaying_the_events_gives_the_same_record(self) -> None:
        plan, rx = on_sertraline()
        referral = plan.refer_to_therapy("emdr", "Trauma service", "PTSD", "routine", ctx())
        plan.change_care_team(
            "pa-lin", "physician_assistant", "joined", ctx(), supervisor_id="dr-ada"
        )
        plan.change_care_team("th-kai", "therapist", "joined", ctx(), name="Kai Moreno")
        plan.change_care_team("th-kai", "therapist", "left", ctx())
        mark(plan, version_of(plan, "MedicationPrescribed"), "wrong patient")
        mark(plan, version_of(plan, "FollowUpScheduled"), "wrong patient")
        plan.schedule_follow_up(in_weeks(3), ctx())
        plan.close("patient_declined", "declines further care", ctx())

        rebuilt = replay(plan)
        assert rebuilt.version == plan.version
        assert rebuilt.status == "closed"
        assert (rebuilt.closed_at, rebuilt.closure_reason) == (plan.closed_at, plan.closure_reason)
        assert rebuilt.referrals == plan.referrals
        assert rebuilt.referrals[referral].therapy == "emdr"
        assert rebuilt.care_team == plan.care_team
        assert rebuilt.entries_in_error == plan.entries_in_error
        assert rebuilt.prescriptions == plan.prescriptions
        assert rebuilt.prescriptions[rx].status == "entered_in_error"
        assert rebuilt.follow_ups == plan.follow_ups
        assert sorted(f.status for f in rebuilt.follow_ups.values()) == [
            "cancelled",
            "entered_in_error",
        ]


class TestOneOpenPlanPerPatient:
    def test_a_second_open_plan_is_refused_without_naming_the_open_one(self) -> None:
        """Whoever opens may not be on the open plan's care team: its id is not told."""
        with pytest.raises(RuleViolation) as refused:
            one_open_plan("pt-1", ["7f0c"])
        assert refused.value.code == "care_plan.already_open"
        assert "7f0c" not in refused.value.message

    def test_a_patient_with_only_closed_plans_may_open_one(self) -> None:
        one_open_plan("pt-1", [])
