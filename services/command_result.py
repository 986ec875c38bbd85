"""What a command tells its caller, shared by the application and what stores it."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from domain.safety import Finding


@dataclass(frozen=True)
class CommandResult:
    """What a command tells its caller: the new version, warnings, ids it created."""

    care_plan_id: UUID
    version: int
    position: int | None
    warnings: list[Finding] = field(default_factory=list)
    created_id: str | None = None
    #: Standing prescriptions an evaluation made unsafe, with what it found.
    flagged: dict[str, list[Finding]] = field(default_factory=dict)


@dataclass(frozen=True)
class Judged:
    """A command's own answer, beyond its events: an id it created, warnings, and
    (an evaluation) the standing prescriptions it made unsafe."""

    created_id: str | None = None
    warnings: tuple[Finding, ...] = ()
    flagged: dict[str, list[Finding]] = field(default_factory=dict)
