"""Drop redelivered Kafka messages by ``ce_id``, and notice missing ones.

The relay delivers at least once: after a crash it publishes part of a batch
again, so a consumer sees some messages twice. A ``ce_id`` is
``<care_plan_id>:<version>``, and one plan's versions are published in order
to one partition, so one number per plan is enough: the highest version
applied. A message at or below it is a repeat; the next version is new; a
later one means versions in between never arrived (a consumer that started
mid-topic, or a topic that lost records) and is reported as a gap.

Memory is one integer per plan, however long the history. Check first, apply,
then record: a message whose handling failed is not marked as seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["new", "duplicate", "gap"]


def parse_ce_id(ce_id: str | bytes) -> tuple[str, int]:
    """Split ``<care_plan_id>:<version>``; refuse anything else."""
    text = ce_id.decode() if isinstance(ce_id, bytes) else ce_id
    plan, _, version = text.rpartition(":")
    if not plan or not version.isdigit() or int(version) < 1:
        msg = f"not a Careplan ce_id (<care_plan_id>:<version>): {text!r}"
        raise ValueError(msg)
    return plan, int(version)


@dataclass(frozen=True)
class Delivery:
    """What one message is, given what has been applied before it."""

    care_plan_id: str
    version: int
    verdict: Verdict
    #: For a gap: the first and last version that never arrived.
    missing: tuple[int, int] | None = None

    @property
    def should_apply(self) -> bool:
        """New messages and those after a gap are applied; repeats are dropped."""
        return self.verdict != "duplicate"


class Deduplicator:
    """The highest version applied per plan, to judge each message against."""

    def __init__(self, applied: Mapping[str, int] | None = None) -> None:
        self._highest: dict[str, int] = dict(applied or {})

    def check(self, ce_id: str | bytes) -> Delivery:
        """Judge a message without recording it."""
        plan, version = parse_ce_id(ce_id)
        highest = self._highest.get(plan, 0)
        if version <= highest:
            return Delivery(plan, version, "duplicate")
        if version > highest + 1:
            return Delivery(plan, version, "gap", (highest + 1, version - 1))
        return Delivery(plan, version, "new")

    def record(self, delivery: Delivery) -> None:
        """Remember that a message was applied (call after applying it)."""
        if not delivery.should_apply:
            msg = f"{delivery.care_plan_id}:{delivery.version} is a repeat; it was not applied"
            raise ValueError(msg)
        highest = self._highest.get(delivery.care_plan_id, 0)
        if delivery.version <= highest:
            msg = (
                f"{delivery.care_plan_id}: version {delivery.version} recorded after "
                f"{highest}; check each message before recording it"
            )
            raise ValueError(msg)
        self._highest[delivery.care_plan_id] = delivery.version

    def highest(self, care_plan_id: str) -> int:
        """The highest version of the plan applied so far (0: none)."""
        return self._highest.get(care_plan_id, 0)

    def applied(self) -> dict[str, int]:
        """A copy of every plan's highest version, to persist beside the consumer's state."""
        return dict(self._highest)

    def __len__(self) -> int:
        return len(self._highest)

    def __iter__(self) -> Iterator[str]:
        return iter(self._highest)
