"""Rating scales for measurement-based care: valid ranges, items and severity bands.

Totals outside an instrument's range are refused: a PHQ-9 of 30 is a typing
error, and stored once it would poison every outcome trend built on it. Item
scores are kept when the instrument's licence allows it (PHQ-9, GAD-7, PCL-5,
AIMS); copyrighted ones (C-SSRS, ASRS, MDQ) are stored as totals only
(each scale's licence terms). Response and remission are computed, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import InvalidValue
from domain.safety import Finding
from domain.values import Measurement

KROENKE_2001 = "Kroenke K, Spitzer RL, Williams JB. J Gen Intern Med 2001;16:606-13"
PHQ9_INSTRUCTIONS = "PHQ-9 instructions (Pfizer): a positive item 9 needs a suicide risk assessment"


@dataclass(frozen=True)
class Scale:
    name: str
    max_total: int
    bands: tuple[tuple[int, str], ...]  # (lowest total of the band, band name); may be empty
    source: str
    #: How many items and the top score of each; 0 items: totals only (licence).
    items: int = 0
    item_max: int = 0
    #: 1-based item whose positive answer means thoughts of self-harm (PHQ-9 item 9).
    self_harm_item: int | None = None
    #: A total below this is remission (PHQ-9 < 5); None: no agreed definition.
    remission_below: int | None = None

    def band(self, total: int) -> str | None:
        name = self.bands[0][1] if self.bands else None
        for lowest, band_name in self.bands:
            if total >= lowest:
                name = band_name
        return name

    @property
    def items_licensed(self) -> bool:
        return self.items > 0


SCALES: dict[str, Scale] = {
    "PHQ-9": Scale(
        "PHQ-9",
        27,
        ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "moderately severe"), (20, "severe")),
        KROENKE_2001,
        items=9,
        item_max=3,
        self_harm_item=9,
        remission_below=5,
    ),
    "GAD-7": Scale(
        "GAD-7",
        21,
        ((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
        "Spitzer RL et al. Arch Intern Med 2006;166:1092-7",
        items=7,
        item_max=3,
    ),
    "PCL-5": Scale(
        "PCL-5",
        80,
        ((0, "below threshold"), (33, "probable PTSD")),
        "National Center for PTSD, PCL-5 (Weathers et al. 2013): probable PTSD at 31-33",
        items=20,
        item_max=4,
    ),
    "AIMS": Scale(
        "AIMS",
        28,
        (),
        "NIMH Abnormal Involuntary Movement Scale form (Guy 1976): items 1-7 scored 0-4",
        items=7,
        item_max=4,
    ),
    # Functioning, not symptoms: the measure of success is daily life (WHO, free to use).
    "WHODAS-12": Scale(
        "WHODAS-12",
        48,
        (),
        "Üstün TB et al. (eds). Measuring Health and Disability: Manual for WHO Disability "
        "Assessment Schedule (WHODAS 2.0), WHO 2010: 12-item version, items 0-4, total 0-48",
        items=12,
        item_max=4,
    ),
    # Copyrighted or licensed: totals only.
    "C-SSRS": Scale(
        "C-SSRS",
        5,
        (),
        "Posner K et al. Am J Psychiatry 2011;168:1266-77 (ideation severity 0-5)",
    ),
    "ASRS": Scale("ASRS", 72, (), "Kessler RC et al. Psychol Med 2005;35:245-56 (v1.1, 18 items)"),
    "MDQ": Scale("MDQ", 13, (), "Hirschfeld RM et al. Am J Psychiatry 2000;157:1873-5 (part 1)"),
}


@dataclass(frozen=True)
class ScoredMeasurement:
    """A measurement checked against its instrument: what MeasurementRecorded stores."""

    instrument: str
    total: int
    items: tuple[int, ...]
    band: str | None
    urgent: tuple[Finding, ...]
    #: What could not be judged (PHQ-9 given as a total: item 9 unknown).
    warnings: tuple[Finding, ...] = ()

    @property
    def findings(self) -> list[Finding]:
        return [*self.urgent, *self.warnings]


#: Other names clinicians use for an instrument.
ALIASES = {"WHODAS": "WHODAS-12", "WHODAS-2.0": "WHODAS-12", "WHODAS-2.0-12": "WHODAS-12"}


def canonical_instrument(name: str) -> str:
    """Match 'phq9', 'PHQ 9' and 'PHQ-9' to one stored name."""
    key = name.strip().upper().replace(" ", "-").replace("_", "-")
    key = ALIASES.get(key, key)
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
    return Measurement(instrument=scale.name, total=_checked_total(scale, total))


def scored_measurement(
    instrument: str, total: int | None = None, items: Sequence[int] = ()
) -> ScoredMeasurement:
    """Check a measurement given as item scores, as a total, or both (they must agree),
    and say what needs attention today (PHQ-9 item 9 above 0).
    """
    scale = SCALES[canonical_instrument(instrument)]
    scores = _checked_items(scale, items)
    if scores and total is not None and total != sum(scores):
        raise InvalidValue(
            "measurement.items_mismatch",
            f"{scale.name} items add up to {sum(scores)}, not the total given ({total}).",
        )
    if not scores and total is None:
        raise InvalidValue(
            "measurement.total_required", f"Give the {scale.name} total or its item scores."
        )
    checked = _checked_total(scale, sum(scores) if scores else total)
    urgent = _self_harm(scale, scores) + _suicidal_ideation(scale, checked)
    unknown = _self_harm_unknown(scale, scores, checked)
    return ScoredMeasurement(
        scale.name, checked, scores, scale.band(checked), tuple(urgent), tuple(unknown)
    )


@dataclass(frozen=True)
class MeasurementGiven:
    """A rating scale as a clinic app sends it: a total, item scores, or both."""

    instrument: str
    total: int | None = None
    items: tuple[int, ...] = ()

    def scored(self) -> ScoredMeasurement:
        return scored_measurement(self.instrument, self.total, self.items)

    def stored(self) -> Measurement:
        """What the visit keeps: the checked total and the items (never a bad value)."""
        scored = self.scored()
        return Measurement(scored.instrument, scored.total, scored.items)


def response(baseline_total: int, latest_total: int) -> bool:
    """Response to treatment: the total dropped by 50% or more from baseline."""
    for total in (baseline_total, latest_total):
        _require_whole(total, "Total")
    return baseline_total > 0 and 2 * latest_total <= baseline_total


def remission(instrument: str, latest_total: int) -> bool:
    """Remission: below the instrument's threshold (PHQ-9 below 5)."""
    scale = SCALES[canonical_instrument(instrument)]
    if scale.remission_below is None:
        raise InvalidValue(
            "measurement.no_remission_threshold", f"{scale.name} has no remission threshold here."
        )
    return _checked_total(scale, latest_total) < scale.remission_below


def _checked_total(scale: Scale, total: object) -> int:
    _require_whole(total, f"{scale.name} total")
    assert isinstance(total, int)
    if not 0 <= total <= scale.max_total:
        raise InvalidValue(
            "measurement.out_of_range",
            f"{scale.name} total {total} is outside 0-{scale.max_total}.",
        )
    return total


def _checked_items(scale: Scale, items: Sequence[int]) -> tuple[int, ...]:
    if not items:
        return ()
    if not scale.items_licensed:
        raise InvalidValue(
            "measurement.items_not_licensed",
            f"{scale.name} is licensed: record its total only, not item scores.",
        )
    if len(items) != scale.items:
        raise InvalidValue(
            "measurement.item_count",
            f"{scale.name} has {scale.items} items; {len(items)} were given.",
        )
    for number, score in enumerate(items, start=1):
        _require_whole(score, f"{scale.name} item {number}")
        if not 0 <= score <= scale.item_max:
            raise InvalidValue(
                "measurement.item_out_of_range",
                f"{scale.name} item {number} scored {score}; items are scored 0-{scale.item_max}.",
            )
    return tuple(items)


def _self_harm(scale: Scale, scores: tuple[int, ...]) -> list[Finding]:
    if scale.self_harm_item is None or not scores or scores[scale.self_harm_item - 1] == 0:
        return []
    return [
        Finding(
            "measurement.self_harm_risk",
            "urgent",
            f"{scale.name} item {scale.self_harm_item} scored {scores[scale.self_harm_item - 1]} "
            "(thoughts of being better off dead or of self-harm): "
            "assess suicide risk the same day.",
            f"{scale.source}; {PHQ9_INSTRUCTIONS}",
        )
    ]


def _self_harm_unknown(scale: Scale, scores: tuple[int, ...], total: int) -> list[Finding]:
    """A total above 0 without item scores hides whether the self-harm item was positive."""
    if scale.self_harm_item is None or scores or total == 0:
        return []
    return [
        Finding(
            "measurement.self_harm_item_unknown",
            "warn",
            f"{scale.name} was recorded as a total only, so item {scale.self_harm_item} "
            "(thoughts of being better off dead or of self-harm) is unknown: ask it today "
            "and record the item scores.",
            f"{scale.source}; {PHQ9_INSTRUCTIONS}",
        )
    ]


#: C-SSRS ideation severity: 4 is active ideation with some intent to act, 5 adds a
#: specific plan. The scale's own triage sends both to an immediate evaluation.
CSSRS_IMMEDIATE_FROM = 4
CSSRS_TRIAGE = (
    "Columbia Lighthouse Project, C-SSRS screen version triage (ideation with intent "
    "or with plan and intent: immediate evaluation and safety measures)"
)


def _suicidal_ideation(scale: Scale, total: int) -> list[Finding]:
    """Only the total of the C-SSRS is stored (it is licensed): its ideation severity."""
    if scale.name != "C-SSRS" or total < CSSRS_IMMEDIATE_FROM:
        return []
    return [
        Finding(
            "measurement.suicidal_ideation_with_intent",
            "urgent",
            f"C-SSRS ideation severity {total} (active ideation with intent"
            f"{' and a plan' if total == 5 else ''}): evaluate suicide risk now and keep "
            "the patient safe until then.",
            f"{scale.source}; {CSSRS_TRIAGE}",
        )
    ]


def _require_whole(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue("measurement.invalid", f"{what} must be a whole number.")
    if value < 0:
        raise InvalidValue("measurement.out_of_range", f"{what} cannot be negative.")
