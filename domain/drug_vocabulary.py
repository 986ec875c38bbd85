"""The formulary's vocabularies: drug classes and what each is used for, DEA schedules,
the monitoring a drug can require, and the interaction groups rules reason about.

An organisation's own formulary file must use these names; the loader refuses any other.
"""

from __future__ import annotations

CLASSES = frozenset(
    {
        "SSRI",
        "SNRI",
        "NDRI",
        "NaSSA",
        "SARI",
        "MAOI",
        "mood stabiliser",
        "antipsychotic",
        "stimulant",
        "NRI",
        "anxiolytic",
        "antihistamine",
        "benzodiazepine",
        "alpha-blocker",
        "TCA",
        "serotonin modulator",
        "sedative-hypnotic",
        "melatonin agonist",
        "orexin antagonist",
        "alpha-2 agonist",
        "anticonvulsant",
        "gabapentinoid",
        "opioid antagonist",
        "opioid partial agonist",
        "alcohol use disorder agent",
        "beta-blocker",
        "anticholinergic",
    }
)
#: What each class is used for: the under-25 antidepressant boxed warning, a stop
#: that says "switched" (another drug for the same use), duplicate therapy.
AREAS: dict[str, str] = {
    **dict.fromkeys(
        ("SSRI", "SNRI", "NDRI", "NaSSA", "SARI", "MAOI", "TCA", "serotonin modulator"),
        "antidepressant",
    ),
    "mood stabiliser": "mood stabiliser",
    "anticonvulsant": "mood stabiliser",
    "antipsychotic": "antipsychotic",
    **dict.fromkeys(("stimulant", "NRI", "alpha-2 agonist"), "ADHD"),
    **dict.fromkeys(
        (
            "anxiolytic",
            "antihistamine",
            "benzodiazepine",
            "sedative-hypnotic",
            "melatonin agonist",
            "orexin antagonist",
            "gabapentinoid",
        ),
        "anxiety and sleep",
    ),
    **dict.fromkeys(
        ("opioid antagonist", "opioid partial agonist", "alcohol use disorder agent"),
        "substance use",
    ),
    **dict.fromkeys(("alpha-blocker", "beta-blocker", "anticholinergic"), "other"),
}
SCHEDULES = frozenset({"none", "II", "III", "IV", "V"})
MONITORING = frozenset(
    {
        "lithium_level",
        "renal_function",
        "thyroid_function",
        "calcium",
        "liver_function",
        "cbc_platelets",
        "valproate_level",
        "pregnancy_status",
        "anc",
        "weight",
        "glucose_a1c",
        "blood_pressure",
        "lipids",
        "aims",
        "rash_check",
        "ecg",
        "sodium",
    }
)
OTHER_GROUPS = frozenset(
    {
        "nsaid",
        "ace_inhibitor",
        "arb",
        "thiazide",
        "opioid",
        "macrolide",
        "fluoroquinolone_cyp1a2",
        "linezolid",
        "qt_prolonging",
        "serotonergic",
        "strong_cyp2d6_inhibitor",
        "strong_cyp3a4_inhibitor",
        "strong_cyp3a4_inducer",
        "strong_cyp1a2_inhibitor",
        "cyp2c19_inhibitor",
        "cns_depressant",
        "anticholinergic",
    }
)
#: Groups a prescribable drug may belong to, besides the three flags it always has.
DRUG_GROUPS = OTHER_GROUPS | {"opioid_antagonist", "maoi"}
