"""Measurement-based care: what the scores say about a prescription, and whether the
patient is stable enough for visits to grow further apart.

Pure functions over a plan's scores (instrument, total, when). A drug is judged on
the scale of the condition it treats: PHQ-9 for depression, GAD-7 for anxiety,
PCL-5 for PTSD, read from its indication (an ICD-10-CM code or words), else from
what the drug is for (an antidepressant: PHQ-9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from domain.formulary import Drug
from domain.safety import Finding, daily_amount, sentence
from domain.scales import SCALES, response
from domain.values import ReviewPrompt

APA_MDD = (
    "APA Practice Guideline for the Treatment of Patients With Major Depressive Disorder, "
    "3rd ed., 2010"
)
#: The smallest change a patient notices, per instrument, with its source.
MEANINGFUL_CHANGE: dict[str, tuple[int, str]] = {
    "PHQ-9": (5, "Löwe B et al. Med Care 2004;42:1194-201 (PHQ-9: 5 points is meaningful)"),
    "GAD-7": (4, "Toussaint A et al. J Affect Disord 2020;265:395-401 (GAD-7: 4 points)"),
    "PCL-5": (10, "National Center for PTSD, PCL-5 (10 points: clinically meaningful change)"),
}
#: An adequate trial: an effective dose (at least the label's usual starting dose),
#: unchanged for this many days.
ADEQUATE_TRIAL_DAYS = 42
TRIAL_SOURCE = f"{APA_MDD} (4-8 weeks at an adequate dose before judging a trial)"
#: The continuation phase: remission held this long before discussing a taper.
CONTINUATION_DAYS = 182
CONTINUATION_SOURCE = f"{APA_MDD} (continuation phase of 4-9 months after remission)"
#: Response sustained this long (and nothing waiting): the patient is stable.
STABLE_DAYS = 28
STABLE_SOURCE = (
    f"{APA_MDD} (once response is maintained, visits may become less frequent); "
    "Careplan reading: response at two scores 4 weeks apart"
)
#: A score taken up to this many days after a start still counts as its baseline.
BASELINE_GRACE_DAYS = 7

_BY_INDICATION = (
    (re.compile(r"\bF43\.1|ptsd|post-?traumatic", re.I), "PCL-5"),
    (re.compile(r"\bF41\.1|\bgad\b|generali[sz]ed anxiety|\banxiety", re.I), "GAD-7"),
    (re.compile(r"\bF3[23]|depress|\bmdd\b", re.I), "PHQ-9"),
)


@dataclass(frozen=True)
class ScorePoint:
    instrument: str
    total: int
    taken_at: datetime


def prompt_finding(prompt: ReviewPrompt) -> Finding:
    """A prompt as the finding it answers with (a warning to read, not to acknowledge)."""
    return Finding(prompt.code, "warn", prompt.message, prompt.source)


def instrument_for(indication: str, drug: Drug | None) -> str | None:
    """The scale of the condition a prescription treats, if there is one."""
    for pattern, instrument in _BY_INDICATION:
        if pattern.search(indication):
            return instrument
    return "PHQ-9" if drug is not None and drug.area == "antidepressant" else None


def series(history: Sequence[ScorePoint], instrument: str) -> list[ScorePoint]:
    return sorted((s for s in history if s.instrument == instrument), key=lambda s: s.taken_at)


def baseline_of(scores: Sequence[ScorePoint], started: datetime) -> ScorePoint | None:
    """The last score before the start, or else the first within a week of it."""
    before = [s for s in scores if s.taken_at <= started]
    if before:
        return before[-1]
    soon = [s for s in scores if (s.taken_at - started).days <= BASELINE_GRACE_DAYS]
    return soon[0] if soon else None


@dataclass(frozen=True)
class Course:
    """What the prompts need of one prescription."""

    prescription_id: str
    drug: Drug
    indication: str
    amount: Decimal
    frequency: str
    started_at: datetime
    unchanged_since: datetime


def prompts(course: Course, history: Sequence[ScorePoint]) -> list[Finding]:
    """No meaningful improvement after an adequate trial; remission held for the
    continuation phase; a response lost. Each names what to consider."""
    instrument = instrument_for(course.indication, course.drug)
    if instrument is None:
        return []
    scores = series(history, instrument)
    baseline = baseline_of(scores, course.started_at)
    later = [s for s in scores if baseline is not None and s.taken_at > baseline.taken_at]
    if baseline is None or not later:
        return []
    return (
        _no_improvement(course, instrument, baseline, later[-1])
        + _response_lost(course, instrument, baseline, later)
        + _sustained_remission(course, instrument, later)
    )


def _no_improvement(
    course: Course, instrument: str, baseline: ScorePoint, latest: ScorePoint
) -> list[Finding]:
    change, change_source = MEANINGFUL_CHANGE.get(instrument, (0, ""))
    drug = course.drug
    start = drug.usual_start
    effective = daily_amount(start, drug.usual_start_frequency) if start else None
    daily = daily_amount(course.amount, course.frequency)
    days = (latest.taken_at - course.unchanged_since).days
    if not change or effective is None or daily < effective or days < ADEQUATE_TRIAL_DAYS:
        return []
    if baseline.total - latest.total >= change:
        return []
    return [
        Finding(
            "outcome.no_improvement",
            "warn",
            f"{instrument} is {latest.total}, against {baseline.total} at baseline, after "
            f"{days} days of {drug.name} {format(daily, 'f')} mg/day: no meaningful "
            f"improvement ({change} points or more) after an adequate trial; consider "
            "adjusting the dose, switching or adding a treatment.",
            f"{TRIAL_SOURCE}; {change_source}",
        )
    ]


def _response_lost(
    course: Course, instrument: str, baseline: ScorePoint, later: list[ScorePoint]
) -> list[Finding]:
    change, change_source = MEANINGFUL_CHANGE.get(instrument, (0, ""))
    latest = later[-1]
    best = min(s.total for s in later)
    responded = any(response(baseline.total, s.total) for s in later[:-1])
    if not change or not responded or response(baseline.total, latest.total):
        return []
    if latest.total - best < change:
        return []
    return [
        Finding(
            "outcome.response_lost",
            "warn",
            f"{instrument} has risen to {latest.total} from {best} after a response on "
            f"{course.drug.name}: the response is lost; look for a cause (adherence, stress, "
            "a new medication) and review the treatment.",
            f"{APA_MDD} (relapse during continuation treatment); {change_source}",
        )
    ]


def _sustained_remission(course: Course, instrument: str, later: list[ScorePoint]) -> list[Finding]:
    threshold = SCALES[instrument].remission_below
    if threshold is None:
        return []
    held = []
    for score in reversed(later):
        if score.total >= threshold:
            break
        held.append(score)
    if len(held) < 2 or (held[0].taken_at - held[-1].taken_at).days < CONTINUATION_DAYS:
        return []
    return [
        Finding(
            "outcome.sustained_remission",
            "warn",
            f"{instrument} has been below {threshold} for "
            f"{(held[0].taken_at - held[-1].taken_at).days} days on {course.drug.name}: "
            "discuss with the patient whether to continue it or taper it.",
            CONTINUATION_SOURCE,
        )
    ]


def is_stable(history: Sequence[ScorePoint], pending_warnings: int) -> bool:
    """Stable: nothing waits for acknowledgement, and a symptom scale shows a response
    at its last two scores, at least four weeks apart."""
    if pending_warnings:
        return False
    for instrument in MEANINGFUL_CHANGE:
        scores = series(history, instrument)
        if len(scores) < 3 or scores[0].total == 0:
            continue
        baseline, last_two = scores[0], scores[-2:]
        sustained = all(response(baseline.total, s.total) for s in last_two)
        if sustained and (last_two[1].taken_at - last_two[0].taken_at).days >= STABLE_DAYS:
            return True
    return False


STABLE_MAX_DAYS = 91
UNSTABLE_MAX_DAYS = 28


def visit_spacing(
    stable: bool, taking_medication: bool, planned_on: date, due_on: date
) -> list[Finding]:
    """Visits grow further apart once the patient is stable (up to three months);
    while not stable, a long interval is a warning."""
    if not taking_medication:
        return []
    limit = STABLE_MAX_DAYS if stable else UNSTABLE_MAX_DAYS
    days = (due_on - planned_on).days
    if days <= limit:
        return []
    why = (
        "even a stable patient on medication is seen at least every three months"
        if stable
        else "the patient is not yet stable (no sustained response on a symptom scale, or "
        f"warnings waiting), so plan it within {UNSTABLE_MAX_DAYS} days"
    )
    return [
        Finding(
            "follow_up.interval_too_long",
            "warn",
            sentence(f"the next visit is {days} days away; {why}."),
            STABLE_SOURCE,
        )
    ]
