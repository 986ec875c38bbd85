"""The ICD-10-CM code set diagnoses are checked against (``domain.terminology``).

The set ships with the maintained ``simple-icd-10-cm`` package (the CDC/NCHS
tabular list, April 2026 release at 1.5.0), so "banana" or a mistyped code is
refused with the release named. Loading it parses the whole tabular list (about
a second), so it happens once per process, when the application is built.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.metadata import version

import simple_icd_10_cm as icd

_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:\.?[0-9A-Z]{1,4})?$")


class ICD10CMCodes:
    """Categories and subcategories of the ICD-10-CM tabular list (not chapters or
    blocks: ``F30-F39`` names a range, not a diagnosis)."""

    def __init__(self) -> None:
        icd.is_valid_item("F32.1")  # the package parses its data on first use
        self.release = f"the ICD-10-CM code set of simple-icd-10-cm {version('simple-icd-10-cm')}"

    def canonical(self, code: str) -> str | None:
        spelled = code.strip().upper()
        if not _CODE.match(spelled) or not icd.is_category_or_subcategory(spelled):
            return None
        return str(icd.add_dot(spelled))

    def display(self, code: str) -> str:
        return str(icd.get_description(code))


@cache
def icd10cm_codes() -> ICD10CMCodes:
    """One code set per process: it is large and never changes while running."""
    return ICD10CMCodes()
