"""When snapshots are taken and how one is used: the cache's policy, in one place.

Taken for the command whose events cross a multiple of the interval, in the
background (``taker``): one fold of the events since the previous snapshot,
about every ``interval`` events, which the command does not wait for. The state written is folded
from the stored events (never the command's plan in hand, whose events have not
been through storage), so a snapshot is exactly what a replay would have folded.
A replay only reads snapshots: auditors may read with a role that cannot write.

Every failure here is logged and swallowed: a missing, stale or unreadable
snapshot costs a full fold, never an answer.

Snapshots are sealed with the chain key (HMAC over plan, version, the code's
fingerprint and the bytes): the table is writable by whoever can write the
database, and a replay shown to an auditor must not start from a state somebody
edited. A snapshot whose seal fails is ignored (the replay folds the events) and
reported (``snapshot.forged`` in the log and in ``careplan audit verify``).
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

import structlog

from domain.care_plan import CarePlan
from services.snapshots.codec import UnreadableSnapshot, decode_plan, encode_plan, fingerprint
from services.snapshots.store import SnapshotStore

log = structlog.get_logger(__name__)

#: Events between snapshots: a replay folds fewer than this many events after one.
DEFAULT_INTERVAL = 100
#: What starts a sealed snapshot's bytes, before its 32-byte seal.
SEALED = b"careplan-sealed:v1:"


class PlanSnapshots:
    def __init__(self, store: SnapshotStore, interval: int = DEFAULT_INTERVAL) -> None:
        self.store = store
        self.interval = interval
        #: The chain key (bootstrap sets it); None: snapshots neither sealed nor checked
        #: (a bare application in a unit test, with an in-memory store).
        self.key: bytes | None = None

    def seal(self, plan_id: UUID, version: int, code: str, payload: bytes) -> bytes:
        if self.key is None:
            return payload
        return SEALED + self._mac(plan_id, version, code, payload) + payload

    def unsealed(self, plan_id: UUID, version: int, code: str, stored: bytes) -> bytes | None:
        """The payload if its seal holds (or no key is set), else None."""
        if self.key is None:
            return stored
        if not stored.startswith(SEALED):
            return None
        body = stored[len(SEALED) :]
        mac, payload = body[:32], body[32:]
        return (
            payload
            if hmac.compare_digest(mac, self._mac(plan_id, version, code, payload))
            else None
        )

    def _mac(self, plan_id: UUID, version: int, code: str, payload: bytes) -> bytes:
        assert self.key is not None
        digest = hmac.new(self.key, digestmod=hashlib.sha256)
        for part in (str(plan_id).encode(), str(version).encode(), code.encode(), payload):
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.digest()

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
        version, stored = found
        state = self.unsealed(plan_id, version, fingerprint(), stored)
        if state is None:
            log.warning("snapshot.forged", care_plan_id=str(plan_id), version=version)
            return None
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
            code = fingerprint()
            sealed = self.seal(plan.id, plan.version, code, encode_plan(plan))
            self.store.put(plan.id, plan.version, code, sealed)
        except Exception:
            log.warning(
                "snapshot.not_taken", care_plan_id=str(plan.id), version=plan.version, exc_info=True
            )
            return False
        return True
