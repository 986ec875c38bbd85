"""Idempotency keys on both stores: claimed once, answered the same, refused when
reused for another request, left unanswered (and bound to their request) when their
process died or their request failed, taken over once, swept when old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.bootstrap import Careplan
from services.idempotency import (
    ABANDONED_AFTER,
    Answer,
    Claimed,
    IdempotencyKeys,
    Refused,
    Unanswered,
    fingerprint,
)

PRINT = fingerprint("POST", "/v1/care-plans/x/prescriptions", b'{"drug": "sertraline"}')
OTHER = fingerprint("POST", "/v1/care-plans/x/prescriptions", b'{"drug": "escitalopram"}')


def backdate(careplan: Careplan, by: timedelta) -> None:
    moment = (datetime.now(UTC) - by).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    with careplan.views.transaction() as sql:
        sql.execute("UPDATE careplan_idempotency SET claimed_at = %(at)s", {"at": moment})


def test_a_key_is_claimed_once_and_then_answers(careplan: Careplan) -> None:
    keys = careplan.idempotency
    assert keys.claim("dr-ada", "k1", PRINT) == Claimed()
    running = keys.claim("dr-ada", "k1", PRINT)
    assert isinstance(running, Unanswered)
    assert running.in_progress
    keys.remember("dr-ada", "k1", Answer(201, "application/json", '{"version": 3}'))
    assert keys.claim("dr-ada", "k1", PRINT) == Answer(201, "application/json", '{"version": 3}')
    refused = keys.claim("dr-ada", "k1", OTHER)
    assert isinstance(refused, Refused)
    assert refused.code == "idempotency.key_reused"
    assert keys.claim("dr-bo", "k1", OTHER) == Claimed()  # another actor's key space


def test_answers_survive_a_restart(careplan: Careplan) -> None:
    careplan.idempotency.claim("dr-ada", "k2", PRINT)
    careplan.idempotency.remember("dr-ada", "k2", Answer(409, "application/problem+json", "{}"))
    reopened = IdempotencyKeys(careplan.views)
    assert reopened.claim("dr-ada", "k2", PRINT) == Answer(409, "application/problem+json", "{}")


def test_a_claim_left_by_a_dead_process_is_taken_over_once(careplan: Careplan) -> None:
    keys = careplan.idempotency
    assert keys.claim("dr-ada", "k3", PRINT) == Claimed()
    backdate(careplan, ABANDONED_AFTER + timedelta(seconds=1))
    left = keys.claim("dr-ada", "k3", PRINT)
    assert isinstance(left, Unanswered)
    assert not left.in_progress
    assert keys.take_over("dr-ada", "k3", left.claimed_at)
    assert not keys.take_over("dr-ada", "k3", left.claimed_at)  # a second retry lost the race
    again = keys.claim("dr-ada", "k3", PRINT)
    assert isinstance(again, Unanswered)
    assert again.in_progress


def test_a_released_key_stays_bound_to_its_request(careplan: Careplan) -> None:
    """A 5xx may hide a stored command: the retry must look before it runs again."""
    keys = careplan.idempotency
    keys.claim("dr-ada", "k4", PRINT)
    keys.release("dr-ada", "k4")
    retry = keys.claim("dr-ada", "k4", PRINT)
    assert isinstance(retry, Unanswered)
    assert not retry.in_progress  # no waiting: the request has ended
    reused = keys.claim("dr-ada", "k4", OTHER)
    assert isinstance(reused, Refused)
    assert reused.code == "idempotency.key_reused"
    assert keys.take_over("dr-ada", "k4", retry.claimed_at)


def test_keys_are_kept_for_the_ttl_then_swept(careplan: Careplan) -> None:
    keys = careplan.idempotency
    keys.claim("dr-ada", "k5", PRINT)
    keys.remember("dr-ada", "k5", Answer(201, "application/json", "{}"))
    backdate(careplan, timedelta(hours=23))
    assert isinstance(keys.claim("dr-ada", "k5", PRINT), Answer)
    backdate(careplan, timedelta(hours=25))
    assert keys.claim("dr-ada", "k5", OTHER) == Claimed()  # expired: a new request
