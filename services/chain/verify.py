"""Recompute every plan's chain from the stored events and compare with the links.

Reads the events table and the chain table directly (never through the
application): what is checked is what is stored. Rows are streamed plan by plan,
so memory stays flat however large the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any
from uuid import UUID

from services.application import CarePlans
from services.chain.links import GENESIS, Finding, StoredRow, check_plan, link, seal
from services.chain.recorders import CHAIN_TABLE
from services.snapshots.codec import fingerprint


@dataclass
class Verification:
    plans: int = 0
    events: int = 0
    findings: list[Finding] = field(default_factory=list)
    heads: list[tuple[str, int, str]] = field(default_factory=list)
    #: Plans whose chain carries no keyed link (written before the chain had a key):
    #: anyone able to write the database could recompute them; the seal guards them.
    unkeyed_plans: int = 0
    snapshots: int = 0

    @property
    def intact(self) -> bool:
        return not self.findings

    @property
    def seal(self) -> str:
        return seal(self.heads)


def verify(
    app: CarePlans, plan_id: str | None = None, *, require_keyed: bool = False
) -> Verification:
    """Every chain (or one plan's) against its stored events, under the chain key, and
    every snapshot's seal. ``require_keyed``: a plan with no keyed link is a finding
    (for a store keyed from its start, where such a plan can only be recomputed)."""
    key: bytes | None = getattr(app.recorder, "chain_key", None)
    result = Verification()
    links = _links(app, plan_id)
    seen: set[str] = set()
    for plan, rows in groupby(_events(app, plan_id), key=lambda row: row[0]):
        stored = [StoredRow(version, topic, bytes(state)) for _, version, topic, state in rows]
        seen.add(plan)
        chain = links.get(plan, {})
        findings, head = check_plan(plan, stored, chain, key)
        result.plans += 1
        result.events += len(stored)
        result.findings += findings
        if head is not None:
            result.heads.append((plan, stored[-1].version, head))
            last = stored[-1]
            before = chain.get(last.version - 1, GENESIS)
            if head != link(before, plan, last.version, last.topic, last.state, key):
                result.unkeyed_plans += 1
                if require_keyed:
                    result.findings.append(Finding(plan, last.version, "unkeyed"))
        result.findings += _forged_snapshots(app, plan)
    for plan in sorted(set(links) - seen):  # every event of a plan deleted
        result.plans += 1
        result.findings += [Finding(plan, version, "missing") for version in sorted(links[plan])]
    return result


def _forged_snapshots(app: CarePlans, plan: str) -> list[Finding]:
    """Snapshots of the plan (by the running code) whose seal does not hold."""
    snapshots = app.plan_snapshots
    uuid = UUID(plan)
    try:
        stored = snapshots.store.all_of(uuid, fingerprint())
    except Exception:  # no snapshot table (a role that may not create it): none to check
        return []
    return [
        Finding(plan, version, "snapshot_forged")
        for version, sealed in stored
        if snapshots.unsealed(uuid, version, fingerprint(), sealed) is None
    ]


def _events(app: CarePlans, plan_id: str | None) -> Iterator[tuple[str, int, str, Any]]:
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    sqlite = _is_sqlite(app)
    where, params = _where(plan_id, sqlite)
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {table}{where} "  # noqa: S608 (library's table name)
            "ORDER BY originator_id, originator_version",
            params,
        )
        for row in _rows(cursor):
            values = list(row.values()) if isinstance(row, dict) else list(row)
            yield _plan(values[0]), int(values[1]), str(values[2]), values[3]


def _rows(cursor: Any) -> Iterator[Any]:
    """Stream where the driver can (psycopg); the library's SQLite cursor fetches all."""
    if not hasattr(cursor, "fetchmany"):
        yield from cursor.fetchall()
        return
    while batch := cursor.fetchmany(1000):
        yield from batch


def _links(app: CarePlans, plan_id: str | None) -> dict[str, dict[int, str]]:
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    where, params = _where(plan_id, _is_sqlite(app))
    found: dict[str, dict[int, str]] = {}
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT originator_id, originator_version, link FROM {CHAIN_TABLE}{where}",  # noqa: S608
            params,
        )
        for row in cursor.fetchall():
            values = list(row.values()) if isinstance(row, dict) else list(row)
            found.setdefault(_plan(values[0]), {})[int(values[1])] = str(values[2]).strip()
    return found


def _where(plan_id: str | None, sqlite: bool) -> tuple[str, tuple[Any, ...]]:
    if plan_id is None:
        return "", ()
    uuid = UUID(str(plan_id))
    return (
        (" WHERE originator_id = ?", (uuid.hex,))
        if sqlite
        else (
            " WHERE originator_id = %s",
            (uuid,),
        )
    )


def _plan(value: Any) -> str:
    return str(UUID(str(value)))


def _is_sqlite(app: CarePlans) -> bool:
    return type(app.factory.datastore).__name__.startswith("SQLite")  # type: ignore[attr-defined]


def backfill(app: CarePlans) -> int:
    """Chain the plans stored before the chain existed (no link at all); returns how
    many. Plans that have some links are left to ``verify``: filling gaps there would
    launder a deletion."""
    links = _links(app, None)
    unchained: dict[str, list[StoredRow]] = {}
    for plan, rows in groupby(_events(app, None), key=lambda row: row[0]):
        if plan not in links:
            unchained[plan] = [StoredRow(v, t, bytes(s)) for _, v, t, s in rows]
    sqlite = _is_sqlite(app)
    insert = "INSERT INTO careplan_event_chain (originator_id, originator_version, link) " + (
        "VALUES (?, ?, ?)" if sqlite else "VALUES (%s, %s, %s)"
    )
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    key: bytes | None = getattr(app.recorder, "chain_key", None)
    for plan, rows in unchained.items():
        head, values = GENESIS, []
        for row in rows:
            head = link(head, plan, row.version, row.topic, row.state, key)
            values.append((UUID(plan).hex if sqlite else UUID(plan), row.version, head))
        with datastore.transaction(commit=True) as cursor:
            for value in values:
                cursor.execute(insert, value)
    return len(unchained)
