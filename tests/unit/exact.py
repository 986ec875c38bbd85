"""Compare states by value and type: ``Decimal("1") == 1`` and a plan whose tuples came
back as lists would otherwise pass for the same plan."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any


def exact(value: Any) -> Any:
    kind = type(value).__qualname__
    if isinstance(value, dict):
        return (kind, sorted((repr(exact(k)), exact(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return (kind, sorted(repr(exact(item)) for item in value))
    if isinstance(value, list | tuple):
        return (kind, [exact(item) for item in value])
    if is_dataclass(value) and not isinstance(value, type):
        return (kind, [(f.name, exact(getattr(value, f.name))) for f in fields(value)])
    return (kind, repr(value))


def state(plan: Any) -> Any:
    """Everything a plan knows, events waiting to be saved aside."""
    return exact({k: v for k, v in vars(plan).items() if k != "_pending_events"})
