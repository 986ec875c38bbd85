"""Coded diagnoses: a code is checked against its code system before it is stored.

"banana" is no diagnosis, and a code nobody can look up cannot drive a rule, a
FHIR Condition or a report. ICD-10-CM codes are checked against the code set
itself (held outside the domain, given as ``DiagnosisCodes``); SNOMED CT concept
ids by their structure and Verhoeff check digit, the most that can be checked
without the licensed release.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from domain.errors import InvalidValue
from domain.values import ICD10CM, SNOMED_CT, Diagnosis

SYSTEMS = frozenset({ICD10CM, SNOMED_CT})
_SCTID = re.compile(r"^[1-9]\d{5,17}$")


class DiagnosisCodes(Protocol):
    """An ICD-10-CM code set: which codes exist, spelled as the set spells them."""

    #: The release, named in refusals (e.g. "ICD-10-CM April 2026").
    release: str

    def canonical(self, code: str) -> str | None:
        """The code as the set writes it (``F32.1`` for ``f321``), or None if absent."""
        ...

    def display(self, code: str) -> str:
        """The code set's own description of a canonical code."""
        ...


def coded(diagnoses: Iterable[Diagnosis], codes: DiagnosisCodes) -> tuple[Diagnosis, ...]:
    """Each diagnosis with its code checked and written as its system writes it."""
    return tuple(_coded(diagnosis, codes) for diagnosis in diagnoses)


def _coded(diagnosis: Diagnosis, codes: DiagnosisCodes) -> Diagnosis:
    if diagnosis.system not in SYSTEMS:
        raise InvalidValue(
            "diagnosis.unknown_system",
            f"Diagnoses are coded in ICD-10-CM ({ICD10CM}) or SNOMED CT ({SNOMED_CT}), "
            f"not {diagnosis.system!r}.",
        )
    if diagnosis.system == SNOMED_CT:
        if not is_sctid(diagnosis.code.strip()):
            raise InvalidValue(
                "diagnosis.unknown_code",
                f"{diagnosis.code!r} is not a SNOMED CT concept id (check digit or form).",
            )
        return replace(diagnosis, code=diagnosis.code.strip())
    canonical = codes.canonical(diagnosis.code)
    if canonical is None:
        raise InvalidValue(
            "diagnosis.unknown_code",
            f"{diagnosis.code!r} is not an ICD-10-CM code ({codes.release}).",
        )
    return replace(diagnosis, code=canonical)


def display_of(code: str, system: str, codes: DiagnosisCodes) -> str:
    """The code set's own description, for a diagnosis sent without display text."""
    if system != ICD10CM:
        raise InvalidValue(
            "diagnosis.display_required",
            "A SNOMED CT diagnosis needs its display text (the release is not held here).",
        )
    canonical = codes.canonical(code)
    if canonical is None:
        raise InvalidValue(
            "diagnosis.unknown_code", f"{code!r} is not an ICD-10-CM code ({codes.release})."
        )
    return codes.display(canonical)


def is_sctid(code: str) -> bool:
    """A SNOMED CT concept id: 6-18 digits, partition 00 or 10, Verhoeff-checked."""
    return bool(_SCTID.match(code)) and code[-3:-1] in ("00", "10") and _verhoeff(code)


_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def _verhoeff(number: str) -> bool:
    check = 0
    for position, digit in enumerate(reversed(number)):
        check = _D[check][_P[position % 8][int(digit)]]
    return check == 0
