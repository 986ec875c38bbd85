"""Idempotency keys on both stores: claimed once, answered the same, refused when
reused for another request, taken over when their process died, swept when old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.bootstrap import Careplan
from services.idempotency import (
    ABANDONED_AFTER,
    Answer,
    Claimed,
    IdempotencyKeys,
    Refused,
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
    assert isinstance(running, Refused)
    assert (running.code, running.status) == ("idempotency.in_progress", 409)
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


def test_a_claim_left_by_a_dead_process_is_taken_over(careplan: Careplan) -> None:
    keys = careplan.idempotency
    assert keys.claim("dr-ada", "k3", PRINT) == Claimed()
    backdate(careplan, ABANDONED_AFTER + timedelta(seconds=1))
    assert keys.claim("dr-ada", "k3", PRINT) == Claimed()


def test_a_released_key_can_be_used_again(careplan: Careplan) -> None:
    keys = careplan.idempotency
    keys.claim("dr-ada", "k4", PRINT)
    keys.release("dr-ada", "k4")
    assert keys.claim("dr-ada", "k4", OTHER) == Claimed()


def test_keys_are_kept_for_the_ttl_then_swept(careplan: Careplan) -> None:
    keys = careplan.idempotency
    keys.claim("dr-ada", "k5", PRINT)
    keys.remember("dr-ada", "k5", Answer(201, "application/json", "{}"))
    backdate(careplan, timedelta(hours=23))
    assert isinstance(keys.claim("dr-ada", "k5", PRINT), Answer)
    backdate(careplan, timedelta(hours=25))
    assert keys.claim("dr-ada", "k5", OTHER) == Claimed()  # expired: a new request
