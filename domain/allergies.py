"""Allergies, coded against the formulary and checked at every prescription.

An evaluation lists allergies as the patient tells them ("Lamictal - rash",
"benzodiazepines"). Each is coded as a drug (``drug:lamotrigine``), a class
(``class:benzodiazepine``) or a non-psychiatric drug (``other:codeine``); one
that cannot be coded is said so, because no prescription can be checked
against it. A drug the patient is allergic to, or one of a class they are
allergic to, is refused; a drug that may cross-react warns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from domain.drug_vocabulary import CLASSES
from domain.formulary import Drug, Formulary, OtherDrug
from domain.safety import Finding, sentence

ALLERGY_SOURCE = (
    "ASHP Guidelines on Preventing Medication Errors in Hospitals, 2018 (screen every "
    "order against the patient's documented allergies)"
)
CROSS_REACTIVITY_SOURCE = (
    "Carbamazepine (Tegretol) and oxcarbazepine (Trileptal) US prescribing information, "
    "section 5 (hypersensitivity: cross-reactivity of 25-30% between them; aromatic "
    "antiepileptics); benzodiazepines and tricyclics are each one chemical family"
)
#: Drugs that share a structure, so an allergy to one may extend to the others:
#: aromatic antiepileptics (DRESS, SJS/TEN), amphetamines, methylphenidates.
#: Classes named for a use (mood stabiliser, antipsychotic, SSRI) are not structures.
CROSS_REACTIVE_GROUPS = (
    frozenset({"carbamazepine", "oxcarbazepine", "lamotrigine"}),
    frozenset({"amphetamine mixed salts", "dextroamphetamine", "lisdexamfetamine"}),
    frozenset({"methylphenidate", "dexmethylphenidate"}),
)
#: Classes that are one chemical family.
STRUCTURAL_CLASSES = frozenset({"benzodiazepine", "TCA"})
# What people call a class: "SSRIs", "tricyclics", "benzos".
_CLASS_ALIASES = {
    "tricyclic": "TCA",
    "tricyclics": "TCA",
    "tricyclic antidepressants": "TCA",
    "benzos": "benzodiazepine",
    "maois": "MAOI",
    "z-drugs": "sedative-hypnotic",
    "stimulants": "stimulant",
    "antipsychotics": "antipsychotic",
    "neuroleptics": "antipsychotic",
}


#: What clinicians write for "no allergies": recorded as said, coded as nothing.
NO_KNOWN_ALLERGIES = frozenset(
    {"nkda", "nka", "none", "no known allergies", "no known drug allergies"}
)


def code_allergies(texts: Iterable[str], formulary: Formulary) -> tuple[list[str], list[str]]:
    """The codes of the allergies that could be coded, and the texts that could not."""
    codes, uncoded = [], []
    for text in texts:
        if " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split()) in NO_KNOWN_ALLERGIES:
            continue
        code = _code(text, formulary)
        if code is None:
            uncoded.append(text)
        elif code not in codes:
            codes.append(code)
    return codes, uncoded


def _code(text: str, formulary: Formulary) -> str | None:
    found = formulary.recognise(text)
    if isinstance(found, Drug):
        return f"drug:{found.name}"
    if isinstance(found, OtherDrug):
        return f"other:{found.name}"
    words = " ".join(re.sub(r"[^\w\s-]", " ", text.lower()).split())
    for name in sorted(CLASSES, key=len, reverse=True):
        if re.search(rf"\b{re.escape(name.lower())}s?\b", words):
            return f"class:{name}"
    for alias, name in _CLASS_ALIASES.items():
        if re.search(rf"\b{re.escape(alias)}\b", words):
            return f"class:{name}"
    return None


def uncoded_findings(uncoded: Iterable[str]) -> list[Finding]:
    """An allergy nobody can check a prescription against is said so, never dropped."""
    return [
        Finding(
            "allergy.not_coded",
            "warn",
            f"The allergy {text!r} matches no drug or class in the formulary, so "
            "prescriptions are not checked against it; record it by a drug or class name.",
            ALLERGY_SOURCE,
        )
        for text in uncoded
    ]


def allergy_findings(drug: Drug, allergies: Iterable[str], formulary: Formulary) -> list[Finding]:
    """The drug itself or its class: refused. Another drug of its class, or one that
    cross-reacts with it: a warning."""
    allergies = set(allergies)
    if f"drug:{drug.name}" in allergies or f"class:{drug.drug_class}" in allergies:
        what = drug.name if f"drug:{drug.name}" in allergies else f"{drug.drug_class} drugs"
        return [
            Finding(
                "allergy.documented",
                "block",
                f"The patient is allergic to {what}: {drug.name} must not be prescribed.",
                ALLERGY_SOURCE,
            )
        ]
    named = [code.removeprefix("drug:") for code in sorted(allergies) if code.startswith("drug:")]
    allergic = [formulary.drugs[name] for name in named if name in formulary.drugs]
    related = [
        other.name
        for other in allergic
        if (other.drug_class == drug.drug_class and drug.drug_class in STRUCTURAL_CLASSES)
        or any({other.name, drug.name} <= group for group in CROSS_REACTIVE_GROUPS)
    ]
    if not related:
        return []
    return [
        Finding(
            "allergy.cross_reactive",
            "warn",
            f"{sentence(drug.name)} may cross-react with {', '.join(related)}, to which the "
            "patient is allergic: ask what the reaction was before prescribing.",
            CROSS_REACTIVITY_SOURCE,
        )
    ]
