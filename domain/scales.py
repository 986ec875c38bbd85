"""Rating scales for measurement-based care: valid ranges and severity bands.

Totals outside an instrument's range are refused: a PHQ-9 of 30 is a typing
error, and stored once it would poison every outcome trend built on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidValue
from domain.values import Measurement


@dataclass(frozen=True)
class Scale:
    name: str
    max_total: int
    bands: tuple[tuple[int, str], ...]  # (lowest total of the band, band name)
    source: str

    def band(self, total: int) -> str:
        name = self.bands[0][1]
        for lowest, band_name in self.bands:
            if total >= lowest:
                name = band_name
        return name


SCALES: dict[str, Scale] = {
    "PHQ-9": Scale(
        "PHQ-9",
        27,
        ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
        "Kroenke K, Spitzer RL, Williams JB. J Gen Intern Med 2001;16:606-13",
    ),
    "GAD-7": Scale(
        "GAD-7",
        21,
        ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
        "Spitzer RL et al. Arch Intern Med 2006;166:1092-7",
    ),
}


def canonical_instrument(name: str) -> str:
    """Match 'phq9', 'PHQ 9' and 'PHQ-9' to one stored name."""
    key = name.strip().upper().replace(" ", "-").replace("_", "-")
    for known in SCALES:
        if key in (known, known.replace("-", "")):
            return known
    raise InvalidValue(
        "measurement.unknown_instrument",
        f"Unknown instrument {name!r}; expected one of: {', '.join(SCALES)}.",
    )


def validated_measurement(instrument: str, total: int) -> Measurement:
    """Build a Measurement whose total lies inside the instrument's range."""
    scale = SCALES[canonical_instrument(instrument)]
    if isinstance(total, bool) or not isinstance(total, int):
        raise InvalidValue("measurement.invalid", f"{scale.name} total must be a whole number.")
    if not 0 <= total <= scale.max_total:
        raise InvalidValue(
            "measurement.out_of_range",
            f"{scale.name} total {total} is outside 0-{scale.max_total}.",
        )
    return Measurement(instrument=scale.name, total=total)
