"""The read-access log on both stores: written off the request path, in order, and
nothing recorded before a clean shutdown is lost."""

from __future__ import annotations

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
