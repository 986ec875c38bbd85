"""Safe retries and concurrency through a real server: Idempotency-Key, ETag and
If-Match, and two writers racing on one plan."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

from tests.e2e.careplan_api import (
    Api,
    assert_problem,
    client,
    dose_change,
    prescription,
    stores_nothing,
    token,
)
from tests.e2e.conftest import Server


def with_key(key: str, **headers: str) -> dict[str, str]:
    return {"Idempotency-Key": key, **headers}


class TestIdempotencyKeys:
    def test_the_same_key_and_body_answers_as_the_first_time_and_stores_nothing(
        self, prescriber: Api
    ) -> None:
        plan = prescriber.ready_evaluated_plan()
        key = str(uuid4())
        first = prescriber.prescribe(plan, prescription(), headers=with_key(key))
        assert first.status_code == 201, first.text
        with stores_nothing(prescriber, plan):
            again = prescriber.prescribe(plan, prescription(), headers=with_key(key))
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["ETag"] == first.headers["ETag"]

    def test_the_same_key_with_another_body_is_refused(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        key = str(uuid4())
        assert prescriber.prescribe(plan, prescription(), headers=with_key(key)).is_success
        with stores_nothing(prescriber, plan):
            other = prescriber.prescribe(
                plan, prescription("escitalopram", "5"), headers=with_key(key)
            )
        assert_problem(other, 422, "idempotency.key_reused")

    def test_a_refusal_is_the_answer_a_retry_gets(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        key = str(uuid4())
        too_high = prescription("sertraline", "400")
        first = prescriber.prescribe(plan, too_high, headers=with_key(key))
        assert_problem(first, 409, "dose.above_maximum")
        again = prescriber.prescribe(plan, too_high, headers=with_key(key))
        assert (again.status_code, again.json()) == (409, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"

    def test_keys_belong_to_who_used_them(self, server: Server, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        key = str(uuid4())
        assert prescriber.prescribe(plan, prescription(), headers=with_key(key)).is_success
        colleague = Api(client(server.base_url, role="prescriber", sub="dr-colleague"))
        body = prescription("escitalopram", "5")
        response = colleague.prescribe(plan, body, headers=with_key(key))
        assert response.status_code == 201, response.text
        assert "Idempotent-Replayed" not in response.headers

    def test_a_stored_answer_goes_only_to_whom_the_route_allows(
        self, server: Server, prescriber: Api
    ) -> None:
        """The same subject in another role, or limited to another care team, is
        authorised first: 403, not the prescriber's stored answer."""
        plan = prescriber.ready_evaluated_plan()
        key = str(uuid4())
        assert prescriber.prescribe(plan, prescription(), headers=with_key(key)).is_success
        for role, extra in (
            ("service", {}),
            ("auditor", {}),
            ("prescriber", {"care_team": ["00000000-0000-0000-0000-000000000000"]}),
        ):
            bearer = token(role, "dr-ada", extra=extra)
            with client(server.base_url, headers={"Authorization": f"Bearer {bearer}"}) as http:
                response = Api(http).prescribe(plan, prescription(), headers=with_key(key))
            assert response.status_code == 403, (role, response.text)
            assert "Idempotent-Replayed" not in response.headers

    def test_a_malformed_key_is_a_problem(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        bad = prescriber.prescribe(plan, prescription(), headers=with_key("x" * 300))
        assert_problem(bad, 400, "request.invalid_idempotency_key")


class TestVersions:
    def test_commands_and_plan_reads_carry_the_version_as_etag(self, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        created = prescriber.prescribe(plan, prescription())
        assert created.headers["ETag"] == f'"{created.json()["version"]}"'
        read = prescriber.plan(plan)
        assert read.headers["ETag"] == f'"{read.json()["version"]}"'

    def test_a_stale_if_match_is_412_and_stores_nothing(self, prescriber: Api) -> None:
        plan, rx, _ = prescriber.ready_prescription()
        version = prescriber.plan(plan).json()["version"]
        body = dose_change("50")
        with stores_nothing(prescriber, plan):
            stale = prescriber.change_dose(plan, rx, body, headers={"If-Match": f'"{version - 1}"'})
            assert_problem(stale, 412, "care_plan.version_mismatch")
        fresh = prescriber.change_dose(plan, rx, body, headers={"If-Match": f'"{version}"'})
        assert fresh.status_code == 201, fresh.text

    def test_a_malformed_if_match_is_a_problem(self, prescriber: Api) -> None:
        plan, rx, _ = prescriber.ready_prescription()
        response = prescriber.change_dose(plan, rx, dose_change("50"), headers={"If-Match": "v7"})
        assert_problem(response, 400, "request.invalid_if_match")

    def test_racing_writers_lose_no_update(self, server: Server, prescriber: Api) -> None:
        plan = prescriber.ready_evaluated_plan()
        before = prescriber.plan(plan).json()["version"]
        nurses = [Api(client(server.base_url, role="clinician", sub=f"rn-{n}")) for n in range(6)]

        def report(nurse: Api) -> int:
            body = {"description": "dry mouth", "severity": "mild", "action": "monitor"}
            return nurse.http.post(f"/v1/care-plans/{plan}/side-effects", json=body).status_code

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(report, nurses))
        assert statuses == [201] * 6  # losers of a race ran again on the new version
        assert prescriber.plan(plan).json()["version"] == before + 6
