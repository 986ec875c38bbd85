"""A command is stored at most once, whatever the connection does.

Two things make a retry safe:

- The event store knows its own events when it meets them again: after a lost
  connection it looks for the events it sent before sending them again, and finds
  them byte for byte if the commit happened and only its acknowledgement was lost
  (``services.chain.recorders``). If the store stays out of reach it cannot know:
  ``CommitUnconfirmed``, answered 503 ``command.outcome_unknown``.
- A command sent with an ``Idempotency-Key`` stores its answer (``CommandResult``)
  in the same transaction as its events, under the caller and the key. A retry
  whose first attempt left no answer (a crash, a 5xx, an unconfirmed commit) looks
  there first: found, the command is not run again, its stored result is rendered
  by the route as the first answer would have been (``REPLAYED``); not found, the
  command did not happen and runs.

See docs/decisions/exactly-once-commands.md.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from domain.safety import Finding
from services.command_result import CommandResult

#: (actor id, Idempotency-Key) of the command being run, set by the API's route.
COMMAND_KEY: ContextVar[tuple[str, str] | None] = ContextVar("command_key", default=None)
#: A command already stored: the application answers with it instead of acting.
REPLAYED: ContextVar[CommandResult | None] = ContextVar("replayed", default=None)


@dataclass(frozen=True)
class CommandOutcome:
    """A keyed command's result, stored with its events."""

    actor_id: str
    key: str
    care_plan_id: str
    result: str


class CommitUnconfirmed(Exception):
    """The commit was sent and the connection lost before its answer; the store could
    not be reached again to learn whether it happened."""


def outcome_of(result: CommandResult) -> CommandOutcome | None:
    """The outcome to store with the events, if the command carries a key."""
    key = COMMAND_KEY.get()
    if key is None:
        return None
    return CommandOutcome(key[0], key[1], str(result.care_plan_id), encode(result))


def encode(result: CommandResult) -> str:
    """The result as JSON (its position is the log's, known once stored: left out)."""
    return json.dumps(
        {
            "care_plan_id": str(result.care_plan_id),
            "version": result.version,
            "warnings": [asdict(finding) for finding in result.warnings],
            "created_id": result.created_id,
            "flagged": {
                rx: [asdict(finding) for finding in findings]
                for rx, findings in result.flagged.items()
            },
        },
        separators=(",", ":"),
    )


def decode(text: str) -> CommandResult:
    data: dict[str, Any] = json.loads(text)
    return CommandResult(
        care_plan_id=UUID(data["care_plan_id"]),
        version=int(data["version"]),
        position=None,
        warnings=[Finding(**finding) for finding in data["warnings"]],
        created_id=data["created_id"],
        flagged={
            rx: [Finding(**finding) for finding in findings]
            for rx, findings in data["flagged"].items()
        },
    )
