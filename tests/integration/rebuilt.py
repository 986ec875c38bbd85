"""Every view's rows, and every view rebuilt from the whole log: what a live view is
compared with after crashes or concurrent writes."""

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
                rows = sql.execute(f"SELECT * FROM {table}").fetchall()
                tables[table] = sorted(tuple(str(v) for v in row.values()) for row in rows)
    return tables


def rebuild_all(careplan: Careplan) -> None:
    app = careplan.app
    for projection_type in PROJECTIONS:
        job = Rebuild(projection_type, careplan.views, app.recorder, app.mapper, restart=True)
        assert job.fill(threading.Event())
        job.switch()
