"""Monitoring between visits and at them: side effects, adherence, rating-scale
measurements and lab results.

Each is recorded as it is learned, by phone, at a visit or from the laboratory,
not only when a follow-up is completed. What a value means (a band, a flag, a
finding that needs attention today) is judged once, when it is recorded, and
stored with it: replaying history must not re-judge it by today's rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from domain.errors import InvalidValue, PrescriptionNotFound, RuleViolation
from domain.follow_ups import FollowUp
from domain.formulary import Formulary
from domain.labs import LAB_TESTS, critical_findings, read_lab_result
from domain.outcome_rules import ScorePoint, prompt_finding
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescription
from domain.safety import Finding
from domain.scales import scored_measurement
from domain.values import (
    EARLIEST_CLINICAL_TIME,
    CommandContext,
    ReviewPrompt,
    require_choice,
    require_text,
)

SIDE_EFFECT_SEVERITIES = frozenset({"mild", "moderate", "severe", "life_threatening"})
# What was done about it; changing the prescription itself is a prescribing command.
SIDE_EFFECT_ACTIONS = frozenset(
    {"none", "monitor", "dose_reduced", "held", "discontinued", "treated"}
)
ADHERENCE = frozenset(
    {"taking_as_prescribed", "missed_some_doses", "stopped", "taking_more", "unknown"}
)
# Measurements that are themselves a required check (monitoring_plan.OFFSETS).
MEASUREMENT_CHECKS = {"AIMS": "aims"}


@dataclass
class SideEffect:
    """A side effect the patient reported (state, rebuilt from events)."""

    side_effect_id: str
    prescription_id: str | None
    description: str
    severity: str
    action: str
    reported_at: datetime


@dataclass
class Score:
    """A rating-scale measurement taken outside a visit (state, rebuilt from events)."""

    measurement_id: str
    instrument: str
    total: int
    band: str | None
    urgent: bool
    taken_at: datetime
    version: int


@dataclass
class LabResult:
    """A lab result or vital sign (state, rebuilt from events)."""

    lab_result_id: str
    test: str
    value: Decimal
    unit: str
    flag: str | None
    collected_at: datetime
    version: int


class Monitoring(PlanPart):
    """The monitoring part of the care plan."""

    prescriptions: dict[str, Prescription]
    follow_ups: dict[str, FollowUp]
    entries_in_error: dict[int, str]

    class SideEffectReported(PlanEvent):
        side_effect_id: str
        prescription_id: str | None
        description: str
        severity: str
        action: str

        def apply(self, aggregate: Any) -> None:
            aggregate.side_effects[self.side_effect_id] = SideEffect(
                side_effect_id=self.side_effect_id,
                prescription_id=self.prescription_id,
                description=self.description,
                severity=self.severity,
                action=self.action,
                reported_at=self.occurred_at,
            )

    class AdherenceRecorded(PlanEvent):
        prescription_id: str | None
        adherence: str
        note: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.adherence[self.prescription_id] = self.adherence

    class MeasurementRecorded(PlanEvent):
        class_version = 2
        measurement_id: str
        instrument: str
        total: int
        items: list[int]
        band: str | None
        urgent: bool
        findings: list[Finding]
        prompts: list[ReviewPrompt]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 keeps the findings answered (urgent ones, and a PHQ-9 item 9 left
            unknown) and what the score says about each medication taken; v1 kept only
            whether it was urgent."""
            state["findings"] = []
            state["prompts"] = []

        def apply(self, aggregate: Any) -> None:
            aggregate.scores[self.measurement_id] = Score(
                measurement_id=self.measurement_id,
                instrument=self.instrument,
                total=self.total,
                band=self.band,
                urgent=self.urgent,
                taken_at=self.occurred_at,
                version=self.originator_version,
            )

    class LabResultRecorded(PlanEvent):
        lab_result_id: str
        test: str
        value: Decimal
        unit: str
        reference_low: Decimal | None
        reference_high: Decimal | None
        reference_source: str | None
        flag: str | None
        collected_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.lab_results[self.lab_result_id] = LabResult(
                lab_result_id=self.lab_result_id,
                test=self.test,
                value=self.value,
                unit=self.unit,
                flag=self.flag,
                collected_at=self.collected_at,
                version=self.originator_version,
            )

    def _init_state(self) -> None:
        super()._init_state()
        self.side_effects: dict[str, SideEffect] = {}
        self.adherence: dict[str | None, str] = {}  # the latest, per prescription (None: overall)
        self.scores: dict[str, Score] = {}
        self.lab_results: dict[str, LabResult] = {}

    # -- commands -------------------------------------------------------------

    def report_side_effect(
        self,
        description: str,
        severity: str,
        action: str,
        ctx: CommandContext,
        *,
        prescription_id: str | None = None,
    ) -> str:
        """Record a side effect the patient reports, how bad it is and what was done."""
        description = require_text(description, "side_effect.description_required", "Side effect")
        require_choice(severity, SIDE_EFFECT_SEVERITIES, "side_effect.unknown_severity", "severity")
        require_choice(action, SIDE_EFFECT_ACTIONS, "side_effect.unknown_action", "action")
        if prescription_id is not None:
            _require_not_in_error(self._prescription(prescription_id))
        side_effect_id = str(uuid4())
        self._record(
            self.SideEffectReported,
            ctx,
            side_effect_id=side_effect_id,
            prescription_id=prescription_id,
            description=description,
            severity=severity,
            action=action,
        )
        return side_effect_id

    def record_adherence(
        self,
        adherence: str,
        ctx: CommandContext,
        *,
        prescription_id: str | None = None,
        note: str | None = None,
    ) -> None:
        """Record whether the patient takes a medication (or all of them) as prescribed."""
        require_choice(adherence, ADHERENCE, "adherence.unknown", "adherence")
        note = require_text(note, "adherence.invalid", "Note") if note and note.strip() else None
        if prescription_id is not None:
            _require_taken_now(self._prescription(prescription_id))
        self._record(
            self.AdherenceRecorded,
            ctx,
            prescription_id=prescription_id,
            adherence=adherence,
            note=note,
        )

    def record_measurement(
        self,
        instrument: str,
        ctx: CommandContext,
        *,
        total: int | None = None,
        items: Sequence[int] = (),
        formulary: Formulary | None = None,
    ) -> tuple[str, list[Finding]]:
        """Record a rating scale outside a visit; returns what needs attention today
        (urgent), what could not be judged (a PHQ-9 item 9 left unknown) and what the
        score says about the medications taken (no improvement, a response lost)."""
        scored = scored_measurement(instrument, total, items)
        point = ScorePoint(scored.instrument, scored.total, ctx.occurred_at)
        prompts = self.review_prompts([point], formulary)  # type: ignore[attr-defined]
        measurement_id = str(uuid4())
        self._record(
            self.MeasurementRecorded,
            ctx,
            measurement_id=measurement_id,
            instrument=scored.instrument,
            total=scored.total,
            items=list(scored.items),
            band=scored.band,
            urgent=bool(scored.urgent),
            findings=scored.findings,
            prompts=prompts,
        )
        return measurement_id, scored.findings + [prompt_finding(p) for p in prompts]

    def record_lab_result(
        self,
        test: str,
        value: Decimal,
        unit: str,
        collected_at: datetime,
        ctx: CommandContext,
        *,
        reference_low: Decimal | None = None,
        reference_high: Decimal | None = None,
    ) -> tuple[str, list[Finding]]:
        """Record a lab result or vital sign, flagged against its reference range; a
        critical value is returned as an urgent finding.
        """
        conditions = frozenset(getattr(self, "conditions", ()))
        reading = read_lab_result(test, value, unit, reference_low, reference_high, conditions)
        collected_at = _collection_time(collected_at, ctx)
        lab_result_id = str(uuid4())
        self._record(
            self.LabResultRecorded,
            ctx,
            lab_result_id=lab_result_id,
            test=reading.test,
            value=reading.value,
            unit=reading.unit,
            reference_low=reading.reference.low,
            reference_high=reading.reference.high,
            reference_source=reading.reference.source,
            flag=reading.flag,
            collected_at=collected_at,
        )
        return lab_result_id, critical_findings(reading)

    # -- queries --------------------------------------------------------------

    @property
    def score_history(self) -> list[ScorePoint]:
        """Every rating-scale score of the plan, outside visits and at them, in time
        order; entries marked in error no longer count."""
        in_error = getattr(self, "entries_in_error", {})
        points = [
            ScorePoint(s.instrument, s.total, s.taken_at)
            for s in self.scores.values()
            if s.version not in in_error
        ]
        points += [
            ScorePoint(m.instrument, m.total, f.completed_at)
            for f in self.follow_ups.values()
            if f.completed_at is not None and f.status == "completed"
            for m in f.measurements
        ]
        return sorted(points, key=lambda point: point.taken_at)

    @property
    def lab_dates(self) -> dict[str, list[date]]:
        """When each required check was done (read by ``RequiredMonitoring``): lab
        results by the day they were collected, AIMS by the day it was scored, clinical
        checks (``domain.checks``) by the day they were done.
        Entries marked in error (by their version) no longer count as done.
        """
        done: dict[str, list[date]] = {}
        in_error = getattr(self, "entries_in_error", {})
        for result in self.lab_results.values():
            if result.version not in in_error:
                check = LAB_TESTS[result.test].monitors
                done.setdefault(check, []).append(result.collected_at.date())
        scored = [
            (s.instrument, s.taken_at) for s in self.scores.values() if s.version not in in_error
        ] + [
            (m.instrument, f.completed_at)
            for f in self.follow_ups.values()
            if f.completed_at is not None
            for m in f.measurements
        ]
        for instrument, taken_at in scored:
            if instrument in MEASUREMENT_CHECKS:
                done.setdefault(MEASUREMENT_CHECKS[instrument], []).append(taken_at.date())
        for check in getattr(self, "checks", {}).values():  # rash, pregnancy status
            if check.version not in in_error:
                done.setdefault(check.check, []).append(check.checked_at.date())
        return done

    def _prescription(self, prescription_id: str) -> Prescription:
        try:
            return self.prescriptions[prescription_id]
        except KeyError:
            raise PrescriptionNotFound(prescription_id) from None


def _require_not_in_error(rx: Prescription) -> None:
    """A prescription marked in error was never taken: nothing can be attributed to it."""
    if rx.status == "entered_in_error":
        raise RuleViolation(
            "prescription.entered_in_error",
            f"Prescription {rx.prescription_id} was marked in error; it was never taken.",
        )


def _require_taken_now(rx: Prescription) -> None:
    """Adherence is about a medication the patient is meant to be taking now."""
    if not rx.is_active:
        raise RuleViolation(
            "adherence.prescription_not_active",
            f"Prescription {rx.prescription_id} is {rx.status}; adherence is recorded "
            "for active ones.",
        )


def _collection_time(collected_at: datetime, ctx: CommandContext) -> datetime:
    """A sample is collected before its result is recorded (it may predate the plan:
    labs often come with the referral)."""
    if collected_at.tzinfo is None:
        raise InvalidValue("time.naive", "Clinical times must carry a time zone.")
    if collected_at < EARLIEST_CLINICAL_TIME:
        raise InvalidValue("time.implausible", "A sample cannot have been collected before 1900.")
    if collected_at > ctx.occurred_at:
        raise InvalidValue(
            "lab.collected_after_result",
            f"A sample collected at {collected_at.isoformat()} cannot have a result recorded "
            f"at {ctx.occurred_at.isoformat()}.",
        )
    return collected_at.astimezone(UTC)
