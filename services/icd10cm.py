"""The ICD-10-CM code set diagnoses are checked against (``domain.terminology``).

The set ships with the maintained ``simple-icd-10-cm`` package (the CDC/NCHS
tabular list and code list, April 2026 release at 1.5.0). Importing that package
parses the whole tabular list (about 1.5 s), so checking a code reads only its
plain code list (40 ms, once per process); the package itself is imported the
first time a description is asked for (a diagnosis sent without display text).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from functools import cache
from pathlib import Path

_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")
PACKAGE = "simple_icd_10_cm"


class CodeSetMissing(RuntimeError):
    """The package's code list is not where it ships it: refuse to start, never guess."""


def _code_list() -> Path:
    """The package's plain list of codes, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    found = sorted(p for place in locations for p in (Path(place) / "data").glob("code-list-*.txt"))
    if not found:
        msg = f"{PACKAGE} is installed without its code list (data/code-list-*.txt)"
        raise CodeSetMissing(msg)
    return found[-1]


class ICD10CMCodes:
    """Categories and subcategories of ICD-10-CM (not chapters or blocks: ``F30-F39``
    names a range, not a diagnosis)."""

    def __init__(self) -> None:
        source = _code_list()
        lines = source.read_text(encoding="utf-8").split("\n")
        self._codes = frozenset(
            code
            for line in lines
            if (code := line.split(" ")[0]) and "-" not in code and not code.isdigit()
        )
        release = source.stem.removeprefix("code-list-").replace("-", " ")
        self.release = f"the ICD-10-CM code set of {release}"

    def canonical(self, code: str) -> str | None:
        spelled = code.strip().upper()
        if not _CODE.match(spelled):
            return None
        bare = spelled.replace(".", "")
        if bare not in self._codes:
            return None
        return bare if len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"

    def display(self, code: str) -> str:
        package = importlib.import_module(PACKAGE)
        return str(package.get_description(code))


@cache
def icd10cm_codes() -> ICD10CMCodes:
    """One code set per process: it is large and never changes while running."""
    return ICD10CMCodes()
