"""Controlled-substance regulations as data: refill limits and telemedicine rules.

The DEA telemedicine flexibilities end on a date; holding that date in a data
file means the rule changes when the law does, without a release.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("regulations.toml")


class RegulationsError(ValueError):
    """The regulations file cannot be trusted; the message says where."""


@dataclass(frozen=True)
class TelemedicineFlexibility:
    schedules: frozenset[str]
    until: date
    modalities: frozenset[str]
    source: str


@dataclass(frozen=True)
class RefillLimit:
    schedules: frozenset[str]
    max_refills: int
    source: str


@dataclass(frozen=True)
class Regulations:
    telemedicine: tuple[TelemedicineFlexibility, ...]
    refills: tuple[RefillLimit, ...]

    def refill_limit(self, schedule: str) -> RefillLimit | None:
        return next((r for r in self.refills if schedule in r.schedules), None)

    def telemedicine_flexibility(self, schedule: str) -> TelemedicineFlexibility | None:
        return next((t for t in self.telemedicine if schedule in t.schedules), None)


@cache
def default_regulations() -> Regulations:
    return load_regulations()


def load_regulations(path: Path | str | None = None) -> Regulations:
    source = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
        return Regulations(
            telemedicine=tuple(_flexibility(t) for t in data.get("telemedicine_flexibility", [])),
            refills=tuple(_refills(r) for r in data.get("refill_limit", [])),
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
        raise RegulationsError(f"{source}: {error!r}") from None


def _flexibility(raw: dict[str, Any]) -> TelemedicineFlexibility:
    if not isinstance(raw["until"], date) or not raw["source"]:
        raise ValueError("telemedicine_flexibility needs an 'until' date and a source")
    return TelemedicineFlexibility(
        frozenset(raw["schedules"]), raw["until"], frozenset(raw["modalities"]), raw["source"]
    )


def _refills(raw: dict[str, Any]) -> RefillLimit:
    if int(raw["max_refills"]) < 0 or not raw["source"]:
        raise ValueError("refill_limit needs max_refills >= 0 and a source")
    return RefillLimit(frozenset(raw["schedules"]), int(raw["max_refills"]), raw["source"])
