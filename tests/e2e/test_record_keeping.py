"""Record keeping through the real server: therapy referrals, the care team, entries
marked in error, and closing a plan. Refused commands store nothing; roles are enforced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from uuid import uuid4

import httpx
import pytest

from tests.e2e.careplan_api import (
    Api,
    assert_problem,
    dose_change,
    evaluation,
    prescription,
    stores_nothing,
)
from tests.e2e.conftest import Server


class Treated(NamedTuple):
    """A plan on sertraline 25 mg, with the prescription's follow-up still pending."""

    plan: str
    rx: str
    follow_up: str


@pytest.fixture
def treated(prescriber: Api) -> Treated:
    return Treated(*prescriber.ready_prescription())


# -- the calls a clinical app makes ---------------------------------------------


def refer(api: Api, plan: str, **overrides: Any) -> httpx.Response:
    body = {
        "therapy": "cbt",
        "to_whom": "Riverside Psychology",
        "reason": "panic attacks; CBT alongside sertraline",
        "urgency": "soon",
        **overrides,
    }
    return api.http.post(f"/v1/care-plans/{plan}/therapy-referrals", json=body)


def care_team(api: Api, plan: str, **body: Any) -> httpx.Response:
    return api.http.post(f"/v1/care-plans/{plan}/care-team", json=body)


def join(api: Api, plan: str, member_id: str, role_in_care: str, **extra: Any) -> httpx.Response:
    return care_team(
        api, plan, member_id=member_id, role_in_care=role_in_care, change="joined", **extra
    )


def members(api: Api, plan: str) -> set[tuple[str, str]]:
    response = api.http.get(f"/v1/care-plans/{plan}/care-team")
    assert response.status_code == 200, response.text
    return {(m["member_id"], m["role_in_care"]) for m in response.json()["members"]}


def mark_in_error(
    api: Api, plan: str, version: Any, reason: str = "wrong patient"
) -> httpx.Response:
    body = {"version": version, "reason": reason}
    return api.http.post(f"/v1/care-plans/{plan}/entries-in-error", json=body)


def close(api: Api, plan: str, reason: str = "transferred", **extra: Any) -> httpx.Response:
    return api.http.post(f"/v1/care-plans/{plan}/closure", json={"reason": reason, **extra})


def version_of(api: Api, plan: str, event_type: str, nth: int = 0) -> int:
    versions = [e["version"] for e in api.events(plan) if e["type"] == event_type]
    return versions[nth]


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- therapy referrals ----------------------------------------------------------


class TestTherapyReferrals:
    @pytest.mark.parametrize("role", ["prescriber", "clinician"])
    def test_a_prescriber_or_clinician_refers_for_therapy(
        self, request: pytest.FixtureRequest, prescriber: Api, treated: Treated, role: str
    ) -> None:
        actor: Api = request.getfixturevalue(role)
        body = created(refer(actor, treated.plan, therapy="family_therapy", urgency="routine"))
        (made,) = [e for e in prescriber.events(treated.plan) if e["type"] == "TherapyReferralMade"]
        assert made["version"] == body["version"]
        assert made["actor"]["id"] == actor.actor_id
        assert made["data"]["referral_id"] == body["referral_id"]
        assert made["data"]["therapy"] == "family_therapy"
        summary = prescriber.audit_entries(treated.plan)[-1]["summary"]
        assert summary.startswith("Referred for family therapy to Riverside Psychology (routine)")

    @pytest.mark.parametrize(
        "overrides",
        [
            {"therapy": "hypnosis"},
            {"urgency": "asap"},
            {"reason": "   "},
            {"to_whom": "a\x00b"},
            {"colour": "blue"},
        ],
        ids=["therapy", "urgency", "blank-reason", "control-character", "unknown-field"],
    )
    def test_a_malformed_referral_is_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated, overrides: dict[str, Any]
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(refer(prescriber, treated.plan, **overrides), 422, "request.invalid")


# -- the care team ----------------------------------------------------------------


class TestCareTeam:
    def test_members_join_and_leave_and_the_team_reads_as_it_stands(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        created(join(prescriber, treated.plan, "th-kai", "therapist", name="Kai Moreno"))
        created(
            join(prescriber, treated.plan, "pa-lin", "physician_assistant", supervisor_id="dr-ada")
        )
        assert members(clinician, treated.plan) == {
            ("th-kai", "therapist"),
            ("pa-lin", "physician_assistant"),
        }
        created(
            care_team(
                prescriber,
                treated.plan,
                member_id="th-kai",
                role_in_care="therapist",
                change="left",
            )
        )
        assert members(prescriber, treated.plan) == {("pa-lin", "physician_assistant")}
        summaries = [e["summary"] for e in prescriber.audit_entries(treated.plan)][-3:]
        assert summaries == [
            "Kai Moreno (th-kai) joined the care team as therapist",
            "pa-lin joined the care team as physician assistant, supervised by dr-ada",
            "Kai Moreno (th-kai) left the care team as therapist",
        ]

    def test_a_physician_assistant_without_a_supervisor_is_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = join(prescriber, treated.plan, "pa-lin", "physician_assistant")
            assert_problem(response, 422, "care_team.supervisor_required")

    def test_joining_twice_in_one_role_is_409_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        created(join(prescriber, treated.plan, "rn-sam", "nurse"))
        with stores_nothing(prescriber, treated.plan):
            assert_problem(
                join(prescriber, treated.plan, "rn-sam", "nurse"), 409, "care_team.already_a_member"
            )
        created(join(prescriber, treated.plan, "rn-sam", "care_coordinator"))

    def test_leaving_without_being_a_member_is_409_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = care_team(
                prescriber,
                treated.plan,
                member_id="th-kai",
                role_in_care="therapist",
                change="left",
            )
            assert_problem(response, 409, "care_team.not_a_member")

    def test_an_unknown_role_in_care_is_422(self, prescriber: Api, treated: Treated) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(join(prescriber, treated.plan, "x-1", "shaman"), 422, "request.invalid")


# -- entries marked in error ------------------------------------------------------


class TestEntriesInError:
    def test_a_prescription_marked_in_error_stays_in_the_record_but_leaves_the_lists(
        self, prescriber: Api, auditor: Api, treated: Treated
    ) -> None:
        version = version_of(prescriber, treated.plan, "MedicationPrescribed")
        body = created(
            mark_in_error(prescriber, treated.plan, version, "meant for another patient")
        )
        assert prescriber.active_drugs(treated.plan) == []
        plan = prescriber.plan(treated.plan).json()
        assert [(rx["prescription_id"], rx["status"]) for rx in plan["prescriptions"]] == [
            (treated.rx, "entered_in_error")
        ]
        events = prescriber.events(treated.plan)
        assert events[version - 1]["type"] == "MedicationPrescribed"  # still there
        assert events[-1]["type"] == "EntryMarkedInError"
        assert events[-1]["version"] == body["version"]
        assert events[-1]["data"] == {
            "entry_version": version,
            "entry_type": "MedicationPrescribed",
            "subject_id": treated.rx,
            "reason": "meant for another patient",
            "restores": {},
        }
        entries = auditor.audit_entries(treated.plan)
        assert {e["version"]: e["in_error"] for e in entries if e["in_error"]} == {
            version: "meant for another patient"
        }
        # The drug can now be prescribed afresh: the entry in error holds no place.
        created(prescriber.prescribe(treated.plan, prescription(follow_up_in_days=None)))
        assert prescriber.active_drugs(treated.plan) == [("sertraline", "25", "mg")]

    def test_a_dose_change_in_error_is_undone_latest_first(
        self, prescriber: Api, treated: Treated
    ) -> None:
        for amount in ("50", "100"):
            body = dose_change(amount, reason="partial response")
            body["acknowledgements"] = []
            response = prescriber.change_dose(treated.plan, treated.rx, body)
            assert response.status_code in (200, 201), response.text
        first = version_of(prescriber, treated.plan, "DoseChanged", 0)
        latest = version_of(prescriber, treated.plan, "DoseChanged", 1)
        with stores_nothing(prescriber, treated.plan):
            assert_problem(mark_in_error(prescriber, treated.plan, first), 409, "entry.superseded")
        created(mark_in_error(prescriber, treated.plan, latest, "keyed the wrong dose"))
        assert prescriber.active_drugs(treated.plan) == [("sertraline", "50", "mg")]
        restores = prescriber.events(treated.plan)[-1]["data"]["restores"]
        assert restores["dose"] == {"amount": "50", "unit": "mg"}

    def test_a_follow_up_marked_in_error_is_no_longer_pending(
        self, prescriber: Api, treated: Treated
    ) -> None:
        version = version_of(prescriber, treated.plan, "FollowUpScheduled")
        created(mark_in_error(prescriber, treated.plan, version, "scheduled twice"))
        (follow_up,) = prescriber.plan(treated.plan).json()["follow_ups"]
        assert follow_up["status"] == "entered_in_error"

    @pytest.mark.parametrize(
        ("version", "status", "code"),
        [
            (1, 422, "entry.not_correctable"),
            (999, 404, "entry.not_found"),
            (0, 422, "request.invalid"),
            ("two", 422, "request.invalid"),
        ],
        ids=["opening", "beyond-the-plan", "zero", "not-a-number"],
    )
    def test_an_entry_that_cannot_be_marked_is_refused_and_nothing_is_stored(
        self, prescriber: Api, treated: Treated, version: Any, status: int, code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(mark_in_error(prescriber, treated.plan, version), status, code)

    def test_an_entry_is_marked_once_and_a_correction_is_not_corrected(
        self, prescriber: Api, treated: Treated
    ) -> None:
        version = version_of(prescriber, treated.plan, "EvaluationRecorded")
        correction = created(mark_in_error(prescriber, treated.plan, version))["version"]
        with stores_nothing(prescriber, treated.plan):
            assert_problem(
                mark_in_error(prescriber, treated.plan, version), 409, "entry.already_marked"
            )
            assert_problem(
                mark_in_error(prescriber, treated.plan, correction), 422, "entry.not_correctable"
            )

    def test_a_clinician_corrects_only_what_they_recorded(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        created(clinician.schedule(treated.plan))
        theirs = version_of(prescriber, treated.plan, "FollowUpScheduled", nth=1)
        not_theirs = version_of(prescriber, treated.plan, "FollowUpScheduled")
        with stores_nothing(prescriber, treated.plan):
            assert_problem(
                mark_in_error(clinician, treated.plan, not_theirs), 409, "entry.not_yours"
            )
        created(mark_in_error(clinician, treated.plan, theirs, "wrong date"))
        statuses = sorted(f["status"] for f in prescriber.plan(treated.plan).json()["follow_ups"])
        assert statuses == ["entered_in_error", "scheduled"]


# -- closing ----------------------------------------------------------------------


class TestClosing:
    @pytest.mark.parametrize("reason", ["treatment_completed", "patient_declined"])
    def test_closing_with_an_active_prescription_is_409_and_stores_nothing(
        self, prescriber: Api, treated: Treated, reason: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(
                close(prescriber, treated.plan, reason), 409, "care_plan.active_prescriptions"
            )
        assert prescriber.plan(treated.plan).json()["status"] == "open"

    def test_a_plan_closes_once_its_medications_are_stopped(
        self, prescriber: Api, treated: Treated
    ) -> None:
        created(prescriber.discontinue(treated.plan, treated.rx))
        created(close(prescriber, treated.plan, "treatment_completed", note="in remission"))
        plan = prescriber.plan(treated.plan).json()
        assert plan["status"] == "closed"
        assert [f["status"] for f in plan["follow_ups"]] == ["cancelled"]
        assert prescriber.audit_entries(treated.plan)[-1]["summary"] == (
            "Care plan closed (treatment completed): in remission; 1 pending follow-up(s) cancelled"
        )

    def test_another_reason_needs_a_note(self, prescriber: Api, treated: Treated) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(
                close(prescriber, treated.plan, "other"), 422, "care_plan.closure_note_required"
            )

    def test_a_closed_plan_refuses_every_command_and_stores_nothing(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        created(join(prescriber, treated.plan, "th-kai", "therapist"))
        created(close(prescriber, treated.plan, "transferred", note="to Northside clinic"))
        assert prescriber.plan(treated.plan).json()["status"] == "closed"
        plan = treated.plan
        commands: list[Callable[[], httpx.Response]] = [
            lambda: prescriber.evaluate(plan, evaluation("reassessment")),
            lambda: prescriber.prescribe(plan, prescription("bupropion", "150")),
            lambda: prescriber.schedule(plan),
            lambda: clinician.schedule(plan),
            lambda: refer(clinician, plan),
            lambda: join(prescriber, plan, "rn-sam", "nurse"),
            lambda: care_team(
                prescriber, plan, member_id="th-kai", role_in_care="therapist", change="left"
            ),
            lambda: mark_in_error(
                prescriber, plan, version_of(prescriber, plan, "EvaluationRecorded")
            ),
            lambda: close(prescriber, plan, "transferred"),
        ]
        with stores_nothing(prescriber, plan):
            for command in commands:
                assert_problem(command(), 409, "care_plan.closed")


# -- who may do what --------------------------------------------------------------

Action = Callable[[Api, Treated], httpx.Response]

ACTIONS: dict[str, Action] = {
    "refer": lambda api, t: refer(api, t.plan),
    "care-team": lambda api, t: join(api, t.plan, "th-kai", "therapist"),
    "read-care-team": lambda api, t: api.http.get(f"/v1/care-plans/{t.plan}/care-team"),
    "mark-in-error": lambda api, t: mark_in_error(api, t.plan, 2),
    "close": lambda api, t: close(api, t.plan),
}

DENIED = [
    ("auditor", "refer"),
    ("service", "refer"),
    ("admin", "refer"),
    ("clinician", "care-team"),
    ("auditor", "care-team"),
    ("service", "read-care-team"),
    ("admin", "read-care-team"),
    ("auditor", "mark-in-error"),
    ("service", "mark-in-error"),
    ("clinician", "close"),
    ("auditor", "close"),
    ("admin", "close"),
]


class TestRoles:
    @pytest.mark.parametrize(("role", "action"), DENIED, ids=[f"{r}-{a}" for r, a in DENIED])
    def test_a_role_not_allowed_is_refused_with_403_and_stores_nothing(
        self,
        request: pytest.FixtureRequest,
        prescriber: Api,
        treated: Treated,
        role: str,
        action: str,
    ) -> None:
        actor: Api = request.getfixturevalue(role)
        with stores_nothing(prescriber, treated.plan):
            assert_problem(ACTIONS[action](actor, treated), 403, "auth.forbidden")

    @pytest.mark.parametrize("action", ACTIONS)
    def test_an_unknown_care_plan_is_404(self, prescriber: Api, action: str) -> None:
        missing = str(uuid4())
        response = ACTIONS[action](prescriber, Treated(missing, "rx", "fu"))
        assert_problem(response, 404, "care_plan.not_found")
        assert_problem(prescriber.history(missing), 404, "care_plan.not_found")


def test_none_of_these_requests_made_the_server_fail(server: Server) -> None:
    """Runs last in the module: the server logged no unexpected error (no 500)."""
    assert server.logged_failures() == []
