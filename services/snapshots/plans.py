"""When snapshots are taken and how one is used: the cache's policy, in one place.

Taken for the command whose events cross a multiple of the interval, in the
background (``taker``): one fold of the events since the previous snapshot,
about every ``interval`` events, which the command does not wait for. The state written is folded
from the stored events (never the command's plan in hand, whose events have not
been through storage), so a snapshot is exactly what a replay would have folded.
A replay only reads snapshots: auditors may read with a role that cannot write.

Every failure here is logged and swallowed: a missing, stale or unreadable
snapshot costs a full fold, never an answer.
"""

from __future__ import annotations

from uuid import UUID

import structlog

from domain.care_plan import CarePlan
from services.snapshots.codec import UnreadableSnapshot, decode_plan, encode_plan, fingerprint
from services.snapshots.store import SnapshotStore

log = structlog.get_logger(__name__)

#: Events between snapshots: a replay folds fewer than this many events after one.
DEFAULT_INTERVAL = 100


class PlanSnapshots:
    def __init__(self, store: SnapshotStore, interval: int = DEFAULT_INTERVAL) -> None:
        self.store = store
        self.interval = interval

    def create_table(self) -> None:
        """Like the views' tables, the service's own: declared at every start, also by
        the role that may only append events (infra/postgres). A role that may not
        create it gets no snapshots, and replays as before."""
        try:
            self.store.create_table()
        except Exception:
            log.warning("snapshot.table_not_created", exc_info=True)

    def due(self, before: int, after: int) -> bool:
        """Did a save from version ``before`` to ``after`` cross a multiple of the interval?"""
        return self.interval > 0 and after // self.interval > before // self.interval

    def load(self, plan_id: UUID, at_most: int) -> CarePlan | None:
        """The plan at the newest usable snapshot at or below ``at_most``, or None."""
        if self.interval <= 0:
            return None
        try:
            found = self.store.latest(plan_id, at_most, fingerprint())
        except Exception:
            log.warning("snapshot.store_unavailable", care_plan_id=str(plan_id), exc_info=True)
            return None
        if found is None:
            return None
        version, state = found
        try:
            return decode_plan(state, plan_id, version)
        except UnreadableSnapshot as error:
            log.warning(
                "snapshot.ignored", care_plan_id=str(plan_id), version=version, reason=str(error)
            )
            return None

    def save(self, plan: CarePlan) -> bool:
        """Keep this state (folded from stored events); False when it could not be."""
        try:
            self.store.put(plan.id, plan.version, fingerprint(), encode_plan(plan))
        except Exception:
            log.warning(
                "snapshot.not_taken", care_plan_id=str(plan.id), version=plan.version, exc_info=True
            )
            return False
        return True
