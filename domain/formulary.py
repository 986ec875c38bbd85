"""The formulary: what Careplan knows about each drug, loaded from data.

Facts live in ``formulary.toml`` (or an organisation's own file named by
``CAREPLAN_FORMULARY``), each with its source, so a clinician can check every
rule against the label or guideline it came from. A file with a missing or
contradictory fact is refused as a whole, with a message naming drug and field:
half a formulary is worse than none.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from domain.drug_vocabulary import AREAS, CLASSES, DRUG_GROUPS, MONITORING, OTHER_GROUPS, SCHEDULES
from domain.errors import InvalidValue

DEFAULT_PATH = Path(__file__).with_name("formulary.toml")


class FormularyError(ValueError):
    """The formulary file cannot be trusted; the message names the drug and field."""


@dataclass(frozen=True)
class SpecialMaximum:
    """The ceiling for a population (age over 60), a context (with an inhibitor), an
    indication or a form. It replaces ``max_daily`` where it applies: lower or higher.
    """

    population: str
    max_daily: Decimal | None = None
    factor: Decimal | None = None


@dataclass(frozen=True)
class Drug:
    name: str
    synonyms: tuple[str, ...]
    rxnorm: str
    drug_class: str
    schedule: str
    forms: tuple[str, ...]
    unit: str
    serotonergic: bool
    qt_prolonging: bool
    strong_cyp2d6_inhibitor: bool
    washout_days_before_maoi: int
    usual_start: Decimal | None
    usual_start_frequency: str
    usual_start_note: str
    usual_step: Decimal | None
    min_days_between_steps: int
    max_daily: Decimal | None
    special_maxima: tuple[SpecialMaximum, ...]
    needs_taper: bool
    taper: str
    monitoring: tuple[str, ...]
    sources: dict[str, str] = field(hash=False, compare=False)
    #: Interaction groups (``OTHER_GROUPS`` names), the three flags above included.
    groups: frozenset[str] = frozenset()
    #: Groups this drug must never be combined with (the label's contraindications).
    contraindicated_with: frozenset[str] = frozenset()
    #: Groups that change this drug's levels enough for the label to adjust the dose.
    caution_with: frozenset[str] = frozenset()
    #: The daily dose from which a stop ends a taper (the lowest step the label uses).
    stop_from_daily: Decimal | None = None
    #: Where the label sets no maximum (dosed by level or weight): the dose above which
    #: the prescriber must say why, and the ceiling no patient reaches (refused).
    practical_max_daily: Decimal | None = None
    ceiling_daily: Decimal | None = None

    @property
    def is_maoi(self) -> bool:
        return self.drug_class == "MAOI"

    @property
    def area(self) -> str:
        """What the drug is used for (antidepressant, antipsychotic, ADHD, …)."""
        return AREAS[self.drug_class]

    @property
    def is_opioid(self) -> bool:
        return "opioid" in self.groups

    @property
    def is_controlled(self) -> bool:
        return self.schedule != "none"

    def source(self, fact: str) -> str:
        return self.sources.get(fact) or self.sources.get("dosing", "")


FLAG_GROUPS = ("serotonergic", "qt_prolonging", "strong_cyp2d6_inhibitor")


@dataclass(frozen=True)
class OtherDrug:
    """A non-psychiatric drug the interaction rules must recognise (NSAIDs, opioids …)."""

    name: str
    synonyms: tuple[str, ...]
    rxnorm: str
    groups: frozenset[str]
    source: str


class Formulary:
    """Drugs by name, brand and synonym; prescribable ones and the others."""

    def __init__(self, drugs: dict[str, Drug], others: dict[str, OtherDrug], origin: str) -> None:
        self.drugs = drugs
        self.others = others
        self.origin = origin
        self._index = {
            _key(alias): entry.name
            for entry in [*drugs.values(), *others.values()]
            for alias in (entry.name, *entry.synonyms)
        }

    def drug(self, name: str) -> Drug:
        """The prescribable drug called ``name`` (generic, brand or synonym)."""
        canonical = self._index.get(_key(name))
        if canonical in self.drugs:
            return self.drugs[canonical]
        suggestions = difflib.get_close_matches(_key(name), list(self._index), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        raise InvalidValue(
            "drug.unknown", f"{name!r} is not in the formulary ({self.origin}).{hint}"
        )

    def recognise(self, free_text: str) -> Drug | OtherDrug | None:
        """Find a known drug in free text such as 'Ibuprofen 400 mg as needed'."""
        words = _key(free_text).split()
        for length in (3, 2, 1):
            for start in range(len(words) - length + 1):
                canonical = self._index.get(" ".join(words[start : start + length]))
                if canonical:
                    return self.drugs.get(canonical) or self.others[canonical]
        return None


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w'/-]+", " ", text.lower()).split())


@cache
def default_formulary() -> Formulary:
    """The bundled formulary, loaded once: what a rule judges by when none is given."""
    return load_formulary()


def load_formulary(path: Path | str | None = None) -> Formulary:
    """Load and validate a formulary file (the bundled one when ``path`` is None)."""
    source = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise FormularyError(f"{source}: cannot be read: {error}") from None
    if data.get("schema_version") != 1:
        raise FormularyError(f"{source}: schema_version must be 1")
    drugs = [_drug(source, raw) for raw in data.get("drug", [])]
    others = [_other(source, raw) for raw in data.get("other_drug", [])]
    if not drugs:
        raise FormularyError(f"{source}: no [[drug]] entries")
    _refuse_duplicate_names(source, [*drugs, *others])
    return Formulary({d.name: d for d in drugs}, {o.name: o for o in others}, source.name)


def _refuse_duplicate_names(source: Path, entries: list[Drug | OtherDrug]) -> None:
    owner: dict[str, str] = {}
    for entry in entries:
        for alias in (entry.name, *entry.synonyms):
            key = _key(alias)
            if key in owner and owner[key] != entry.name:
                raise FormularyError(
                    f"{source}: {alias!r} names both {owner[key]!r} and {entry.name!r}"
                )
            owner[key] = entry.name


class _Fields:
    """Typed access to one TOML table, with errors that name the drug and field."""

    def __init__(self, source: Path, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.where = f"{source}: drug {raw.get('name', '?')!r}"

    def fail(self, name: str, problem: str) -> FormularyError:
        return FormularyError(f"{self.where}: field {name!r} {problem}")

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.raw:
            if default is ...:
                raise self.fail(name, "is missing")
            return default
        value = self.raw[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise self.fail(name, f"must be {getattr(kind, '__name__', kind)}")
        return value

    def text(self, name: str, default: Any = ...) -> str:
        return str(self.get(name, str, default)).strip()

    def choice(self, name: str, allowed: frozenset[str]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise self.fail(name, f"is {value!r}, not one of {sorted(allowed)}")
        return value

    def texts(self, name: str, allowed: frozenset[str] | None = None) -> tuple[str, ...]:
        values = self.get(name, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.fail(name, "must be a list of strings")
        unknown = sorted(set(values) - allowed) if allowed is not None else []
        if unknown:
            raise self.fail(name, f"has unknown values {unknown}")
        return tuple(v.strip() for v in values)

    def amount(self, name: str, value: Any = ...) -> Decimal | None:
        raw = self.get(name, (str, int, float), None) if value is ... else value
        if raw in (None, ""):
            return None
        try:
            amount = Decimal(str(raw))
        except InvalidOperation:
            raise self.fail(name, f"is {raw!r}, not a number") from None
        if not amount.is_finite() or amount <= 0:
            raise self.fail(name, "must be a positive number")
        return amount


def _drug(source: Path, raw: dict[str, Any]) -> Drug:
    f = _Fields(source, raw)
    start = f.get("usual_start", dict, {})
    sources = f.get("sources", dict)
    drug = Drug(
        name=_key(f.text("name")),
        synonyms=f.texts("synonyms"),
        rxnorm=f.text("rxnorm"),
        drug_class=f.choice("class", CLASSES),
        schedule=f.choice("schedule", SCHEDULES),
        forms=f.texts("forms"),
        unit=f.text("unit"),
        serotonergic=f.get("serotonergic", bool),
        qt_prolonging=f.get("qt_prolonging", bool),
        strong_cyp2d6_inhibitor=f.get("strong_cyp2d6_inhibitor", bool),
        washout_days_before_maoi=f.get("washout_days_before_maoi", int),
        usual_start=f.amount("usual_start.amount", start.get("amount")),
        usual_start_frequency=str(start.get("frequency", "daily")).replace(" ", "_"),
        usual_start_note=str(start.get("note", "")),
        usual_step=f.amount("usual_step"),
        min_days_between_steps=f.get("min_days_between_steps", int, 0),
        max_daily=f.amount("max_daily"),
        special_maxima=tuple(_special(f, s) for s in f.get("special_maxima", list, [])),
        needs_taper=f.get("needs_taper", bool),
        taper=f.text("taper", ""),
        monitoring=f.texts("monitoring", MONITORING),
        sources={str(k): str(v).strip() for k, v in sources.items()},
        contraindicated_with=frozenset(f.texts("contraindicated_with", DRUG_GROUPS)),
        caution_with=frozenset(f.texts("caution_with", DRUG_GROUPS)),
        stop_from_daily=f.amount("stop_from_daily"),
        practical_max_daily=f.amount("practical_max_daily"),
        ceiling_daily=f.amount("ceiling_daily"),
    )
    flags = {name for name in FLAG_GROUPS if raw.get(name) is True}
    flags |= {"maoi"} if drug.is_maoi else set()
    drug = replace(drug, groups=frozenset(f.texts("groups", DRUG_GROUPS)) | flags)
    _check_consistency(f, drug)
    return drug


def _special(f: _Fields, raw: Any) -> SpecialMaximum:
    if not isinstance(raw, dict) or not raw.get("population"):
        raise f.fail("special_maxima", "entries need a population")
    special = SpecialMaximum(
        population=str(raw["population"]),
        max_daily=f.amount("special_maxima.max_daily", raw.get("max_daily")),
        factor=f.amount("special_maxima.factor", raw.get("factor")),
    )
    if (special.max_daily is None) == (special.factor is None):
        raise f.fail("special_maxima", f"{special.population}: give max_daily or factor")
    return special


def _check_consistency(f: _Fields, drug: Drug) -> None:
    """Refuse facts that contradict each other or lack the source that backs them."""
    if drug.usual_start and drug.max_daily and drug.usual_start > drug.max_daily:
        raise f.fail("usual_start", f"{drug.usual_start} exceeds max_daily {drug.max_daily}")
    if drug.needs_taper and not drug.taper:
        raise f.fail("taper", "is empty although needs_taper is true")
    if drug.needs_taper and drug.stop_from_daily is None:
        raise f.fail("stop_from_daily", "is missing although needs_taper is true")
    if drug.max_daily is None and (drug.practical_max_daily is None or drug.ceiling_daily is None):
        raise f.fail(
            "max_daily",
            "is empty: give practical_max_daily and ceiling_daily (every drug has a ceiling)",
        )
    if (
        drug.practical_max_daily
        and drug.ceiling_daily
        and (drug.ceiling_daily < drug.practical_max_daily)
    ):
        raise f.fail("ceiling_daily", "is below practical_max_daily")
    if drug.washout_days_before_maoi < 0:
        raise f.fail("washout_days_before_maoi", "must not be negative")
    required = {"rxnorm", "class", "dosing", "interactions"}
    required |= {"taper"} if drug.needs_taper else set()
    required |= {"monitoring"} if drug.monitoring else set()
    required |= {"schedule"} if drug.is_controlled else set()
    required |= {"ceiling"} if drug.ceiling_daily else set()
    missing = sorted(k for k in required if not drug.sources.get(k))
    if missing:
        raise f.fail("sources", f"lacks a source for {', '.join(missing)}")


def _other(source: Path, raw: dict[str, Any]) -> OtherDrug:
    f = _Fields(source, raw)
    other = OtherDrug(
        name=_key(f.text("name")),
        synonyms=f.texts("synonyms"),
        rxnorm=f.text("rxnorm", ""),
        groups=frozenset(f.texts("groups", OTHER_GROUPS)),
        source=f.text("source"),
    )
    if not other.groups:
        raise f.fail("groups", "is empty: an other_drug is listed for its interactions")
    if not other.source:
        raise f.fail("source", "is empty")
    return other
