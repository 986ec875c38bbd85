"""Drug-drug interaction rules: what may never be combined, and what needs care.

Pure functions over the drug being started (or raised), the plan's active drugs
and the drugs an evaluation says are taken elsewhere. Every drug carries its
interaction groups (``serotonergic``, ``opioid``, ``strong_cyp3a4_inducer`` …), so
a psychiatric drug prescribed here and an NSAID taken elsewhere are judged alike.
Contraindicated pairs block; major ones warn and must be acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.formulary import Drug, OtherDrug
from domain.safety import Finding, sentence

Entry = Drug | OtherDrug

# Classes that must never meet an MAOI (serotonin syndrome, hypertensive crisis).
MAOI_CONTRAINDICATED_CLASSES = frozenset(
    {"SSRI", "SNRI", "NDRI", "stimulant", "MAOI", "TCA", "serotonin modulator"}
)
LITHIUM_LEVEL_RAISERS = frozenset({"nsaid", "ace_inhibitor", "arb", "thiazide"})
CYP1A2_INHIBITORS = frozenset({"fluoroquinolone_cyp1a2", "strong_cyp1a2_inhibitor"})
SEDATIVES = frozenset({"cns_depressant"})
MAOI_SOURCE_NOTE = "serotonin syndrome or hypertensive crisis"

#: A group that changes the levels of a drug whose label adjusts its dose for it
#: (the drug's ``caution_with``): the code, what the group does, what to do.
CAUTIONS: dict[str, tuple[str, str, str]] = {
    "strong_cyp2d6_inhibitor": ("interaction.cyp2d6_inhibitor", "inhibits CYP2D6", "lower"),
    "strong_cyp3a4_inhibitor": (
        "interaction.cyp3a4_inhibitor",
        "strongly inhibits CYP3A4",
        "lower",
    ),
    "strong_cyp3a4_inducer": ("interaction.cyp3a4_inducer", "strongly induces CYP3A4", "review"),
    "strong_cyp1a2_inhibitor": (
        "interaction.cyp1a2_inhibitor",
        "strongly inhibits CYP1A2",
        "lower",
    ),
    "cyp2c19_inhibitor": ("interaction.cyp2c19_inhibitor", "inhibits CYP2C19", "lower"),
}
GROUP_NAMES = {
    "opioid": "an opioid",
    "strong_cyp3a4_inhibitor": "a strong CYP3A4 inhibitor",
    "strong_cyp3a4_inducer": "a strong CYP3A4 inducer",
    "strong_cyp1a2_inhibitor": "a strong CYP1A2 inhibitor",
    "fluoroquinolone_cyp1a2": "a CYP1A2-inhibiting fluoroquinolone",
    "cyp2c19_inhibitor": "a CYP2C19 inhibitor",
    "strong_cyp2d6_inhibitor": "a strong CYP2D6 inhibitor",
    "opioid_antagonist": "an opioid antagonist",
}


def _names(entries: Sequence[Entry]) -> str:
    return ", ".join(sorted({entry.name for entry in entries}))


def with_group(entries: Sequence[Entry], *groups: str) -> list[Entry]:
    """The entries that belong to any of ``groups``."""
    return [entry for entry in entries if entry.groups & set(groups)]


def conflicts_with_maoi(drug: Entry) -> bool:
    if isinstance(drug, OtherDrug):
        return bool(drug.groups & {"serotonergic", "linezolid"})
    return (
        drug.serotonergic
        or drug.drug_class in MAOI_CONTRAINDICATED_CLASSES
        or "maoi" in drug.contraindicated_with
    )


def maoi_contraindications(
    new: Drug, active: Sequence[Drug], others: Sequence[OtherDrug]
) -> list[Finding]:
    """An MAOI with a serotonergic drug, bupropion or a stimulant: contraindicated."""
    if new.is_maoi:
        clashing = [d.name for d in [*active, *others] if conflicts_with_maoi(d) and d != new]
    elif conflicts_with_maoi(new):
        clashing = [d.name for d in active if d.is_maoi]
        clashing += [o.name for o in others if "linezolid" in o.groups]
    else:
        clashing = []
    if not clashing:
        return []
    return [
        Finding(
            "interaction.contraindicated",
            "block",
            f"{sentence(new.name)} must not be combined with {', '.join(sorted(clashing))} "
            f"({MAOI_SOURCE_NOTE}).",
            new.source("interactions"),
        )
    ]


def label_contraindications(
    new: Drug, active: Sequence[Drug], others: Sequence[OtherDrug]
) -> list[Finding]:
    """A pair the label contraindicates (lurasidone with a strong CYP3A4 inducer,
    naltrexone with an opioid, ramelteon with fluvoxamine), whichever came first."""
    findings = []
    for other in [*active, *others]:
        if other == new or "maoi" in (new.groups | other.groups):
            continue  # MAOIs: maoi_contraindications
        ours = sorted(new.contraindicated_with & other.groups)
        theirs = sorted(other.contraindicated_with & new.groups) if isinstance(other, Drug) else []
        if not ours and not theirs:
            continue
        why = GROUP_NAMES.get((ours or theirs)[0], (ours or theirs)[0].replace("_", " "))
        owner = new if ours else other
        assert isinstance(owner, Drug)
        subject = other.name if ours else new.name
        findings.append(
            Finding(
                "interaction.contraindicated",
                "block",
                f"{sentence(new.name)} must not be combined with {other.name} "
                f"({subject} is {why}; the {owner.name} label contraindicates it).",
                owner.source("interactions"),
            )
        )
    return findings


def maoi_washout(
    new: Drug, stopped: Sequence[tuple[Drug, datetime]], at: datetime
) -> list[Finding]:
    """The washout clock: 5 weeks after fluoxetine, 14 days after others, before an MAOI;
    14 days after an MAOI before a serotonergic drug. Counted from recorded stops.
    """
    findings = []
    for drug, ended_at in stopped:
        clear_on = washout_ends(drug, new, ended_at)
        if clear_on is not None and at < clear_on:
            findings.append(
                Finding(
                    "interaction.washout_required",
                    "block",
                    f"{sentence(drug.name)} was stopped on {ended_at.date()}; {new.name} may "
                    f"start from {clear_on.date()} ({drug.washout_days_before_maoi}-day "
                    "washout).",
                    drug.source("interactions"),
                )
            )
    return findings


def washout_ends(old: Drug, new: Drug, stopped_at: datetime) -> datetime | None:
    """When ``new`` may start after ``old`` stopped at ``stopped_at`` (None: no washout)."""
    before_maoi = new.is_maoi and old.washout_days_before_maoi > 0
    after_maoi = old.is_maoi and conflicts_with_maoi(new)
    if old == new or not (before_maoi or after_maoi):
        return None
    return stopped_at + timedelta(days=old.washout_days_before_maoi)


SEROTONIN_REUPTAKE_CLASSES = frozenset({"SSRI", "SNRI", "serotonin modulator", "TCA"})


def major_interactions(
    new: Drug, active: Sequence[Drug], others: Sequence[OtherDrug]
) -> list[Finding]:
    """Combinations that are allowed with care: each one warns with what to do.

    Judged whenever ``new`` is started or its dose raised: a higher dose makes
    each of them riskier, whatever was acknowledged at a lower one.
    """
    everyone: list[Entry] = [*active, *others]
    findings: list[Finding] = []
    for rule in _RULES:
        findings += rule(new, everyone, others)
    return findings


def _warn(new: Drug, code: str, message: str, source: Drug | None = None) -> Finding:
    return Finding(code, "warn", message, (source or new).source("interactions"))


def _lithium(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    raisers = with_group(everyone, *LITHIUM_LEVEL_RAISERS)
    if new.name != "lithium" or not raisers:
        return []
    return [
        _warn(
            new,
            "interaction.lithium_level",
            f"Lithium with {_names(raisers)} raises lithium levels: check a level within "
            "5-7 days of this change.",
        )
    ]


def _valproate(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    pair = {new.name} | {e.name for e in everyone}
    if not {"lamotrigine", "divalproex"} <= pair or new.name not in ("lamotrigine", "divalproex"):
        return []
    return [
        _warn(
            new,
            "interaction.valproate_lamotrigine",
            "Valproate doubles lamotrigine levels: halve the lamotrigine dose and titrate "
            "more slowly (rash risk).",
        )
    ]


def _clozapine(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    names = {e.name for e in everyone}
    inhibitors = [e for e in [new, *everyone] if e.groups & CYP1A2_INHIBITORS]
    raised = new.name == "clozapine" or (new in inhibitors and "clozapine" in names)
    if not inhibitors or not raised:
        return []
    return [
        _warn(
            new,
            "interaction.clozapine_cyp1a2",
            f"{sentence(_names(inhibitors))} raises clozapine levels: use one third of the "
            "clozapine dose and watch for sedation and seizures.",
        )
    ]


def _qt(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    prolonging = with_group([new, *everyone], "qt_prolonging")
    if not new.qt_prolonging or len({e.name for e in prolonging}) < 2:
        return []
    return [
        _warn(
            new,
            "interaction.qt_prolongation",
            f"{sentence(_names(prolonging))} all prolong the QT interval: get an ECG.",
        )
    ]


def _sedation(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    """A benzodiazepine or another sedative with an opioid, whichever is new."""
    if new.is_opioid:
        partners = [e for e in everyone if e.groups & SEDATIVES and e != new]
    elif new.groups & SEDATIVES:
        partners = with_group(everyone, "opioid")
    else:
        return []
    if not partners:
        return []
    benzodiazepines = [e for e in [new, *partners] if _is_benzodiazepine(e)]
    code = "interaction.benzodiazepine_opioid" if benzodiazepines else "interaction.sedative_opioid"
    return [
        _warn(
            new,
            code,
            f"{sentence(new.name)} with {_names(partners)}: profound sedation and respiratory "
            "depression (FDA boxed warning); use the lowest doses and tell the patient and "
            "carers what to watch for.",
        )
    ]


def _is_benzodiazepine(entry: Entry) -> bool:
    return isinstance(entry, Drug) and entry.drug_class == "benzodiazepine"


def _serotonin(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    # With an MAOI this is contraindicated (maoi_contraindications). The SSRI and
    # SNRI labels (section 5) name tramadol, triptans, fentanyl, St John's wort…
    # as serotonin syndrome risks to watch for; other classes are left alone so
    # that lithium with ondansetron, say, does not cry wolf.
    serotonergic = with_group(list(others), "serotonergic")
    if new.drug_class not in SEROTONIN_REUPTAKE_CLASSES or not serotonergic:
        return []
    return [
        _warn(
            new,
            "interaction.serotonin_syndrome",
            f"{sentence(new.name)} with {_names(serotonergic)}: risk of serotonin syndrome "
            "(agitation, tremor, hyperthermia, clonus); tell the patient what to look for.",
        )
    ]


def _cautions(new: Drug, everyone: list[Entry], others: Sequence[OtherDrug]) -> list[Finding]:
    """A drug whose label adjusts its dose for a co-medication's group, either way round."""
    findings = []
    for group, (code, does, act) in CAUTIONS.items():
        if group in new.caution_with:
            changers, sensitive = with_group(everyone, group), [new]
        elif group in new.groups:
            changers = [new]
            sensitive = [e for e in everyone if isinstance(e, Drug) and group in e.caution_with]
        else:
            continue
        changers = [e for e in changers if e not in sensitive]
        if not changers or not sensitive:
            continue
        owner = sensitive[0]
        assert isinstance(owner, Drug)
        findings.append(
            _warn(
                new,
                code,
                f"{sentence(_names(changers))} {does}: {act} the dose of {_names(sensitive)} "
                "as its label says.",
                owner,
            )
        )
    return findings


_RULES = (_lithium, _valproate, _clozapine, _qt, _sedation, _serotonin, _cautions)

#: Two drugs of one of these kinds at once add risk without proven benefit; the key
#: is what the pair shares, the value names it and the source that warns of it.
DUPLICATE_KINDS: dict[str, tuple[str, str]] = {
    "SSRI": (
        "serotonin reuptake inhibitors (SSRI or SNRI)",
        "SSRI and SNRI US prescribing information, section 5 (serotonin syndrome with other "
        "serotonergic drugs)",
    ),
    "antipsychotic": (
        "antipsychotics",
        "APA Practice Guideline for the Treatment of Patients With Schizophrenia, 3rd ed., "
        "2020 (antipsychotic polypharmacy); American Geriatrics Society Beers Criteria, 2023",
    ),
    "benzodiazepine": (
        "benzodiazepine receptor agonists",
        "FDA Drug Safety Communication, 23 September 2020 (benzodiazepine boxed warning); "
        "American Geriatrics Society Beers Criteria, 2023",
    ),
    "stimulant": (
        "stimulants",
        "Stimulant US prescribing information, boxed warning and section 5 (abuse, misuse, "
        "cardiovascular risk)",
    ),
}
DUPLICATE_KIND_OF = {
    "SSRI": "SSRI",
    "SNRI": "SSRI",
    "antipsychotic": "antipsychotic",
    "benzodiazepine": "benzodiazepine",
    "sedative-hypnotic": "benzodiazepine",
    "stimulant": "stimulant",
}


def duplicate_therapy(new: Drug, active: Sequence[Drug]) -> list[Finding]:
    """Two drugs of a kind where duplication is a risk (two SSRIs/SNRIs, two
    antipsychotics, two benzodiazepine receptor agonists, two stimulants). Mood
    stabilisers and other classes are combined on purpose and are left alone."""
    kind = DUPLICATE_KIND_OF.get(new.drug_class)
    if kind is None:
        return []
    same = sorted(d.name for d in active if DUPLICATE_KIND_OF.get(d.drug_class) == kind)
    same = [name for name in same if name != new.name]
    if not same:
        return []
    what, source = DUPLICATE_KINDS[kind]
    return [
        Finding(
            "therapy.duplicate_class",
            "warn",
            f"{sentence(new.name)} and {', '.join(same)} are both {what}: two at once add "
            "side effects without proven benefit; record why both are needed.",
            source,
        )
    ]
