"""What every read model declares: a name, its tables, and one handler per event."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from projections.store import Sql


class Projection(ABC):
    """A read model. ``process`` must only write through the given ``Sql``.

    The runner calls it inside the transaction that also records the position,
    so a handler that raises leaves neither rows nor position behind.
    """

    name: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]

    @abstractmethod
    def process(self, event: Any, sql: Sql, position: int) -> None:
        """Apply one event (ignore the ones this view does not need)."""
