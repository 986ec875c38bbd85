"""Paging through the worklist with cursors, on both stores: every item once, in the
list's order, pages of the size asked for, even with writes between pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections.worklist import (
    WorklistQuery,
    decode_worklist_cursor,
    encode_worklist_cursor,
    worklist_page,
)
from services.bootstrap import Careplan
from tests.integration.course import play
from tests.integration.medication_histories import write_varied_plans


def walk(careplan: Careplan, limit: int, between: Any = None) -> list[list[dict[str, Any]]]:
    """Follow next cursors (through their opaque form, as a client does) to the end."""
    on = datetime.now(UTC).date()
    pages, cursor = [], None
    while True:
        after = decode_worklist_cursor(cursor) if cursor else None
        query = WorklistQuery(on=on, to=on + timedelta(days=60), limit=limit, after=after)
        items, next_after = worklist_page(careplan.views, query)
        pages.append(items)
        if next_after is None:
            return pages
        assert len(items) == limit
        assert len(pages) < 500, "the cursors never end"
        cursor = encode_worklist_cursor(next_after)
        if between is not None:
            between(len(pages))


def identity(item: dict[str, Any]) -> tuple[str, ...]:
    return tuple(f"{key}={item[key]}" for key in sorted(item))


def test_pages_walk_every_item_once_in_order(careplan: Careplan) -> None:
    play(careplan.app, "pt-paging-1")
    play(careplan.app, "pt-paging-2")
    write_varied_plans(careplan.app, 8)  # follow-ups of many plans due the same day
    [everything] = walk(careplan, 1000)
    assert len(everything) > 20
    assert len({identity(item) for item in everything}) == len(everything)

    for limit in (1, 3, 7):
        pages = walk(careplan, limit)
        assert len(pages) > 1
        assert [item for page in pages for item in page] == everything, limit

    # Writes between pages: what was there is still listed once each, in order.
    pages = walk(careplan, 5, between=lambda n: play(careplan.app, f"pt-paging-new-{n}"))
    walked = [item for page in pages for item in page]
    seen = [identity(item) for item in walked]
    assert len(set(seen)) == len(seen)
    before = {identity(item) for item in everything}
    assert [s for s in seen if s in before] == [identity(item) for item in everything]
    assert walked == sorted(walked, key=lambda i: (i["due_on"], i["care_plan_id"], i["kind"]))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-a-cursor",
        encode_worklist_cursor(("2026-01-01", "plan", "nothing", "", 0, 0)),
        encode_worklist_cursor(("yesterday", "plan", "follow_up", "", 0, 0)),
        "cFsxMjNd",  # an audit trail cursor
    ],
)
def test_a_cursor_this_list_did_not_give_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_worklist_cursor(cursor)
