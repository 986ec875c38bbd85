"""Every refusal, as a client receives it: a problem+json body with a stable code.

A refused command stores nothing, so each command refusal here is checked
against the plan's history and audit trail before and after. The last test reads
the server's log: none of these requests may have ended in a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple
from uuid import uuid4

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET
from tests.e2e.careplan_api import (
    Api,
    assert_problem,
    completion,
    dose_change,
    due,
    evaluation,
    prescription,
    stores_nothing,
    today,
    token,
)
from tests.e2e.conftest import Server


class Treated(NamedTuple):
    """A plan on sertraline 25 mg, with the prescription's follow-up still pending."""

    plan: str
    rx: str
    follow_up: str


@pytest.fixture
def opened(prescriber: Api) -> str:
    return prescriber.ready_plan()


@pytest.fixture
def evaluated(prescriber: Api) -> str:
    return prescriber.ready_evaluated_plan()


@pytest.fixture
def treated(prescriber: Api) -> Treated:
    return Treated(*prescriber.ready_prescription())


def with_bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


# -- 401 ----------------------------------------------------------------------


def _expired() -> str:
    return token("prescriber", "dr-ada", ttl=timedelta(seconds=-30))


def _other_secret() -> str:
    from services.tokens import issue_token  # noqa: PLC0415

    return issue_token("another-secret-that-is-long-enough-for-hs256", sub="x", role="prescriber")


def _unknown_role() -> str:
    return token("prescriber", "dr-ada", extra={"role": "superuser"})


def _blank_subject() -> str:
    return token("prescriber", "   ")


def _no_expiry() -> str:
    return jwt.encode({"sub": "dr-ada", "role": "prescriber"}, TEST_SECRET, algorithm="HS256")


def _unsigned() -> str:
    exp = int((today() + timedelta(hours=1)).timestamp())
    return jwt.encode({"sub": "dr-ada", "role": "prescriber", "exp": exp}, "", algorithm="none")


BAD_TOKENS: dict[str, Callable[[], str]] = {
    "not-a-jwt": lambda: "not-a-jwt",
    "expired": _expired,
    "signed-with-another-secret": _other_secret,
    "unknown-role": _unknown_role,
    "blank-subject": _blank_subject,
    "no-expiry": _no_expiry,
    "alg-none": _unsigned,
}


class TestAuthentication:
    @pytest.mark.parametrize(
        "path",
        ["/v1/care-plans/{plan}", "/v1/care-plans/{plan}/medications", "/v1/audit"],
        ids=["plan", "medications", "audit"],
    )
    def test_a_read_without_a_token_is_refused_with_401(
        self, anonymous: httpx.Client, opened: str, path: str
    ) -> None:
        response = anonymous.get(path.format(plan=opened))
        assert_problem(response, 401, "auth.missing_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")

    def test_a_command_without_a_token_is_refused_and_stores_nothing(
        self, anonymous: httpx.Client, prescriber: Api, evaluated: str
    ) -> None:
        with stores_nothing(prescriber, evaluated):
            response = Api(anonymous).prescribe(evaluated)
            assert_problem(response, 401, "auth.missing_token")
        assert prescriber.active_drugs(evaluated) == []

    def test_a_non_bearer_authorization_counts_as_no_token(
        self, anonymous: httpx.Client, prescriber: Api, evaluated: str
    ) -> None:
        headers = {"Authorization": "Basic ZHItYWRhOnNlY3JldA=="}
        with stores_nothing(prescriber, evaluated):
            response = Api(anonymous).prescribe(evaluated, headers=headers)
            assert_problem(response, 401, "auth.missing_token")

    @pytest.mark.parametrize("kind", BAD_TOKENS)
    def test_a_bad_or_expired_token_is_refused_with_401_and_stores_nothing(
        self, anonymous: httpx.Client, prescriber: Api, evaluated: str, kind: str
    ) -> None:
        headers = with_bearer(BAD_TOKENS[kind]())
        with stores_nothing(prescriber, evaluated):
            response = Api(anonymous).prescribe(evaluated, headers=headers)
            assert_problem(response, 401, "auth.invalid_token")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        read = anonymous.get(f"/v1/care-plans/{evaluated}/medications", headers=headers)
        assert_problem(read, 401, "auth.invalid_token")

    def test_health_needs_no_token(self, anonymous: httpx.Client) -> None:
        response = anonymous.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


# -- 403 ----------------------------------------------------------------------

Action = Callable[[Api, Treated], httpx.Response]

ACTIONS: dict[str, Action] = {
    "open-plan": lambda api, t: api.open_plan(),
    "record-evaluation": lambda api, t: api.evaluate(t.plan, evaluation("reassessment")),
    "prescribe": lambda api, t: api.prescribe(t.plan, prescription("fluoxetine", "20")),
    "change-dose": lambda api, t: api.change_dose(t.plan, t.rx),
    "discontinue": lambda api, t: api.discontinue(t.plan, t.rx),
    "schedule-follow-up": lambda api, t: api.schedule(t.plan),
    "complete-follow-up": lambda api, t: api.complete(t.plan, t.follow_up),
    "read-plan": lambda api, t: api.plan(t.plan),
    "read-medications": lambda api, t: api.medications(t.plan),
    "read-history": lambda api, t: api.history(t.plan),
    "read-audit": lambda api, t: api.audit(care_plan_id=t.plan),
}

DENIED = [
    ("clinician", "prescribe"),
    ("clinician", "open-plan"),
    ("clinician", "record-evaluation"),
    ("clinician", "change-dose"),
    ("clinician", "discontinue"),
    ("auditor", "prescribe"),
    ("auditor", "schedule-follow-up"),
    ("service", "complete-follow-up"),
    ("service", "read-history"),
    ("service", "read-audit"),
    ("admin", "read-medications"),
    ("admin", "read-plan"),
    ("admin", "read-history"),
    ("admin", "read-audit"),
    ("admin", "prescribe"),
]


class TestAuthorisation:
    @pytest.mark.parametrize(("role", "action"), DENIED, ids=[f"{r}-{a}" for r, a in DENIED])
    def test_a_role_not_allowed_an_action_is_refused_with_403_and_stores_nothing(
        self,
        request: pytest.FixtureRequest,
        prescriber: Api,
        treated: Treated,
        role: str,
        action: str,
    ) -> None:
        actor: Api = request.getfixturevalue(role)
        in_their_name = prescriber.audit_entries(actor_id=actor.actor_id)
        with stores_nothing(prescriber, treated.plan):
            body = assert_problem(ACTIONS[action](actor, treated), 403, "auth.forbidden")
        assert role in body["detail"]
        assert prescriber.audit_entries(actor_id=actor.actor_id) == in_their_name
        assert prescriber.active_drugs(treated.plan) == [("sertraline", "25", "mg")]

    def test_a_clinician_prescribing_is_refused_with_403(
        self, clinician: Api, prescriber: Api, evaluated: str
    ) -> None:
        with stores_nothing(prescriber, evaluated):
            assert_problem(clinician.prescribe(evaluated), 403, "auth.forbidden")
        assert prescriber.active_drugs(evaluated) == []

    def test_an_admin_reading_medications_is_refused_with_403(
        self, admin: Api, treated: Treated
    ) -> None:
        assert_problem(admin.medications(treated.plan), 403, "auth.forbidden")


# -- 404 ----------------------------------------------------------------------

PLAN_ACTIONS = [name for name in ACTIONS if name not in ("open-plan", "read-audit")]


class TestNotFound:
    @pytest.mark.parametrize("action", PLAN_ACTIONS)
    @pytest.mark.parametrize("plan_id", ["unknown-uuid", "not-a-uuid", "42"])
    def test_an_unknown_care_plan_is_404(
        self, prescriber: Api, treated: Treated, action: str, plan_id: str
    ) -> None:
        missing = str(uuid4()) if plan_id == "unknown-uuid" else plan_id
        response = ACTIONS[action](prescriber, treated._replace(plan=missing))
        body = assert_problem(response, 404, "care_plan.not_found")
        assert missing in body["detail"]
        # Nothing was stored under that id either.
        assert_problem(prescriber.history(missing), 404, "care_plan.not_found")
        assert prescriber.audit_entries(missing) == []

    @pytest.mark.parametrize("action", ["change-dose", "discontinue"])
    @pytest.mark.parametrize("rx_id", ["unknown-uuid", "not-a-uuid"])
    def test_an_unknown_prescription_is_404_and_stores_nothing(
        self, prescriber: Api, treated: Treated, action: str, rx_id: str
    ) -> None:
        missing = str(uuid4()) if rx_id == "unknown-uuid" else rx_id
        with stores_nothing(prescriber, treated.plan):
            response = ACTIONS[action](prescriber, treated._replace(rx=missing))
            assert_problem(response, 404, "prescription.not_found")

    def test_a_prescription_of_another_plan_is_404_and_stores_nothing(
        self, prescriber: Api, treated: Treated
    ) -> None:
        other = Treated(*prescriber.ready_prescription())
        with stores_nothing(prescriber, treated.plan):
            response = prescriber.change_dose(treated.plan, other.rx)
            assert_problem(response, 404, "prescription.not_found")
        assert prescriber.active_drugs(other.plan) == [("sertraline", "25", "mg")]

    @pytest.mark.parametrize("follow_up_id", ["unknown-uuid", "not-a-uuid"])
    def test_an_unknown_follow_up_is_404_and_stores_nothing(
        self, prescriber: Api, treated: Treated, follow_up_id: str
    ) -> None:
        missing = str(uuid4()) if follow_up_id == "unknown-uuid" else follow_up_id
        with stores_nothing(prescriber, treated.plan):
            response = prescriber.complete(treated.plan, missing)
            assert_problem(response, 404, "follow_up.not_found")

    def test_an_unknown_route_is_a_404_problem(self, prescriber: Api) -> None:
        assert_problem(prescriber.http.get("/v1/no-such-thing"), 404, "route.not_found")


# -- 409 ----------------------------------------------------------------------


class TestClinicalRules:
    def test_prescribing_before_an_initial_evaluation_is_refused(
        self, prescriber: Api, opened: str
    ) -> None:
        with stores_nothing(prescriber, opened):
            body = assert_problem(
                prescriber.prescribe(opened), 409, "prescription.requires_evaluation"
            )
        assert body["source"]
        assert prescriber.active_drugs(opened) == []

    def test_a_reassessment_alone_does_not_allow_prescribing(
        self, prescriber: Api, opened: str
    ) -> None:
        assert prescriber.evaluate(opened, evaluation("reassessment")).status_code == 201
        with stores_nothing(prescriber, opened):
            assert_problem(prescriber.prescribe(opened), 409, "prescription.requires_evaluation")

    def test_a_second_active_prescription_of_the_same_drug_is_refused(
        self, prescriber: Api, treated: Treated
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            response = prescriber.prescribe(treated.plan, prescription("  SerTraline ", "50"))
            body = assert_problem(response, 409, "prescription.already_active")
        assert treated.rx in body["detail"]
        assert prescriber.active_drugs(treated.plan) == [("sertraline", "25", "mg")]

    def test_changing_the_dose_of_a_discontinued_prescription_is_refused(
        self, prescriber: Api, treated: Treated
    ) -> None:
        assert prescriber.discontinue(treated.plan, treated.rx).status_code == 201
        with stores_nothing(prescriber, treated.plan):
            response = prescriber.change_dose(treated.plan, treated.rx)
            assert_problem(response, 409, "prescription.not_active")
        assert prescriber.active_drugs(treated.plan) == []

    def test_discontinuing_a_discontinued_prescription_is_refused(
        self, prescriber: Api, treated: Treated
    ) -> None:
        assert prescriber.discontinue(treated.plan, treated.rx).status_code == 201
        with stores_nothing(prescriber, treated.plan):
            response = prescriber.discontinue(treated.plan, treated.rx, "again")
            assert_problem(response, 409, "prescription.not_active")

    def test_prescribing_with_no_follow_up_given_or_pending_is_refused(
        self, prescriber: Api, evaluated: str
    ) -> None:
        with stores_nothing(prescriber, evaluated):
            response = prescriber.prescribe(evaluated, prescription(follow_up_in_days=None))
            assert_problem(response, 409, "follow_up.required")
        assert prescriber.active_drugs(evaluated) == []

    def test_prescribing_without_a_follow_up_is_allowed_while_one_is_pending(
        self, prescriber: Api, evaluated: str
    ) -> None:
        assert prescriber.schedule(evaluated).status_code == 201
        response = prescriber.prescribe(evaluated, prescription(follow_up_in_days=None))
        assert response.status_code == 201, response.text
        assert prescriber.active_drugs(evaluated) == [("sertraline", "25", "mg")]

    def test_a_dose_change_with_no_follow_up_given_or_pending_is_refused(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        assert clinician.complete(treated.plan, treated.follow_up).status_code == 201
        with stores_nothing(prescriber, treated.plan):
            response = prescriber.change_dose(treated.plan, treated.rx)
            assert_problem(response, 409, "follow_up.required")
        assert prescriber.active_drugs(treated.plan) == [("sertraline", "25", "mg")]
        with_follow_up = dose_change(follow_up={"due_on": due(14)})
        assert prescriber.change_dose(treated.plan, treated.rx, with_follow_up).status_code == 201

    def test_completing_a_follow_up_twice_is_refused(
        self, prescriber: Api, clinician: Api, treated: Treated
    ) -> None:
        assert clinician.complete(treated.plan, treated.follow_up).status_code == 201
        with stores_nothing(prescriber, treated.plan):
            response = clinician.complete(treated.plan, treated.follow_up)
            assert_problem(response, 409, "follow_up.not_pending")


# -- 422 ----------------------------------------------------------------------

INVALID = "request.invalid"


def _dose(amount: Any, unit: str = "mg") -> dict[str, Any]:
    return prescription(amount=amount, unit=unit)


def _follow_up_on(due_on: Any) -> dict[str, Any]:
    return prescription(follow_up={"due_on": due_on})


def _without(name: str) -> dict[str, Any]:
    body = prescription()
    del body[name]
    return body


BAD_PRESCRIPTIONS: dict[str, tuple[dict[str, Any], str]] = {
    "zero-dose": (_dose(0), INVALID),
    "zero-dose-as-string": (_dose("0"), INVALID),
    "negative-dose": (_dose(-5), INVALID),
    "negative-dose-as-string": (_dose("-0.5"), INVALID),
    "implausible-dose": (_dose(100001), INVALID),
    "too-many-decimals": (_dose("0.00001"), INVALID),
    "amount-not-a-number": (_dose("twenty"), INVALID),
    "amount-nan": (_dose("NaN"), INVALID),
    "amount-boolean": (_dose(True), INVALID),
    "amount-null": (_dose(None), INVALID),
    "unknown-unit": (_dose(25, "tablets"), INVALID),
    "unknown-frequency": (prescription(frequency="hourly"), INVALID),
    "unknown-route": (prescription(route="nasal"), INVALID),
    "frequency-wrong-type": (prescription(frequency=1), INVALID),
    "drug-wrong-type": (prescription(drug=["sertraline"]), INVALID),
    "drug-blank": (prescription(drug="   "), INVALID),
    "dose-wrong-type": (prescription(dose="25 mg"), INVALID),
    "missing-drug": (_without("drug"), INVALID),
    "missing-dose": (_without("dose"), INVALID),
    "unknown-field": (prescription(dose_mg=25), INVALID),
    "unknown-nested-field": (
        prescription(dose={"amount": 25, "unit": "mg", "per": "day"}),
        INVALID,
    ),
    "impossible-date": (_follow_up_on("2026-02-30"), INVALID),
    "date-in-words": (_follow_up_on("next week"), INVALID),
    "date-day-first": (_follow_up_on("14/12/2026"), INVALID),
    "follow-up-due-in-the-past": (_follow_up_on(due(-2)), "follow_up.due_in_past"),
    "time-without-zone": (prescription(occurred_at="2026-01-05T09:30:00"), INVALID),
    "time-in-the-future": (prescription(occurred_at=f"{due(2)}T09:30:00Z"), "time.in_future"),
}


class TestInvalidInput:
    @pytest.mark.parametrize("case", BAD_PRESCRIPTIONS)
    def test_a_malformed_prescription_is_refused_with_422_and_stores_nothing(
        self, prescriber: Api, evaluated: str, case: str
    ) -> None:
        body, code = BAD_PRESCRIPTIONS[case]
        with stores_nothing(prescriber, evaluated):
            problem = assert_problem(prescriber.prescribe(evaluated, body), 422, code)
        if code == INVALID:
            assert problem["errors"]
            for error in problem["errors"]:
                assert set(error) == {"loc", "msg", "type"}
        assert prescriber.active_drugs(evaluated) == []

    @pytest.mark.parametrize(
        "content",
        [b'{"drug": "sertraline",', b"drug=sertraline", b"", b"[]", b"null", b'"sertraline"'],
        ids=["truncated-json", "form-encoded", "empty", "array", "null", "string"],
    )
    def test_a_body_that_is_not_a_json_object_is_refused_with_422(
        self, prescriber: Api, evaluated: str, content: bytes
    ) -> None:
        headers = {"Content-Type": "application/json"}
        path = f"/v1/care-plans/{evaluated}/prescriptions"
        with stores_nothing(prescriber, evaluated):
            response = prescriber.http.post(path, content=content, headers=headers)
            assert_problem(response, 422, INVALID)

    def test_validation_errors_name_the_field_without_echoing_what_was_sent(
        self, prescriber: Api, evaluated: str
    ) -> None:
        secret = "patient-said-something-private"
        body = prescription(note=secret, dose={"amount": secret, "unit": "mg"})
        response = prescriber.prescribe(evaluated, body)
        problem = assert_problem(response, 422, INVALID)
        assert secret not in response.text
        locations = {tuple(error["loc"]) for error in problem["errors"]}
        assert ("body", "note") in locations
        assert ("body", "dose", "amount") in locations

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (evaluation(diagnoses=[]), "evaluation.diagnosis_required"),
            (evaluation(kind="follow-up"), INVALID),
            (evaluation(modality="phone"), INVALID),
            (evaluation(diagnoses="F32.1"), INVALID),
            (
                evaluation(diagnoses=[{"code": "370143000", "system": "http://snomed.info/sct"}]),
                "diagnosis.display_required",
            ),
            (evaluation(diagnoses=[{"code": "banana", "display": "x"}]), "diagnosis.unknown_code"),
            (evaluation(mood="low"), INVALID),
        ],
        ids=[
            "no-diagnosis",
            "unknown-kind",
            "unknown-modality",
            "diagnoses-wrong-type",
            "snomed-diagnosis-without-display",
            "unknown-icd10cm-code",
            "unknown-field",
        ],
    )
    def test_a_malformed_evaluation_is_refused_with_422_and_stores_nothing(
        self, prescriber: Api, opened: str, body: dict[str, Any], code: str
    ) -> None:
        with stores_nothing(prescriber, opened):
            assert_problem(prescriber.evaluate(opened, body), 422, code)
        assert prescriber.plan(opened).json()["has_initial_evaluation"] is False

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (dose_change(0), INVALID),
            (dose_change(-25), INVALID),
            (dose_change("fifty"), INVALID),
            (dose_change(50, "tablets"), INVALID),
            (dose_change(50, "mcg"), "dose.unit_mismatch"),
            (dose_change("25.0"), "dose.unchanged"),
            (dose_change(50, reason="   "), INVALID),
            (dose_change(50, follow_up={"due_on": due(-2)}), "follow_up.due_in_past"),
            (dose_change(50, follow_up={"due_on": "2026-13-01"}), INVALID),
            (dose_change(50, why="tolerating"), INVALID),
        ],
        ids=[
            "zero",
            "negative",
            "not-a-number",
            "unknown-unit",
            "other-unit",
            "same-dose",
            "blank-reason",
            "follow-up-due-in-the-past",
            "bad-date",
            "unknown-field",
        ],
    )
    def test_a_malformed_dose_change_is_refused_with_422_and_stores_nothing(
        self, prescriber: Api, treated: Treated, body: dict[str, Any], code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(prescriber.change_dose(treated.plan, treated.rx, body), 422, code)
        assert prescriber.active_drugs(treated.plan) == [("sertraline", "25", "mg")]

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"due_on": due(-2)}, "follow_up.due_in_past"),
            ({"due_on": "2026-02-30"}, INVALID),
            ({"due_on": "soon"}, INVALID),
            ({"due_on": due(7), "modality": "phone"}, INVALID),
            ({"due_on": due(7), "purpose": ""}, INVALID),
            ({"modality": "in_person"}, INVALID),
            ({"due_on": due(7), "priority": "high"}, INVALID),
        ],
        ids=[
            "due-in-the-past",
            "impossible-date",
            "date-in-words",
            "unknown-modality",
            "blank-purpose",
            "missing-date",
            "unknown-field",
        ],
    )
    def test_a_malformed_follow_up_is_refused_with_422_and_stores_nothing(
        self, clinician: Api, prescriber: Api, treated: Treated, body: dict[str, Any], code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(clinician.schedule(treated.plan, body), 422, code)

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (completion(("PHQ-9", 28)), "measurement.out_of_range"),
            (completion(("GAD-7", 22)), "measurement.out_of_range"),
            (completion(("PHQ-9", 12), ("GAD-7", 99)), "measurement.out_of_range"),
            (completion(("BDI-II", 12)), "measurement.unknown_instrument"),
            (completion(("PHQ-9", -1)), INVALID),
            (completion(("PHQ-9", "twelve")), INVALID),
            (completion(("PHQ-9", 12.5)), INVALID),
            (completion(("PHQ-9", 12), modality="phone"), INVALID),
            (completion(("PHQ-9", 12), mood="better"), INVALID),
        ],
        ids=[
            "phq9-28",
            "gad7-22",
            "one-of-two-out-of-range",
            "unknown-instrument",
            "negative-total",
            "total-in-words",
            "fractional-total",
            "unknown-modality",
            "unknown-field",
        ],
    )
    def test_a_malformed_follow_up_completion_is_refused_and_the_follow_up_stays_pending(
        self, clinician: Api, prescriber: Api, treated: Treated, body: dict[str, Any], code: str
    ) -> None:
        with stores_nothing(prescriber, treated.plan):
            assert_problem(clinician.complete(treated.plan, treated.follow_up, body), 422, code)
        statuses = {
            f["follow_up_id"]: f["status"]
            for f in prescriber.plan(treated.plan).json()["follow_ups"]
        }
        assert statuses[treated.follow_up] == "scheduled"
        assert clinician.complete(treated.plan, treated.follow_up).status_code == 201

    @pytest.mark.parametrize("spelling", ["PHQ-9", "phq9", "PHQ 9", "phq_9"])
    def test_an_instrument_is_recognised_in_its_common_spellings(
        self, clinician: Api, treated: Treated, spelling: str
    ) -> None:
        body = completion((spelling, 27))
        assert clinician.complete(treated.plan, treated.follow_up, body).status_code == 201
        done = clinician.events(treated.plan)[-1]
        assert done["data"]["measurements"] == [{"instrument": "PHQ-9", "total": 27, "items": []}]

    @pytest.mark.parametrize(
        "params",
        [{"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"care_plan_id": "x" * 65}],
        ids=["limit-zero", "limit-too-large", "limit-in-words", "plan-id-too-long"],
    )
    def test_a_malformed_audit_query_is_refused_with_422(
        self, auditor: Api, params: dict[str, Any]
    ) -> None:
        assert_problem(auditor.audit(**params), 422, INVALID)


def test_none_of_these_requests_made_the_server_fail(server: Server) -> None:
    """Runs last in the module: the server logged no unexpected error (no 500)."""
    assert server.logged_failures() == []
