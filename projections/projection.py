"""What every read model declares: a name, its tables, and one handler per event."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from projections.store import Sql


class Projection(ABC):
    """A read model. ``process`` must only write through the given ``Sql``.

    The runner calls it inside the transaction that also records the position,
    so a handler that raises leaves neither rows nor position behind.

    Statements name the view's tables in braces (``{current_medications}``): the
    runner resolves them to the live tables, or, for a rebuild, to shadow tables
    with ``suffix`` appended, which are switched in once they have caught up.
    """

    #: The live view's name; also the name its position is tracked under.
    name: ClassVar[str]
    #: The tables this view owns, by their live names.
    tables: ClassVar[tuple[str, ...]]
    #: DDL creating those tables and their indexes (tables named in braces).
    schema: ClassVar[tuple[str, ...]]
    #: Appended to every table name and to the tracking name ("" for the live view).
    suffix: str = ""

    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix

    @property
    def tracking_name(self) -> str:
        return self.name + self.suffix

    def table_names(self) -> dict[str, str]:
        """What each ``{table}`` in this view's statements stands for."""
        return {table: table + self.suffix for table in self.tables}

    @abstractmethod
    def process(self, event: Any, sql: Sql, position: int) -> None:
        """Apply one event (ignore the ones this view does not need)."""
