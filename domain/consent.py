"""Options explained and agreed: what a prescription must record of the discussion.

Informed consent is the prescriber's duty before any treatment: the options, the
expected benefit, the side effects and a realistic timeline, and the patient's
decision. Some drugs ask for more: clozapine's blood monitoring (a condition of
treatment, so without it the prescription is refused), a boxed warning (young
people on antidepressants, people with dementia on antipsychotics) and a
controlled-substance agreement for stimulants and benzodiazepines (both warn).
"""

from __future__ import annotations

from domain.formulary import Drug
from domain.safety import Finding
from domain.values import Discussion

AMA_CONSENT = "AMA Code of Medical Ethics, Opinion 2.1.1 (Informed Consent)"
MINOR_CONSENT = (
    "State minor-consent laws (most require a parent or guardian to consent to a minor's "
    "medication; some let older minors consent to mental health treatment)"
)
CLOZAPINE_MONITORING = (
    "Clozapine US prescribing information, sections 2.1 and 5.1 (baseline ANC before "
    "starting, then regular ANC monitoring throughout treatment)"
)
ANTIDEPRESSANT_BOXED = (
    "Antidepressant US prescribing information, boxed warning (suicidality in patients "
    "under 25) and Medication Guide (21 CFR 208): counsel patients and families"
)
DEMENTIA_BOXED = (
    "Antipsychotic US prescribing information, boxed warning (increased mortality in "
    "elderly patients with dementia-related psychosis)"
)
CONTROLLED_AGREEMENT = (
    "FDA Drug Safety Communications: stimulants, boxed warning update 2023 (abuse, misuse, "
    "addiction); benzodiazepines, boxed warning 2020 (abuse, dependence, withdrawal): "
    "assess the risk and agree on safe use"
)
ADULT_AGE = 18
YOUNG_ADULT_AGE = 25
CONTROLLED_AGREEMENT_CLASSES = frozenset({"stimulant", "benzodiazepine"})


def consent_findings(
    drug: Drug, discussion: Discussion | None, age: int | None, conditions: frozenset[str]
) -> list[Finding]:
    """What the discussion recorded with a prescription lacks, or refuses."""
    if discussion is None:
        return [
            Finding(
                "consent.not_recorded",
                "warn",
                f"Record what was discussed before starting {drug.name}: the options, the "
                "expected benefit, the side effects, a realistic timeline and the patient's "
                "decision.",
                AMA_CONSENT,
            )
        ]
    return (
        _decision(drug, discussion)
        + _decider(drug, discussion, age)
        + _monitoring(drug, discussion)
        + _boxed_warning(drug, discussion, age, conditions)
        + _controlled(drug, discussion)
    )


def _decision(drug: Drug, discussion: Discussion) -> list[Finding]:
    if discussion.decision == "declines":
        return [
            Finding(
                "consent.declined",
                "block",
                f"The patient declined {drug.name}: it is not prescribed without their "
                "agreement; record the decision instead.",
                AMA_CONSENT,
            )
        ]
    if discussion.decision == "undecided":
        return [
            Finding(
                "consent.undecided",
                "warn",
                f"The patient has not yet decided about {drug.name}: confirm their agreement "
                "before it is dispensed.",
                AMA_CONSENT,
            )
        ]
    return []


def _decider(drug: Drug, discussion: Discussion, age: int | None) -> list[Finding]:
    if age is None or age >= ADULT_AGE or discussion.decided_by != "patient":
        return []
    return [
        Finding(
            "consent.guardian_required",
            "warn",
            f"The patient is {age}: record the parent or guardian who agreed to {drug.name}, "
            "unless the state lets a minor consent to this treatment.",
            MINOR_CONSENT,
        )
    ]


def _monitoring(drug: Drug, discussion: Discussion) -> list[Finding]:
    if drug.name != "clozapine" or discussion.monitoring_agreed:
        return []
    return [
        Finding(
            "consent.monitoring_not_agreed",
            "block",
            "Clozapine is started only once the patient agrees to regular blood counts "
            "(ANC): record that agreement.",
            CLOZAPINE_MONITORING,
        )
    ]


def _boxed_warning(
    drug: Drug, discussion: Discussion, age: int | None, conditions: frozenset[str]
) -> list[Finding]:
    if discussion.boxed_warning_discussed:
        return []
    if drug.area == "antidepressant" and age is not None and age < YOUNG_ADULT_AGE:
        warning, source = "suicidal thoughts in patients under 25", ANTIDEPRESSANT_BOXED
    elif drug.area == "antipsychotic" and "dementia" in conditions:
        warning, source = "higher mortality in older people with dementia", DEMENTIA_BOXED
    else:
        return []
    return [
        Finding(
            "consent.boxed_warning_not_discussed",
            "warn",
            f"Discuss the boxed warning of {drug.name} ({warning}) with the patient and "
            "family, and record that it was discussed.",
            source,
        )
    ]


def _controlled(drug: Drug, discussion: Discussion) -> list[Finding]:
    if drug.drug_class not in CONTROLLED_AGREEMENT_CLASSES:
        return []
    if discussion.controlled_substance_agreement:
        return []
    return [
        Finding(
            "consent.controlled_agreement_missing",
            "warn",
            f"{drug.name[:1].upper() + drug.name[1:]} is a controlled substance: agree with "
            "the patient on safe use (one prescriber, safe storage, no early refills) and "
            "record the agreement.",
            CONTROLLED_AGREEMENT,
        )
    ]
