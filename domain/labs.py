"""Lab tests and vital signs: the codes we accept, their units, reference ranges and flags.

A value means nothing without its unit (lithium 0.8 mmol/L is fine, creatinine
0.8 mmol/L is not a creatinine), so each test accepts only the units it is
reported in. Reference ranges belong to the laboratory that ran the test, so the
caller's range wins; defaults exist only where a label gives a therapeutic range
and say so in their source. Critical limits (lithium above 1.5
mEq/L, ANC below 500/µL) apply whatever the laboratory's range says.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from domain.errors import InvalidValue
from domain.safety import Finding
from domain.values import require_choice

# Lab values are non-negative; anything this large is a unit or typing slip.
MAX_LAB_VALUE = Decimal("1000000")

LITHIUM_LABEL = (
    "Lithium carbonate label: long-term control 0.6-1.2 mEq/L (12-hour trough); "
    "toxicity above 1.5 mEq/L"
)
VALPROATE_LABEL = "Divalproex sodium (Depakote) label: trough 50-125 µg/mL"
CLOZAPINE_LABEL = "Clozapine label: ANC 1500/µL or more; below 500/µL severe neutropenia"
CLOZAPINE_BEN = (
    "Clozapine label, section 2 (benign ethnic neutropenia: normal ANC 1000/µL or more; "
    "below 500/µL severe neutropenia)"
)
#: Default ranges for patients with a condition that changes what is normal, by test
#: and unit: clozapine's label sets a lower normal ANC in benign ethnic neutropenia.
CONDITION_DEFAULTS: dict[str, dict[str, dict[str, ReferenceRange]]] = {}

# Spellings clients send for the same unit (ASCII "u", "mcg", the Greek mu).
UNIT_ALIASES = {
    "ug/mL": "µg/mL",
    "mcg/mL": "µg/mL",
    "μg/mL": "µg/mL",  # the Greek mu, as some systems send it
    "cells/uL": "cells/µL",
    "cells/μL": "cells/µL",
    "10^3/uL": "10^3/µL",
    "10^3/μL": "10^3/µL",
    "uIU/mL": "µIU/mL",
    "μIU/mL": "µIU/mL",
    "umol/L": "µmol/L",
    "μmol/L": "µmol/L",
    "mL/min/1.73m²": "mL/min/1.73m2",
}


@dataclass(frozen=True)
class ReferenceRange:
    low: Decimal | None
    high: Decimal | None
    source: str | None = None


@dataclass(frozen=True)
class LabTest:
    """What we know about one test: its units and, per unit, default and critical limits."""

    units: tuple[str, ...]
    #: The required-monitoring check a result of this test counts for (monitoring_plan).
    monitors: str
    defaults: dict[str, ReferenceRange] = field(default_factory=dict)
    critical_above: dict[str, Decimal] = field(default_factory=dict)
    critical_below: dict[str, Decimal] = field(default_factory=dict)


def _each(units: tuple[str, ...], value: str) -> dict[str, Decimal]:
    return dict.fromkeys(units, Decimal(value))


_LITHIUM_UNITS = ("mEq/L", "mmol/L")  # lithium is monovalent: 1 mEq/L = 1 mmol/L
_VALPROATE_UNITS = ("µg/mL", "mg/L")  # the same quantity

LAB_TESTS: dict[str, LabTest] = {
    "lithium_level": LabTest(
        _LITHIUM_UNITS,
        "lithium_level",
        dict.fromkeys(
            _LITHIUM_UNITS, ReferenceRange(Decimal("0.6"), Decimal("1.2"), LITHIUM_LABEL)
        ),
        critical_above=_each(_LITHIUM_UNITS, "1.5"),
    ),
    "valproate_level": LabTest(
        _VALPROATE_UNITS,
        "valproate_level",
        dict.fromkeys(
            _VALPROATE_UNITS, ReferenceRange(Decimal("50"), Decimal("125"), VALPROATE_LABEL)
        ),
    ),
    "anc": LabTest(
        ("cells/µL", "10^9/L"),
        "anc",
        {
            "cells/µL": ReferenceRange(Decimal("1500"), None, CLOZAPINE_LABEL),
            "10^9/L": ReferenceRange(Decimal("1.5"), None, CLOZAPINE_LABEL),
        },
        critical_below={"cells/µL": Decimal("500"), "10^9/L": Decimal("0.5")},
    ),
    "tsh": LabTest(("mIU/L", "µIU/mL"), "thyroid_function"),
    "creatinine": LabTest(("mg/dL", "µmol/L"), "renal_function"),
    "egfr": LabTest(("mL/min/1.73m2",), "renal_function"),
    "calcium": LabTest(("mg/dL", "mmol/L"), "calcium"),
    "alt": LabTest(("U/L", "IU/L"), "liver_function"),
    "ast": LabTest(("U/L", "IU/L"), "liver_function"),
    "platelets": LabTest(("10^9/L", "10^3/µL"), "cbc_platelets"),
    "glucose": LabTest(("mg/dL", "mmol/L"), "glucose_a1c"),
    "a1c": LabTest(("%", "mmol/mol"), "glucose_a1c"),
    "lipids_ldl": LabTest(("mg/dL", "mmol/L"), "lipids"),
    "weight": LabTest(("kg", "lb"), "weight"),
    "blood_pressure_systolic": LabTest(("mmHg",), "blood_pressure"),
    "blood_pressure_diastolic": LabTest(("mmHg",), "blood_pressure"),
    "qtc": LabTest(("ms",), "ecg"),
    "sodium": LabTest(("mmol/L", "mEq/L"), "sodium"),
}
LAB_FLAGS = frozenset({"low", "normal", "high", "critical"})

CONDITION_DEFAULTS["benign_ethnic_neutropenia"] = {
    "anc": {
        "cells/µL": ReferenceRange(Decimal("1000"), None, CLOZAPINE_BEN),
        "10^9/L": ReferenceRange(Decimal("1.0"), None, CLOZAPINE_BEN),
    }
}


@dataclass(frozen=True)
class LabReading:
    """A result checked against its test: what LabResultRecorded stores."""

    test: str
    value: Decimal
    unit: str
    reference: ReferenceRange
    flag: str | None


def read_lab_result(
    test: str,
    value: Decimal,
    unit: str,
    reference_low: Decimal | None = None,
    reference_high: Decimal | None = None,
    conditions: frozenset[str] = frozenset(),
) -> LabReading:
    """Check the test, unit and value; take the laboratory's range, else the default
    for the patient's conditions, else the default; flag the value against it
    (critical limits first).
    """
    known = LAB_TESTS[require_choice(test, frozenset(LAB_TESTS), "lab.unknown_test", "lab test")]
    unit = UNIT_ALIASES.get(unit.strip(), unit.strip())
    if unit not in known.units:
        raise InvalidValue(
            "lab.unknown_unit",
            f"{test} is reported in {' or '.join(known.units)}, not {unit!r}.",
        )
    value = _checked(value, "Lab value")
    given = ReferenceRange(
        _checked(reference_low, "Reference low") if reference_low is not None else None,
        _checked(reference_high, "Reference high") if reference_high is not None else None,
    )
    if given.low is not None and given.high is not None and given.low > given.high:
        raise InvalidValue(
            "lab.invalid_range", f"Reference low {given.low} is above reference high {given.high}."
        )
    given_any = given.low is not None or given.high is not None
    default = known.defaults.get(unit, ReferenceRange(None, None))
    for condition in sorted(conditions & CONDITION_DEFAULTS.keys()):
        default = CONDITION_DEFAULTS[condition].get(test, {}).get(unit, default)
    reference = given if given_any else default
    return LabReading(test, value, unit, reference, _flag(known, unit, value, reference))


CRITICAL_SOURCES = {
    "lithium_level": (
        "Lithium carbonate US prescribing information, boxed warning and section 5.1 "
        "(toxicity is closely related to serum levels: above 1.5 mEq/L; maintenance "
        "0.6-1.2 mEq/L)"
    ),
    "anc": (
        "Clozapine US prescribing information, section 2.4 (interrupt treatment when the "
        "ANC falls below 500/uL)"
    ),
}


def critical_findings(reading: LabReading) -> list[Finding]:
    """A critical value needs attention today: it comes back at once, like PHQ-9 item 9."""
    if reading.flag != "critical":
        return []
    name = reading.test.replace("_", " ")
    return [
        Finding(
            "lab.critical",
            "urgent",
            f"{name[:1].upper() + name[1:]} {reading.value} {reading.unit} is beyond the "
            "critical limit: act today.",
            CRITICAL_SOURCES.get(reading.test, "Laboratory critical limit"),
        )
    ]


def _flag(known: LabTest, unit: str, value: Decimal, reference: ReferenceRange) -> str | None:
    above, below = known.critical_above.get(unit), known.critical_below.get(unit)
    if (above is not None and value > above) or (below is not None and value < below):
        return "critical"
    if reference.low is not None and value < reference.low:
        return "low"
    if reference.high is not None and value > reference.high:
        return "high"
    if reference.low is None and reference.high is None:
        return None  # nothing to judge it by
    return "normal"


def _checked(value: object, what: str) -> Decimal:
    """A finite, non-negative, plausible number, in plain notation (1E+2 → 100)."""
    number = Decimal("NaN")
    if isinstance(value, (Decimal, int, float, str)) and not isinstance(value, bool):
        with suppress(InvalidOperation):
            number = Decimal(str(value))  # via str: a float keeps the digits it shows
    if not number.is_finite() or not 0 <= number <= MAX_LAB_VALUE:
        raise InvalidValue("lab.invalid_value", f"{what} must be a number from 0 to 1000000.")
    return Decimal(format((number + 0).normalize(), "f"))  # + 0: no "-0"
