"""When a medication's benefit-risk review comes due: the first at the end of the
drug's expected response window, then at an interval by class (controlled
substances more often), each with its source.
"""

from __future__ import annotations

from datetime import date, timedelta

from domain.formulary import Drug
from domain.outcome_rules import APA_MDD

#: Days from a start to the first benefit-risk review (the expected response window),
#: by what the drug is used for, with the source.
RESPONSE_WINDOWS: dict[str, tuple[int, str]] = {
    "antidepressant": (56, f"{APA_MDD} (response judged after 4-8 weeks)"),
    "antipsychotic": (
        42,
        "APA Practice Guideline for the Treatment of Patients With Schizophrenia, 3rd ed., "
        "2020; Careplan default of 6 weeks for a trial at an adequate dose",
    ),
    "mood stabiliser": (
        42,
        "APA Practice Guideline for the Treatment of Patients With Bipolar Disorder, 2nd ed., "
        "2002; Careplan default of 6 weeks",
    ),
    "ADHD": (
        28,
        "AAP Clinical Practice Guideline for ADHD, Pediatrics 2019;144:e20192528 (titrate to "
        "benefit with monthly review)",
    ),
    "anxiety and sleep": (
        28,
        "Benzodiazepine and hypnotic US prescribing information (short-term use; reassess "
        "the need early and periodically); FDA Drug Safety Communication, 23 September 2020",
    ),
    "substance use": (
        28,
        "SAMHSA TIP 63, Medications for Opioid Use Disorder, 2021 (frequent early visits)",
    ),
    "other": (56, "Careplan default: eight weeks"),
}
#: Days between later reviews: controlled substances more often.
REVIEW_INTERVAL = (182, f"{APA_MDD} (maintenance: periodic reassessment); Careplan default")
CONTROLLED_REVIEW_INTERVAL = (
    91,
    "21 CFR 1306.12(b) (Schedule II: at most a 90-day supply); Careplan default of 90 days "
    "for every controlled substance",
)
#: For prescriptions recorded before review dates were kept (a stored v3 event).
UNRECORDED_WINDOW = 56


def first_review_due(drug: Drug | None, started: date) -> date:
    area = drug.area if drug is not None else "other"
    days, _ = RESPONSE_WINDOWS.get(area, RESPONSE_WINDOWS["other"])
    return started + timedelta(days=days)


def next_review_due(drug: Drug | None, reviewed: date) -> date:
    controlled = drug is not None and drug.is_controlled
    days, _ = CONTROLLED_REVIEW_INTERVAL if controlled else REVIEW_INTERVAL
    return reviewed + timedelta(days=days)


def recorded_due_on(review_due_on: date | None, started: date) -> date:
    """A prescription's first review date as recorded, or for one recorded before
    review dates were kept, eight weeks after its start."""
    return review_due_on or started + timedelta(days=UNRECORDED_WINDOW)
