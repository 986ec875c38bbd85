"""What every read model declares: a name, its tables, and one handler per event."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import singledispatchmethod
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


class handlers(singledispatchmethod):  # noqa: N801 (used as a decorator, like its base)
    """``singledispatchmethod`` bound once per view instead of on every call.

    On Python 3.11 the standard one builds and wraps a new function each time the
    method is looked up: a sixth of a rebuild's time went there. Bound here on first
    use and kept on the instance (a non-data descriptor, so the instance wins after).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    def __get__(self, obj: Any, cls: type | None = None) -> Callable[..., Any]:
        if obj is None:
            return super().__get__(obj, cls)
        dispatch = self.dispatcher.dispatch

        def method(event: Any, *args: Any, **kwargs: Any) -> Any:
            return dispatch(type(event))(obj, event, *args, **kwargs)

        obj.__dict__[self.attrname] = method
        return method
