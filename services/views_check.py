"""Are the live views what the events say? Every view's rows, compared with every view
rebuilt from the whole log (fresh tables, then switched in): what a crash run, or an
operator after an incident, checks."""

from __future__ import annotations

import threading

from projections.rebuild import Rebuild
from services.bootstrap import PROJECTIONS, Careplan


def view_rows(careplan: Careplan) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table of every view, in a fixed order."""
    tables: dict[str, list[tuple[str, ...]]] = {}
    with careplan.views.reading() as sql:
        for projection in PROJECTIONS:
            for table in projection.tables:
                rows = sql.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 (ours)
                tables[table] = sorted(tuple(str(v) for v in row.values()) for row in rows)
    return tables


def rebuild_all(careplan: Careplan) -> None:
    app = careplan.app
    for projection_type in PROJECTIONS:
        job = Rebuild(projection_type, careplan.views, app.recorder, app.mapper, restart=True)
        if not job.fill(threading.Event()):
            msg = f"rebuilding {projection_type.name} did not finish"
            raise RuntimeError(msg)
        job.switch()


def differing_views(careplan: Careplan) -> list[str]:
    """The tables whose live rows differ from a rebuild from the events (empty: equal).
    The rebuild replaces the live tables, so afterwards the views are right either way."""
    live = view_rows(careplan)
    rebuild_all(careplan)
    rebuilt = view_rows(careplan)
    return sorted(
        table for table in live.keys() | rebuilt.keys() if live.get(table) != rebuilt.get(table)
    )
