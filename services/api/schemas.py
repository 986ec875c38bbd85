"""Request and response bodies: the HTTP contract clinical apps code against.

Requests are strict (unknown fields refused, strings trimmed and bounded); the
domain validates again, so no route can smuggle a bad value into an event.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from domain.values import (
    CARE_SETTINGS,
    CONDITIONS,
    DISCONTINUATION_REASONS,
    DOSE_UNITS,
    FORMS,
    FREQUENCIES,
    LABELLED_INDICATIONS,
    MODALITIES,
    ROUTES,
    SWITCH_STRATEGIES,
)

# No control characters (NUL cannot even be stored in PostgreSQL); tabs and newlines are fine.
NO_CONTROL_CHARACTERS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=2000, pattern=NO_CONTROL_CHARACTERS
    ),
]
ShortText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=NO_CONTROL_CHARACTERS
    ),
]


def _in_utc(moment: datetime) -> datetime:
    """An instant must have a UTC time (0001-01-01T00:00+14:00 has none): 422, not 500."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


#: A time with a zone that exists in UTC, for bodies and queries alike.
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]
# The vocabularies are the domain's (domain/values.py); listed here they become enums in OpenAPI.
Modality = Literal[tuple(sorted(MODALITIES))]  # type: ignore[valid-type]
Unit = Literal[tuple(sorted(DOSE_UNITS))]  # type: ignore[valid-type]
Frequency = Literal[tuple(sorted(FREQUENCIES))]  # type: ignore[valid-type]
Route = Literal[tuple(sorted(ROUTES))]  # type: ignore[valid-type]
Condition = Literal[tuple(sorted(CONDITIONS))]  # type: ignore[valid-type]
Form = Literal[tuple(sorted(FORMS))]  # type: ignore[valid-type]
LabelledIndication = Literal[tuple(sorted(LABELLED_INDICATIONS))]  # type: ignore[valid-type]
CareSetting = Literal[tuple(sorted(CARE_SETTINGS))]  # type: ignore[valid-type]
DiscontinuationReason = Literal[tuple(sorted(DISCONTINUATION_REASONS))]  # type: ignore[valid-type]
SwitchStrategy = Literal[tuple(sorted(SWITCH_STRATEGIES))]  # type: ignore[valid-type]
Amount = Annotated[Decimal, Field(gt=0, le=100000, max_digits=12, decimal_places=4)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Command(Strict):
    occurred_at: Instant | None = Field(
        default=None,
        description="Clinical time, when it differs from now (a late entry). Needs a time zone.",
    )


class DoseIn(Strict):
    amount: Amount = Field(description="A number or a decimal string; returned as a string.")
    unit: Unit


class DoseOut(BaseModel):
    amount: str
    unit: str


class FollowUpIn(Strict):
    due_on: date
    modality: Modality = "in_person"
    purpose: ShortText = "medication review"


class DiagnosisIn(Strict):
    """A diagnosis coded in ICD-10-CM (the default) or SNOMED CT; an ICD-10-CM code
    unknown to the code set is refused (422 ``diagnosis.unknown_code``)."""

    code: ShortText = Field(examples=["F32.1"])
    display: ShortText | None = Field(
        default=None, description="Left out: the ICD-10-CM code set's own description."
    )
    system: Literal["http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct"] = (
        "http://hl7.org/fhir/sid/icd-10-cm"
    )


class OpenCarePlan(Command):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={"examples": [{"patient_id": "mrn-004217", "birth_date": "1988-04-02"}]},
    )

    patient_id: ShortText
    birth_date: date | None = Field(
        default=None, description="Needed for age-specific maxima (e.g. citalopram over 60)."
    )


class Acknowledgement(Strict):
    code: ShortText = Field(examples=["dose.above_usual_start"])
    justification: Text


FunctioningLevel = Literal["none", "mild", "moderate", "severe", "complete"]


class FunctioningIn(Strict):
    """How much problems limit each domain of life (ICF qualifiers)."""

    work_or_school: FunctioningLevel | None = None
    relationships: FunctioningLevel | None = None
    daily_tasks: FunctioningLevel | None = None


class RecordEvaluation(Command):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={
            "examples": [
                {
                    "kind": "initial",
                    "modality": "in_person",
                    "diagnoses": [
                        {"code": "F32.1", "display": "Major depressive disorder, moderate"}
                    ],
                    "symptoms": ["low mood", "anhedonia", "early waking"],
                    "current_medications": ["ibuprofen 400 mg as needed"],
                    "duration": "3 months",
                    "conditions": [],
                }
            ]
        },
    )

    kind: Literal["initial", "reassessment"]
    modality: Modality
    diagnoses: list[DiagnosisIn] = Field(max_length=50)
    symptoms: list[ShortText] = Field(default_factory=list, max_length=100)
    current_medications: list[ShortText] = Field(default_factory=list, max_length=100)
    supplements: list[ShortText] = Field(default_factory=list, max_length=100)
    allergies: list[ShortText] = Field(default_factory=list, max_length=100)
    duration: Text | None = None
    functional_impact: Text | None = None
    history: Text | None = None
    sleep: Text | None = None
    stress: Text | None = None
    substance_use: Text | None = None
    conditions: list[Condition] = Field(
        default_factory=list, description="Conditions that change dosing.", max_length=20
    )
    weight_kg: Decimal | None = Field(
        default=None, ge=Decimal("0.5"), le=400, description="For maxima per kilogram."
    )
    resolved_conditions: list[Condition] = Field(
        default_factory=list,
        description="Conditions recorded earlier that have ended (e.g. a pregnancy).",
        max_length=20,
    )
    birth_date: date | None = Field(
        default=None,
        description="The birth date, if the plan was opened without one (age rules need it).",
    )
    functioning: FunctioningIn | None = Field(
        default=None, description="Functional impact by domain, beside functional_impact."
    )


class UseIn(Strict):
    """How the drug is used, where the label's maximum depends on it (all optional)."""

    form: Form | None = Field(default=None, description="e.g. xl: bupropion XL up to 450 mg.")
    indication_code: LabelledIndication | None = Field(
        default=None, description="A labelled indication with its own maximum, e.g. ocd."
    )
    setting: CareSetting = "outpatient"


class DiscussionIn(Strict):
    """What was explained before the prescription, and the patient's decision."""

    options_considered: list[ShortText] = Field(
        min_length=1, max_length=20, examples=[["sertraline", "CBT", "watchful waiting"]]
    )
    expected_benefit: Text
    side_effects_discussed: list[ShortText] = Field(default_factory=list, max_length=30)
    timeline: Text = Field(examples=["several weeks before the full effect"])
    decision: Literal["agrees", "declines", "undecided"]
    decided_by: Literal["patient", "parent", "guardian", "healthcare_proxy"] = "patient"
    boxed_warning_discussed: bool = False
    monitoring_agreed: bool = Field(default=False, description="Clozapine: blood counts agreed.")
    controlled_substance_agreement: bool = Field(
        default=False, description="Stimulants, benzodiazepines: safe-use agreement recorded."
    )


class Prescribe(Command, UseIn):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={
            "examples": [
                {
                    "drug": "sertraline",
                    "dose": {"amount": "25", "unit": "mg"},
                    "frequency": "daily",
                    "route": "oral",
                    "indication": "F32.1 major depressive disorder",
                    "follow_up": {"due_on": "2026-12-10", "modality": "telehealth"},
                }
            ]
        },
    )

    drug: ShortText
    dose: DoseIn
    frequency: Frequency
    route: Route = "oral"
    indication: ShortText
    follow_up: FollowUpIn | None = None
    refills: int = Field(default=0, ge=0, le=11, description="Schedule II: none (21 CFR 1306.12).")
    acknowledgements: list[Acknowledgement] = Field(
        default_factory=list,
        max_length=20,
        description="Warnings this command raises, acknowledged with a justification.",
    )
    discussion: DiscussionIn | None = Field(
        default=None, description="Without it the prescription answers consent.not_recorded."
    )


class ChangeDose(Command):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={
            "examples": [
                {
                    "dose": {"amount": "50", "unit": "mg"},
                    "reason": "tolerating 25 mg; increase to the usual dose",
                    "follow_up": {"due_on": "2026-12-24", "modality": "in_person"},
                }
            ]
        },
    )

    dose: DoseIn
    reason: Text
    follow_up: FollowUpIn | None = None
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=20)


class AcknowledgeWarning(Command):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={
            "examples": [
                {
                    "subject_id": "3f0c8a8e-1d5e-4b8a-9a57-1f0f4d1f3e21",
                    "code": "dose.above_usual_start",
                    "justification": "responded to 50 mg before",
                }
            ]
        },
    )

    subject_id: ShortText = Field(description="The prescription the warning was raised on.")
    code: ShortText
    justification: Text


class Discontinue(Command):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={
            "examples": [
                {
                    "reason_code": "adverse_reaction",
                    "reason": "rash",
                    "acknowledgements": [
                        {
                            "code": "discontinuation.taper_required",
                            "justification": "rash: stop now",
                        }
                    ],
                }
            ]
        },
    )

    reason: Text
    reason_code: DiscontinuationReason = Field(
        default="other", description="Coded reason (FHIR MedicationRequest.statusReason)."
    )
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=20)


class TaperStepIn(Strict):
    starts_on: date
    dose: DoseIn


class StartTaper(Command):
    model_config = ConfigDict(  # merged with Strict's: unknown fields refused, text trimmed
        json_schema_extra={
            "examples": [
                {
                    "steps": [
                        {"starts_on": "2026-12-01", "dose": {"amount": "50", "unit": "mg"}},
                        {"starts_on": "2026-12-15", "dose": {"amount": "25", "unit": "mg"}},
                    ],
                    "reason": "remission for 9 months",
                }
            ]
        },
    )

    steps: list[TaperStepIn] = Field(min_length=1, max_length=52)
    reason: Text
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=20)


class Switch(Command, UseIn):
    strategy: SwitchStrategy
    reason: Text
    drug: ShortText
    dose: DoseIn
    frequency: Frequency
    route: Route = "oral"
    indication: ShortText
    follow_up: FollowUpIn | None = None
    taper: list[TaperStepIn] = Field(
        default_factory=list, max_length=52, description="Cross-taper: the old drug's steps."
    )
    washout_days: int = Field(default=0, ge=0, le=90, description="Washout: days off before.")
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=40)
    discussion: DiscussionIn | None = None


class ScheduleFollowUp(Command, FollowUpIn):
    acknowledgements: list[Acknowledgement] = Field(default_factory=list, max_length=5)


class MeasurementIn(Strict):
    """A rating scale taken at the visit: its total, its item scores, or both (they
    must agree); item scores wherever the instrument's licence allows them."""

    instrument: ShortText = Field(examples=["PHQ-9"])
    total: int | None = Field(default=None, ge=0, le=1000, description="Or give the items.")
    items: list[Annotated[int, Field(ge=0, le=10)]] = Field(
        default_factory=list,
        max_length=50,
        description="Item scores in form order (PHQ-9 item 9: thoughts of self-harm).",
    )


class CompleteFollowUp(Command):
    modality: Modality
    measurements: list[MeasurementIn] = Field(default_factory=list, max_length=20)
    side_effects: list[ShortText] = Field(default_factory=list, max_length=50)
    adherence: ShortText | None = None


class FindingOut(BaseModel):
    code: str
    severity: Literal["block", "warn"]
    message: str
    source: str
    acknowledged: bool


class PatientPlan(BaseModel):
    care_plan_id: str
    status: Literal["open", "closed"]


class PatientPlans(BaseModel):
    """A patient's plans: at most one open (``care_plan.already_open`` refuses a second)."""

    patient_id: str
    plans: list[PatientPlan]


class Opened(BaseModel):
    care_plan_id: str
    version: int


class Recorded(BaseModel):
    version: int


class FlaggedPrescription(BaseModel):
    """A prescription already taken that the evaluation made unsafe: each warning
    waits for acknowledgement (or a dose change)."""

    prescription_id: str
    warnings: list[FindingOut]


class EvaluationNotice(BaseModel):
    """What the evaluation could not code (an allergy no prescription can be checked
    against): said, never silent."""

    code: str
    severity: Literal["warn"]
    message: str
    source: str


class EvaluationRecordedOut(BaseModel):
    version: int
    flagged: list[FlaggedPrescription]
    warnings: list[EvaluationNotice] = Field(default_factory=list)


class Prescribed(BaseModel):
    prescription_id: str
    version: int
    warnings: list[FindingOut]


class Checked(BaseModel):
    """A command answered with the warnings it raised (block findings are 409s)."""

    version: int
    warnings: list[FindingOut]


class FollowUpScheduledOut(BaseModel):
    follow_up_id: str
    version: int
    warnings: list[FindingOut] = Field(
        default_factory=list, description="A visit too far off for a patient not yet stable."
    )


class PrescriptionOut(BaseModel):
    prescription_id: str
    drug: str
    dose: DoseOut
    frequency: str
    route: str
    indication: str
    status: str
    started_at: datetime
    prescriber: str


class PlanPrescriptionOut(PrescriptionOut):
    """On the plan itself: also how the drug is used, where the label's maximum
    depends on it."""

    form: str | None
    indication_code: str | None
    setting: str
    review_due_on: date | None = Field(description="When the benefit-risk review is due.")
    discussed: bool = Field(description="Whether what was discussed was recorded.")


class FollowUpOut(BaseModel):
    follow_up_id: str
    due_on: date
    modality: str
    purpose: str
    status: str
    prescription_id: str | None


class PendingAcknowledgement(BaseModel):
    subject_id: str
    code: str
    severity: str
    message: str
    source: str


class TreatmentDecisionView(BaseModel):
    decision_id: str
    decision: str
    reason: str
    alternatives: list[str]
    decided_at: datetime
    decided_by: str


class CarePlanOut(BaseModel):
    care_plan_id: str
    patient_id: str
    birth_date: date | None
    status: str
    version: int
    opened_at: datetime
    opened_by: str
    has_initial_evaluation: bool
    prescriptions: list[PlanPrescriptionOut]
    follow_ups: list[FollowUpOut]
    pending_acknowledgements: list[PendingAcknowledgement]
    treatment_decisions: list[TreatmentDecisionView] = Field(default_factory=list)


class NextFollowUp(BaseModel):
    follow_up_id: str
    due_on: date
    modality: str


class MedicationOut(PrescriptionOut):
    """A medication taken now: ``status`` is ``active`` or ``tapering``."""

    last_changed_at: datetime
    last_changed_by: str
    next_follow_up: NextFollowUp | None = Field(
        description="The soonest pending follow-up for this drug or for the whole plan."
    )
    pending_acknowledgements: int = Field(
        description="Safety warnings on this prescription still waiting for acknowledgement."
    )
    review_due_on: date | None = Field(
        default=None, description="When its benefit-risk review is due."
    )
    review_overdue: bool | None = Field(
        default=None, description="The review's date has passed (today, or as_of)."
    )


class Medications(BaseModel):
    care_plan_id: str
    medications: list[MedicationOut]
    as_of: datetime | None = Field(
        default=None, description="Asked with as_of: the recording time answered for."
    )
    version: int | None = Field(
        default=None, description="Asked with as_of: the plan's version at that time."
    )


class ActorOut(BaseModel):
    id: str
    role: str
    name: str | None = None
    supervisor_id: str | None = None
    profession: str | None = None


class HistoryEntry(BaseModel):
    version: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    actor: ActorOut
    correlation_id: str | None
    data: dict[str, object]


class History(BaseModel):
    care_plan_id: str
    events: list[HistoryEntry]
    as_of: datetime | None = Field(
        default=None, description="Asked with as_of: the recording time answered for."
    )


class AuditEntry(BaseModel):
    care_plan_id: str
    version: int
    type: str
    actor: ActorOut
    occurred_at: datetime
    recorded_at: datetime
    summary: str
    in_error: str | None = Field(
        default=None, description="Why the entry was marked in error, if it was; it stays listed."
    )


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None


class Health(BaseModel):
    status: Literal["ok"]
