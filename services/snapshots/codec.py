"""A care plan's state as bytes and back, exactly: a snapshot must fold on as the
plan folded from its events would.

The library's own snapshots write ``vars(plan)`` through the event transcoder,
which turns tuples into lists and cannot write sets or dicts keyed by tuples, so
a snapshot would come back as a different plan. Here every container and value
is tagged with its type, and only dataclasses of the ``domain`` package are
rebuilt: anything else refuses to be written, and a state that does not decode
is refused as a whole (the caller then folds the events instead).

The fingerprint names the code the state was built by (the domain, the event
transcodings, this codec, the library): a snapshot taken by other code is
ignored rather than trusted, however small the change was.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic, resolve_topic

import domain
from domain.care_plan import CarePlan

#: Bumped when the tags below change meaning.
FORMAT = "careplan-state/1"
_SCALARS = (str, int, bool, float, type(None))


class UnsnapshottableState(TypeError):
    """The plan holds a value this codec cannot write exactly."""


class UnreadableSnapshot(ValueError):
    """The bytes are not a state this code wrote: fold the events instead."""


@cache
def fingerprint() -> str:
    digest = hashlib.sha256(FORMAT.encode())
    digest.update(package_version("eventsourcing").encode())
    here = Path(__file__).resolve()
    sources = sorted(Path(domain.__file__).resolve().parent.glob("*.py"))
    for source in [*sources, here.parent.parent / "transcodings.py", here]:
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:32]


def encode_plan(plan: CarePlan) -> bytes:
    if plan.pending_events:
        raise UnsnapshottableState("a plan with unsaved events is not a stored state")
    state = {name: value for name, value in vars(plan).items() if name != "_pending_events"}
    text = json.dumps(_tag(state), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # Compressed: a long plan's state is over 100 kB of JSON, a fifth of it compressed,
    # and reading it from the database is most of a snapshot's cost.
    return zlib.compress(text.encode(), 1)


def decode_plan(data: bytes, plan_id: UUID, version: int) -> CarePlan:
    try:
        state = json.loads(zlib.decompress(data), object_hook=_untag)
    except UnreadableSnapshot:
        raise
    except Exception as error:  # malformed bytes, a bad date, a missing class …
        raise UnreadableSnapshot(str(error)) from error
    if not isinstance(state, dict) or state.get("_id") != plan_id:
        raise UnreadableSnapshot("not this plan's state")
    if state.get("_version") != version:
        raise UnreadableSnapshot("not the state at this version")
    plan = object.__new__(CarePlan)
    plan.__dict__.update(state)
    plan.__dict__["_pending_events"] = []
    return plan


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [_tag(item) for item in value]
    if kind is dict:
        return {"d": [[_tag(k), _tag(v)] for k, v in value.items()]}
    if kind is tuple:
        return {"t": [_tag(item) for item in value]}
    if kind is set:
        return {"s": _canonical(value)}
    if kind is frozenset:
        return {"f": _canonical(value)}
    if kind is Decimal:
        return {"n": str(value)}
    if kind is datetime:
        return {"dt": value.isoformat()}
    if kind is date:
        return {"da": value.isoformat()}
    if kind is UUID:
        return {"u": value.hex}
    if is_dataclass(value) and kind.__module__.startswith("domain."):
        names = [f.name for f in fields(value)]
        if not hasattr(value, "__dict__") or set(vars(value)) != set(names):
            raise UnsnapshottableState(f"{kind.__name__} holds other than its fields")
        return {"c": get_topic(kind), "v": [_tag(getattr(value, name)) for name in names]}
    raise UnsnapshottableState(f"cannot snapshot a {kind.__module__}.{kind.__qualname__}")


def _canonical(members: set[Any] | frozenset[Any]) -> list[Any]:
    """A set's members in one order, whatever order it was built in: equal plans give
    equal bytes (iteration order follows insertion and string hashing)."""
    tagged = [_tag(member) for member in members]
    return sorted(tagged, key=lambda item: json.dumps(item, sort_keys=True))


def _untag(node: dict[str, Any]) -> Any:
    if len(node) == 2 and "c" in node:
        return _dataclass(node["c"], node.get("v"))
    if len(node) != 1:
        raise UnreadableSnapshot("an untagged object")
    ((tag, data),) = node.items()
    if tag == "d":
        return dict(data)
    if tag == "t":
        return tuple(data)
    if tag == "s":
        return set(data)
    if tag == "f":
        return frozenset(data)
    if tag == "n":
        return Decimal(data)
    if tag == "dt":
        return datetime.fromisoformat(data)
    if tag == "da":
        return date.fromisoformat(data)
    if tag == "u":
        return UUID(data)
    raise UnreadableSnapshot(f"unknown tag {tag!r}")


def _dataclass(topic: str, values: list[Any] | None) -> Any:
    """Rebuilt field by field, as stored: the constructor's checks ran when the value
    was first made, and a frozen value must be restored as it was."""
    kind, names = _domain_dataclass(topic)
    if not isinstance(values, list) or len(values) != len(names):
        raise UnreadableSnapshot(f"{topic} has other fields now")
    value = object.__new__(kind)
    value.__dict__.update(zip(names, values, strict=True))
    return value


@cache
def _domain_dataclass(topic: str) -> tuple[type, tuple[str, ...]]:
    """A long plan holds hundreds of values of a few classes: each is looked up once."""
    if not topic.startswith("domain."):
        raise UnreadableSnapshot(f"{topic} is not a domain value")
    try:
        kind = resolve_topic(topic)
    except Exception as error:
        raise UnreadableSnapshot(f"{topic} is no class now") from error
    if not (isinstance(kind, type) and is_dataclass(kind)) or hasattr(kind, "__slots__"):
        raise UnreadableSnapshot(f"{topic} is not a dataclass with a __dict__")
    return kind, tuple(f.name for f in fields(kind))
