"""The read-access log on both stores: each read told once its entry is stored, in order,
nothing recorded before a clean shutdown is lost."""

from __future__ import annotations

from dataclasses import replace

from services.access_log import Access, AccessLog
from services.bootstrap import Careplan


def read(n: int, plan: str = "plan-1") -> Access:
    return Access(
        actor_id=f"dr-{n % 3}",
        role="prescriber",
        care_plan_id=plan,
        method="GET",
        endpoint="/v1/care-plans/{care_plan_id}",
        status=200,
        purpose="TREAT",
        request_id=f"req-{n}",
    )


def test_everything_recorded_before_close_is_written(careplan: Careplan) -> None:
    log = AccessLog(careplan.views)
    for n in range(1200):  # more than one batch
        log.record(read(n))
    log.close()
    with careplan.views.reading() as sql:
        rows = sql.execute("SELECT request_id FROM careplan_access_log ORDER BY id").fetchall()
    assert [r["request_id"] for r in rows] == [f"req-{n}" for n in range(1200)]


def test_entries_are_filtered_and_paged_newest_first(careplan: Careplan) -> None:
    log = AccessLog(careplan.views)
    for n in range(10):
        log.record(read(n, plan="plan-a" if n % 2 else "plan-b"))
    log.flush()
    page = log.entries(care_plan_id="plan-a", limit=3)
    assert [e["request_id"] for e in page] == ["req-9", "req-7", "req-5"]
    rest = log.entries(care_plan_id="plan-a", before_id=page[-1]["id"], limit=3)
    assert [e["request_id"] for e in rest] == ["req-3", "req-1"]
    assert {e["actor_id"] for e in log.entries(actor_id="dr-0")} == {"dr-0"}
    assert page[0]["at"].endswith("Z")
    log.close()


def test_each_read_learns_its_entry_is_stored(careplan: Careplan) -> None:
    log = AccessLog(careplan.views)
    tickets = [log.record(read(n)) for n in range(50)]
    assert all(ticket.result(timeout=10) is True for ticket in tickets)
    log.close()


def test_an_entry_that_cannot_be_stored_costs_no_other(careplan: Careplan) -> None:
    """A batch that fails is retried entry by entry: only the bad one is refused."""
    log = AccessLog(careplan.views)
    bad = replace(read(7), status=2**70)  # no INTEGER column holds it, on either store
    tickets = [log.record(bad if n == 7 else read(n)) for n in range(20)]
    outcomes = [ticket.result(timeout=10) for ticket in tickets]
    assert outcomes == [n != 7 for n in range(20)]
    with careplan.views.reading() as sql:
        rows = sql.execute("SELECT request_id FROM careplan_access_log ORDER BY id").fetchall()
    assert [r["request_id"] for r in rows] == [f"req-{n}" for n in range(20) if n != 7]
    log.close()


def test_control_characters_never_reach_the_table(careplan: Careplan) -> None:
    log = AccessLog(careplan.views)
    hostile = replace(read(1), purpose="TREAT\x00\n\x1b[31m", request_id="r\r\n1")
    assert log.record(hostile).result(timeout=10) is True
    (entry,) = log.entries()
    assert (entry["purpose"], entry["request_id"]) == ("TREAT[31m", "r1")
    log.close()
