"""The consumers' dedupe: repeats dropped by ce_id, gaps noticed, one number per plan."""

from __future__ import annotations

import pytest

from services.dedupe import Deduplicator, Delivery, parse_ce_id

PLAN = "9388cf0a-5d1c-4bd6-9d0b-3f1a2b7c6e11"
OTHER = "0b7e4c2d-1111-4222-8333-944455566677"


def apply_all(dedupe: Deduplicator, ce_ids: list[str]) -> list[str]:
    """What a consumer does: check, apply the new ones (here: collect), record."""
    applied = []
    for ce_id in ce_ids:
        delivery = dedupe.check(ce_id)
        if delivery.should_apply:
            applied.append(ce_id)
            dedupe.record(delivery)
    return applied


def test_a_plans_versions_in_order_are_all_new() -> None:
    dedupe = Deduplicator()
    for version in (1, 2, 3):
        delivery = dedupe.check(f"{PLAN}:{version}")
        assert delivery == Delivery(PLAN, version, "new")
        dedupe.record(delivery)
    assert dedupe.highest(PLAN) == 3


def test_a_batch_published_again_after_a_crash_is_dropped() -> None:
    # The relay sent 1-4, crashed before tracking them, and sent 3-4 again with 5.
    ids = [f"{PLAN}:{v}" for v in (1, 2, 3, 4, 3, 4, 5)]
    assert apply_all(Deduplicator(), ids) == [f"{PLAN}:{v}" for v in (1, 2, 3, 4, 5)]


def test_a_repeat_of_any_earlier_version_is_a_duplicate() -> None:
    dedupe = Deduplicator({PLAN: 7})
    assert dedupe.check(f"{PLAN}:7").verdict == "duplicate"
    assert dedupe.check(f"{PLAN}:1").verdict == "duplicate"
    assert not dedupe.check(f"{PLAN}:7").should_apply


def test_a_skipped_version_is_reported_as_a_gap_with_what_is_missing() -> None:
    dedupe = Deduplicator({PLAN: 2})
    delivery = dedupe.check(f"{PLAN}:6")
    assert delivery.verdict == "gap"
    assert delivery.missing == (3, 5)
    assert delivery.should_apply  # the consumer decides; the history it has goes on
    dedupe.record(delivery)
    assert dedupe.check(f"{PLAN}:7").verdict == "new"
    assert dedupe.check(f"{PLAN}:4").verdict == "duplicate"  # too late to apply in order


def test_a_plan_first_seen_after_version_1_started_mid_topic() -> None:
    assert Deduplicator().check(f"{PLAN}:3").missing == (1, 2)


def test_plans_are_judged_independently() -> None:
    ids = [f"{PLAN}:1", f"{OTHER}:1", f"{PLAN}:2", f"{OTHER}:1", f"{OTHER}:2", f"{PLAN}:2"]
    assert apply_all(Deduplicator(), ids) == [ids[0], ids[1], ids[2], ids[4]]


def test_memory_is_one_number_per_plan_however_long_the_history() -> None:
    dedupe = Deduplicator()
    apply_all(dedupe, [f"{plan}:{v}" for v in range(1, 1001) for plan in (PLAN, OTHER)])
    assert len(dedupe) == 2
    assert dedupe.applied() == {PLAN: 1000, OTHER: 1000}


def test_what_was_applied_survives_a_restart_through_the_snapshot() -> None:
    before = Deduplicator()
    apply_all(before, [f"{PLAN}:1", f"{PLAN}:2"])
    after = Deduplicator(before.applied())
    assert after.check(f"{PLAN}:2").verdict == "duplicate"
    assert after.check(f"{PLAN}:3").verdict == "new"


def test_recording_a_repeat_or_out_of_order_is_a_programming_error() -> None:
    dedupe = Deduplicator({PLAN: 3})
    with pytest.raises(ValueError, match="repeat"):
        dedupe.record(dedupe.check(f"{PLAN}:2"))
    stale = dedupe.check(f"{PLAN}:4")
    dedupe.record(dedupe.check(f"{PLAN}:4"))
    with pytest.raises(ValueError, match="check each message"):
        dedupe.record(stale)


def test_header_bytes_are_accepted() -> None:
    assert parse_ce_id(f"{PLAN}:12".encode()) == (PLAN, 12)


@pytest.mark.parametrize("bad", ["", PLAN, f"{PLAN}:", f"{PLAN}:0", f"{PLAN}:-1", ":3", "x:1.5"])
def test_anything_but_plan_and_version_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Careplan ce_id"):
        parse_ce_id(bad)
