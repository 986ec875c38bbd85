"""The CarePlan aggregate: one patient's medication management, as events.

Public methods are the clinical commands: they check the rules of
``domain.safety`` and then trigger an event. Each event's ``apply`` only assigns
state, because it re-runs on every replay. The aggregate is assembled from
parts, one module each: ``prescribing``, ``switching``, ``follow_ups``,
``monitoring``, ``record_keeping``; this module holds the
plan itself (opening, evaluations).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from domain.allergies import code_allergies, uncoded_findings
from domain.checks import Checks
from domain.errors import CarePlanNotFound, InvalidValue
from domain.follow_ups import FollowUp, FollowUps
from domain.formulary import Formulary, default_formulary
from domain.monitoring import Monitoring
from domain.monitoring_plan import RequiredMonitoring
from domain.plan_part import PlanEvent, PlanPart
from domain.prescribing import Prescribing, Prescription
from domain.reassessment import Reassessment
from domain.record_keeping import RecordKeeping
from domain.review import Reviewing
from domain.safety import Finding
from domain.stopping import Stopping
from domain.switching import Switching
from domain.terminology import DiagnosisCodes, coded
from domain.values import (
    Actor,
    CommandContext,
    Diagnosis,
    Evaluation,
    Functioning,
    require_identifier,
)


class CarePlan(
    Checks,
    Reassessment,
    Reviewing,
    Switching,
    Stopping,
    Prescribing,
    RequiredMonitoring,
    FollowUps,
    Monitoring,
    RecordKeeping,
    PlanPart,
    Aggregate,
):
    """One patient's psychiatric medication care plan."""

    class Event(PlanEvent):
        """The base of every CarePlan event (see ``PlanEvent``)."""

    class CarePlanOpened(Event, Aggregate.Created):
        class_version = 2
        patient_id: str
        birth_date: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 records the birth date, needed for age-specific maxima and follow-up."""
            state["birth_date"] = None

    class EvaluationRecorded(Event):
        class_version = 4
        kind: str
        modality: str
        diagnoses: list[Diagnosis]
        symptoms: list[str]
        current_medications: list[str]
        supplements: list[str]
        allergies: list[str]
        duration: str | None
        functional_impact: str | None
        history: str | None
        sleep: str | None
        stress: str | None
        substance_use: str | None
        conditions: list[str]
        resolved_conditions: list[str]
        weight_kg: Decimal | None
        birth_date: date | None
        allergy_codes: list[str]
        functioning: Functioning | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 records conditions that change dosing (hepatic impairment, …)."""
            state["conditions"] = []

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """v3 records conditions that have ended (a pregnancy, a hepatic impairment
            that resolved; before it, a condition once recorded never cleared) and the
            body weight, for maxima per kilogram."""
            state["resolved_conditions"] = []
            state["weight_kg"] = None

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """v4 may supply the birth date a plan was opened without, and codes the
            allergies against the formulary (drug, class) so prescriptions are checked
            against them, and records functioning in structured form (work or school,
            relationships, daily tasks); before it allergies were text only and checked
            against nothing, and functional impact was free text."""
            state["birth_date"] = None
            state["allergy_codes"] = []
            state["functioning"] = None

        def apply(self, aggregate: Any) -> None:
            aggregate.evaluations.append((self.kind, self.occurred_at, self.modality))
            aggregate.diagnoses = list(self.diagnoses)
            aggregate.current_medications = list(self.current_medications)
            aggregate.conditions |= set(self.conditions)
            aggregate.conditions -= set(self.resolved_conditions)
            if self.weight_kg is not None:
                aggregate.weight_kg = self.weight_kg
            if self.birth_date is not None:
                aggregate.birth_date = self.birth_date
            aggregate.allergies |= set(self.allergy_codes)

    def __init__(
        self,
        patient_id: str,
        birth_date: date | None,
        actor: Actor,
        occurred_at: datetime,
        correlation_id: str | None,
    ) -> None:
        self.patient_id = patient_id
        self.birth_date = birth_date
        self.conditions: set[str] = set()
        self.weight_kg: Decimal | None = None
        #: Allergies coded against the formulary (``drug:…``, ``class:…``), ever recorded.
        self.allergies: set[str] = set()
        self.current_medications: list[str] = []
        self.pending_acknowledgements: dict[tuple[str, str], Finding] = {}
        self.acknowledged_warnings: dict[tuple[str, str], Finding] = {}
        #: Every acknowledgement as given (subject, code, justification, by, at), for
        #: auditors: a replay answers with them without reading every event again.
        self.acknowledgement_log: list[tuple[str, str, str, str, datetime]] = []
        self.opened_by = actor
        self.opened_at = occurred_at
        self.status = "open"
        self.evaluations: list[tuple[str, datetime, str]] = []
        self.diagnoses: list[Diagnosis] = []
        self.prescriptions: dict[str, Prescription] = {}
        self.follow_ups: dict[str, FollowUp] = {}
        self._init_state()

    # -- commands -------------------------------------------------------------

    @classmethod
    def open(cls, patient_id: str, ctx: CommandContext, birth_date: date | None = None) -> CarePlan:
        """Open a plan for a patient: the container of all their medication care."""
        patient_id = require_identifier(patient_id, "patient.invalid", "Patient id")
        _check_birth_date(birth_date, ctx)
        return cls._create(
            cls.CarePlanOpened,
            id=uuid4(),
            patient_id=patient_id,
            birth_date=birth_date,
            actor=ctx.actor,
            occurred_at=ctx.occurred_at,
            correlation_id=ctx.correlation_id,
        )

    def record_evaluation(
        self,
        evaluation: Evaluation,
        ctx: CommandContext,
        formulary: Formulary | None = None,
        codes: DiagnosisCodes | None = None,
    ) -> Reviewed:
        """Record what the prescriber assessed; an initial one must precede prescribing.

        Diagnoses are checked against their code system (with ``codes``, the ICD-10-CM
        set), allergies coded against the formulary. The prescriptions already taken are
        judged again against what the evaluation found (see ``domain.review``); what
        it makes unsafe is returned per prescription and waits for acknowledgement,
        with the allergies that could not be coded.
        """
        formulary = formulary or default_formulary()
        diagnoses = coded(evaluation.diagnoses, codes) if codes else evaluation.diagnoses
        _check_birth_date(evaluation.birth_date, ctx)
        allergy_codes, uncoded = code_allergies(evaluation.allergies, formulary)
        self._record(
            self.EvaluationRecorded,
            ctx,
            kind=evaluation.kind,
            modality=evaluation.modality,
            diagnoses=list(diagnoses),
            symptoms=list(evaluation.symptoms),
            current_medications=list(evaluation.current_medications),
            supplements=list(evaluation.supplements),
            allergies=list(evaluation.allergies),
            duration=evaluation.duration,
            functional_impact=evaluation.functional_impact,
            history=evaluation.history,
            sleep=evaluation.sleep,
            stress=evaluation.stress,
            substance_use=evaluation.substance_use,
            conditions=sorted(evaluation.conditions),
            resolved_conditions=sorted(evaluation.resolved_conditions),
            weight_kg=evaluation.weight_kg,
            birth_date=evaluation.birth_date,
            allergy_codes=allergy_codes,
            functioning=evaluation.functioning,
        )
        flagged = self.review_standing_prescriptions(formulary, ctx, self.version)
        return Reviewed(flagged, uncoded_findings(uncoded))

    # -- queries --------------------------------------------------------------

    @property
    def has_initial_evaluation(self) -> bool:
        return any(kind == "initial" for kind, _, _ in self.evaluations)

    def evaluated_by(self, moment: datetime) -> bool:
        """Was an initial evaluation done (in clinical time) by this moment?"""
        return any(kind == "initial" and at <= moment for kind, at, _ in self.evaluations)


@dataclass(frozen=True)
class Reviewed:
    """What an evaluation answers: standing prescriptions it made unsafe, by id, and
    what it could not code (an allergy no prescription can be checked against)."""

    flagged: dict[str, list[Finding]]
    warnings: list[Finding]


def _check_birth_date(birth_date: date | None, ctx: CommandContext) -> None:
    if birth_date is not None and not date(1900, 1, 1) <= birth_date <= ctx.occurred_at.date():
        raise InvalidValue("patient.birth_date_implausible", "The birth date is implausible.")


def canonical_plan_id(value: str) -> str:
    """One spelling per plan (upper case, braces, ``urn:uuid:``, bare hex all name the
    same one), so checks and searches by plan id never miss another spelling; text
    that is no UUID stays as it is (it names no plan, and matches nothing)."""
    try:
        return str(UUID(value))
    except ValueError:
        return value


def care_plan_id(value: str | UUID) -> UUID:
    """Parse a care-plan id; a string that is no UUID names no plan that exists."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise CarePlanNotFound(value) from None
