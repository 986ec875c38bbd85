"""Drug-drug interaction rules (CLINICAL.md, "Interactions that block or warn").

Pure functions over the drug being started, the plan's active drugs, drugs
stopped recently (for washout clocks) and the non-psychiatric drugs recognised
in the latest evaluation. Contraindicated pairs block; major ones warn and must
be acknowledged with a justification.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.formulary import Drug, OtherDrug
from domain.safety import Finding

# Classes that must never meet an MAOI (serotonin syndrome, hypertensive crisis).
MAOI_CONTRAINDICATED_CLASSES = frozenset({"SSRI", "SNRI", "NDRI", "stimulant", "MAOI"})
LITHIUM_LEVEL_RAISERS = frozenset({"nsaid", "ace_inhibitor", "arb", "thiazide"})
CYP2D6_SENSITIVE = frozenset({"aripiprazole", "atomoxetine"})


def conflicts_with_maoi(drug: Drug | OtherDrug) -> bool:
    if isinstance(drug, OtherDrug):
        return bool(drug.groups & {"serotonergic", "linezolid"})
    return drug.serotonergic or drug.drug_class in MAOI_CONTRAINDICATED_CLASSES


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
            f"{new.name} must not be combined with {', '.join(sorted(clashing))} "
            "(serotonin syndrome or hypertensive crisis).",
            new.source("interactions"),
        )
    ]


def maoi_washout(
    new: Drug, stopped: Sequence[tuple[Drug, datetime]], at: datetime
) -> list[Finding]:
    """The washout clock: 5 weeks after fluoxetine, 14 days after others, before an MAOI;
    14 days after an MAOI before a serotonergic drug. Counted from recorded stops.
    """
    findings = []
    for drug, ended_at in stopped:
        before_maoi = new.is_maoi and drug.washout_days_before_maoi > 0
        after_maoi = drug.is_maoi and conflicts_with_maoi(new)
        if drug == new or not (before_maoi or after_maoi):
            continue
        days = drug.washout_days_before_maoi
        clear_on = ended_at + timedelta(days=days)
        if at < clear_on:
            findings.append(
                Finding(
                    "interaction.washout_required",
                    "block",
                    f"{drug.name} was stopped on {ended_at.date()}; {new.name} may start "
                    f"from {clear_on.date()} ({days}-day washout).",
                    drug.source("interactions"),
                )
            )
    return findings


SEROTONIN_REUPTAKE_CLASSES = frozenset({"SSRI", "SNRI"})


def major_interactions(
    new: Drug, active: Sequence[Drug], others: Sequence[OtherDrug]
) -> list[Finding]:
    """Combinations that are allowed with care: each one warns with what to do."""
    names = {d.name for d in active}
    groups = set().union(*(o.groups for o in others)) if others else set()
    findings = []

    def warn(code: str, message: str) -> None:
        findings.append(Finding(code, "warn", message, new.source("interactions")))

    if new.name == "lithium" and groups & LITHIUM_LEVEL_RAISERS:
        raisers = sorted(o.name for o in others if o.groups & LITHIUM_LEVEL_RAISERS)
        warn(
            "interaction.lithium_level",
            f"lithium with {', '.join(raisers)} raises lithium levels: check a level.",
        )
    pair = {new.name} | names
    if {"lamotrigine", "divalproex"} <= pair and new.name in ("lamotrigine", "divalproex"):
        warn(
            "interaction.valproate_lamotrigine",
            "valproate doubles lamotrigine levels: halve the lamotrigine dose and titrate "
            "more slowly (rash risk).",
        )
    cyp1a2 = "fluvoxamine" in pair or "fluoroquinolone_cyp1a2" in groups
    if cyp1a2 and "clozapine" in pair and new.name in ("clozapine", "fluvoxamine"):
        warn(
            "interaction.clozapine_cyp1a2",
            "fluvoxamine or ciprofloxacin raises clozapine levels: use one third of the dose.",
        )
    qt = sorted({d.name for d in [*active, new] if d.qt_prolonging})
    qt += sorted(o.name for o in others if "qt_prolonging" in o.groups)
    if new.qt_prolonging and len(qt) >= 2:
        warn(
            "interaction.qt_prolongation",
            f"{', '.join(qt)} all prolong the QT interval: get an ECG.",
        )
    if new.drug_class == "benzodiazepine" and "opioid" in groups:
        opioids = sorted(o.name for o in others if "opioid" in o.groups)
        warn(
            "interaction.benzodiazepine_opioid",
            f"{new.name} with {', '.join(opioids)}: profound sedation and respiratory "
            "depression (FDA boxed warning).",
        )
    serotonergic_others = sorted(o.name for o in others if "serotonergic" in o.groups)
    if new.drug_class in SEROTONIN_REUPTAKE_CLASSES and serotonergic_others:
        # With an MAOI this is contraindicated (maoi_contraindications). The SSRI and
        # SNRI labels (section 5) name tramadol, triptans, fentanyl, St John's wort…
        # as serotonin syndrome risks to watch for; other classes are left alone so
        # that lithium with ondansetron, say, does not cry wolf.
        warn(
            "interaction.serotonin_syndrome",
            f"{new.name} with {', '.join(serotonergic_others)}: risk of serotonin syndrome "
            "(agitation, tremor, hyperthermia, clonus); tell the patient what to look for.",
        )
    inhibitors = [d.name for d in [*active, new] if d.strong_cyp2d6_inhibitor]
    inhibitors += [o.name for o in others if "strong_cyp2d6_inhibitor" in o.groups]
    sensitive = CYP2D6_SENSITIVE & pair
    if inhibitors and sensitive and (new.name in sensitive or new.strong_cyp2d6_inhibitor):
        warn(
            "interaction.cyp2d6_inhibitor",
            f"{', '.join(sorted(inhibitors))} inhibits CYP2D6: lower the dose of "
            f"{', '.join(sorted(sensitive))}.",
        )
    return findings


def duplicate_therapy(new: Drug, active: Sequence[Drug]) -> list[Finding]:
    """Two drugs of one class at once is usually an oversight; if not, say why."""
    same = sorted(d.name for d in active if d.drug_class == new.drug_class and d != new)
    if not same:
        return []
    return [
        Finding(
            "therapy.duplicate_class",
            "warn",
            f"{new.name} is a {new.drug_class}, like {', '.join(same)}.",
            "CLINICAL.md: two drugs of the same class (duplicate therapy)",
        )
    ]
