"""Rebuild the snapshot cache from the events, or check it against them.

Rebuild after an upgrade (the fingerprint changed, so every older snapshot is
ignored) or for plans stored before snapshots existed, which otherwise get
their first one only with their next crossing. Check: every snapshot of this
code decodes to exactly the plan its events fold to (an auditor's proof that
the cache tells what the record does)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import UUID

from domain.care_plan import CarePlan
from services.application import CarePlans
from services.snapshots.codec import UnreadableSnapshot, decode_plan, fingerprint


@dataclass
class Checked:
    plans: int = 0
    snapshots: int = 0
    #: (plan, version, what is wrong): a snapshot that is not the fold of its events.
    wrong: list[tuple[str, int, str]] = field(default_factory=list)


def rebuild(app: CarePlans, plan_id: UUID | None = None) -> tuple[int, int]:
    """Clear the plan's (or every plan's) snapshots, then take one every interval
    along one fold of its events. Returns (plans, snapshots taken)."""
    snapshots = app.plan_snapshots
    snapshots.store.clear(plan_id)
    interval = snapshots.interval
    plans = taken = 0
    for uuid in [plan_id] if plan_id else list(plan_ids(app)):
        plans += 1
        for plan in _folds(app, uuid):
            if interval > 0 and plan.version % interval == 0:
                taken += snapshots.save(plan)
    return plans, taken


def check(app: CarePlans, plan_id: UUID | None = None) -> Checked:
    result = Checked()
    for uuid in [plan_id] if plan_id else list(plan_ids(app)):
        result.plans += 1
        stored = dict(app.plan_snapshots.store.all_of(uuid, fingerprint()))
        result.snapshots += len(stored)
        for plan in _folds(app, uuid):
            sealed = stored.pop(plan.version, None)
            if sealed is None:
                continue
            data = app.plan_snapshots.unsealed(uuid, plan.version, fingerprint(), sealed)
            if data is None:
                result.wrong.append((str(uuid), plan.version, "forged: its seal does not hold"))
                continue
            try:
                snapshot = decode_plan(data, uuid, plan.version)
            except UnreadableSnapshot as error:
                result.wrong.append((str(uuid), plan.version, f"unreadable: {error}"))
                continue
            if _state(snapshot) != _state(plan):
                result.wrong.append((str(uuid), plan.version, "differs from the events"))
        result.wrong += [(str(uuid), version, "beyond the last event") for version in stored]
    return result


def _folds(app: CarePlans, plan_id: UUID) -> Iterator[CarePlan]:
    """The plan after each of its events, in one fold (the same object, moved on)."""
    plan: CarePlan | None = None
    for event in app.history(plan_id):
        plan = event.mutate(plan)  # type: ignore[assignment]
        assert plan is not None
        yield plan


def _state(plan: CarePlan) -> dict[str, object]:
    return {name: value for name, value in vars(plan).items() if name != "_pending_events"}


def plan_ids(app: CarePlans) -> Iterator[UUID]:
    """Every plan in the store, from the events table itself."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    datastore = app.factory.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT DISTINCT originator_id FROM {table}")  # noqa: S608 (library's table)
        rows = cursor.fetchall()
    for row in rows:
        value = next(iter(row.values())) if isinstance(row, dict) else row[0]
        yield UUID(str(value))
